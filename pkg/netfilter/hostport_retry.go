package netfilter

import (
	"context"
	"errors"
	"syscall"
	"time"

	"sigs.k8s.io/knftables"
)

// hpAttempts bounds the read-plan-write loop of one host-port operation.
const hpAttempts = 5

// hpRetry runs fn until it succeeds, fails with an error that a fresh
// read cannot fix, or hpAttempts runs out. Element races (another ADD or
// DEL changed the same keys between our read and our write) fail the whole
// transaction with ENOENT or EEXIST and nothing applied, so trying again
// from a new read is safe.
func hpRetry(ctx context.Context, fn func() error) error {
	for i := 1; ; i++ {
		err := fn()
		if err == nil || i == hpAttempts || !hpTransient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(time.Duration(i) * 5 * time.Millisecond):
		}
	}
}

// hpTransient reports errors caused by concurrent writers.
func hpTransient(err error) bool {
	return knftables.IsNotFound(err) || knftables.IsAlreadyExists(err) ||
		errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EEXIST) ||
		errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR)
}
