package linkdel

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func itoa(i int) string { return strconv.Itoa(i) }

func TestWaitUnlistedHelperDied(t *testing.T) {
	exited := make(chan error, 1)
	exited <- errors.New("helper exit status 1")
	// Index 1 is lo in any namespace: it never goes away.
	start := time.Now()
	err := waitUnlisted(1, "lo", nil, exited)
	if err == nil {
		t.Fatal("waitUnlisted returned nil while the link is still there")
	}
	if time.Since(start) > time.Second {
		t.Errorf("waitUnlisted took %s after the helper died", time.Since(start))
	}
}
