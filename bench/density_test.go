package bench

import (
	"strings"
	"testing"
	"time"
)

func TestDensityLevels(t *testing.T) {
	for _, c := range []struct{ pods, low, high int }{
		{250, 10, 250}, {100, 10, 100}, {20, 10, 20}, {12, 6, 12}, {2, 1, 2}, {1, 1, 1},
	} {
		if low, high := densityLevels(c.pods); low != c.low || high != c.high {
			t.Errorf("densityLevels(%d) = %d, %d; want %d, %d", c.pods, low, high, c.low, c.high)
		}
	}
}

func TestDensityTables(t *testing.T) {
	d := func(v ...float64) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x * float64(time.Millisecond))
		}
		return out
	}
	var add, del [2][2][]time.Duration
	add[0] = [2][]time.Duration{d(4, 5, 6), d(10, 10, 10)} // 10 pods: ours, reference
	add[1] = [2][]time.Duration{d(5, 5, 5), d(15, 16, 14)} // 250 pods
	del[0] = [2][]time.Duration{d(2), d(8)}
	del[1] = [2][]time.Duration{nil, d(8)}
	var b strings.Builder
	densityTables(10, 250, add, del)[0].writeText(&b)
	out := b.String()
	requireLines(t, "table", out,
		"ADD with 10 pods              5.000  5.800  5.980          10.00  10.00  10.00      0.50x",
		"ADD with 250 pods             5.000  5.000  5.000          15.00  15.80  15.98      0.33x",
		"ADD growth, 250 / 10 pods     1.000                        1.500                        -",
		"DEL with 10 pods              2.000                        8.000                    0.25x",
		// No DEL sample of ours with 250 pods: no growth, rather than 0.
		"DEL with 250 pods                 -      -      -          8.000                        -",
		"DEL growth, 250 / 10 pods         -      -      -          1.000                        -",
	)
}
