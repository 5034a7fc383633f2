package bench

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Summary describes a sample: its size and percentiles, in the unit of the
// table it sits in. A single measured value has N=1 and P50=P90=P99=value.
type Summary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summarize computes the percentiles of values (linear interpolation between
// closest ranks). An empty sample gives a zero Summary.
func Summarize(values []float64) Summary {
	if len(values) == 0 {
		return Summary{}
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	return Summary{
		N:   len(s),
		P50: percentile(s, 50),
		P90: percentile(s, 90),
		P99: percentile(s, 99),
		Max: s[len(s)-1],
	}
}

// Value is the Summary of one measured value.
func Value(v float64) Summary {
	return Summary{N: 1, P50: v, P90: v, P99: v, Max: v}
}

// percentile of sorted values, p in [0,100].
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	frac := rank - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// Ratio is a/b, or NaN when b is zero (no reference to compare with).
func Ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// ms converts durations to milliseconds.
func ms(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / float64(time.Millisecond)
	}
	return out
}

// Bucket is an inclusive range of 1-based pod positions.
type Bucket struct{ From, To int }

// String renders "1-10".
func (b Bucket) String() string { return fmt.Sprintf("%d-%d", b.From, b.To) }

// Buckets returns the pod ranges reported for a run of n pods: the first
// ten, and the ten up to 100 and up to 250 when the run reaches them (pods
// 1-10, 91-100, 241-250), plus the last ten when n is none of those.
func Buckets(n int) []Bucket {
	if n <= 0 {
		return nil
	}
	out := []Bucket{{1, min(10, n)}}
	for _, end := range []int{100, 250} {
		if n >= end {
			out = append(out, Bucket{end - 9, end})
		}
	}
	if last := out[len(out)-1]; last.To < n {
		out = append(out, Bucket{max(last.To+1, n-9), n})
	}
	return out
}

// Slice returns the samples of the pods in the bucket from per-pod samples
// indexed by position-1.
func (b Bucket) Slice(perPod []float64) []float64 {
	if b.From > len(perPod) {
		return nil
	}
	return perPod[b.From-1 : min(b.To, len(perPod))]
}
