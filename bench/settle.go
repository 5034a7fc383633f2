package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Settling: the kernel tears network namespaces down in the background
// (cleanup_net), in batches, under the RTNL lock that every ADD and DEL
// also takes. A scenario that starts while the previous one's hundreds of
// namespaces are still going away measures that teardown in its first
// pods, for both plugin sets. Before each scenario the run waits until the
// count of live network namespaces in the kernel has stopped falling.

// slabInfo is where the kernel counts its objects by cache; its
// net_namespace line counts every network namespace not yet freed.
var slabInfo = "/proc/slabinfo"

const (
	settlePoll    = 200 * time.Millisecond
	settleQuiet   = 5 // polls without change that count as settled
	settleTimeout = 60 * time.Second
)

// settle waits until the count of network namespaces the kernel holds has
// not changed for settleQuiet polls in a row, or settleTimeout has passed.
// It returns how long it waited and the count it settled at; without
// slabinfo (count -1) it returns at once.
func settle(ctx context.Context) (time.Duration, int, error) {
	start := time.Now()
	last, err := netnsObjects()
	if err != nil || last < 0 {
		return 0, -1, err
	}
	for quiet := 0; quiet < settleQuiet; {
		if time.Since(start) > settleTimeout {
			return time.Since(start), last, fmt.Errorf("network namespaces still changing after %s (%d now)", settleTimeout, last)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), last, context.Cause(ctx)
		case <-time.After(settlePoll):
		}
		n, err := netnsObjects()
		if err != nil {
			return time.Since(start), last, err
		}
		if n == last {
			quiet++
		} else {
			quiet, last = 0, n
		}
	}
	return time.Since(start), last, nil
}

// netnsObjects reads the active net_namespace objects from slabinfo; -1
// when the file or the line is missing (a kernel without it).
func netnsObjects() (int, error) {
	f, err := os.Open(slabInfo)
	if os.IsNotExist(err) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("read %s: %w", slabInfo, err)
	}
	defer f.Close()
	return parseNetnsObjects(f)
}

// parseNetnsObjects finds the net_namespace line of slabinfo and returns
// its first number (active objects), -1 without such a line.
func parseNetnsObjects(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "net_namespace" {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			return -1, fmt.Errorf("%s: net_namespace line %q: %w", slabInfo, sc.Text(), err)
		}
		return n, nil
	}
	return -1, sc.Err()
}
