package bench

import (
	"math"
	"reflect"
	"testing"
)

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10})
	want := Summary{N: 10, P50: 5.5, P90: 9.1, P99: 9.91, Max: 10}
	if math.Abs(s.P90-want.P90) > 1e-9 || math.Abs(s.P99-want.P99) > 1e-9 {
		t.Fatalf("Summarize = %+v, want %+v", s, want)
	}
	s.P90, s.P99 = want.P90, want.P99
	if s != want {
		t.Fatalf("Summarize = %+v, want %+v", s, want)
	}
	if got := Summarize(nil); got != (Summary{}) {
		t.Fatalf("Summarize(nil) = %+v", got)
	}
	if got := Summarize([]float64{3}); got != Value(3) {
		t.Fatalf("Summarize of one value = %+v, want %+v", got, Value(3))
	}
}

func TestBuckets(t *testing.T) {
	for _, tc := range []struct {
		pods int
		want []Bucket
	}{
		{3, []Bucket{{1, 3}}},
		{10, []Bucket{{1, 10}}},
		{15, []Bucket{{1, 10}, {11, 15}}},
		{50, []Bucket{{1, 10}, {41, 50}}},
		{100, []Bucket{{1, 10}, {91, 100}}},
		{250, []Bucket{{1, 10}, {91, 100}, {241, 250}}},
		{300, []Bucket{{1, 10}, {91, 100}, {241, 250}, {291, 300}}},
	} {
		if got := Buckets(tc.pods); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Buckets(%d) = %v, want %v", tc.pods, got, tc.want)
		}
	}
	per := []float64{1, 2, 3, 4, 5}
	if got := (Bucket{4, 10}).Slice(per); !reflect.DeepEqual(got, []float64{4, 5}) {
		t.Errorf("Slice past the end = %v", got)
	}
}

func TestRatio(t *testing.T) {
	if r := newRow("x", Value(2), Value(4)); r.Ratio == nil || *r.Ratio != 0.5 {
		t.Fatalf("ratio of 2 to 4 = %v", r.Ratio)
	}
	if r := newRow("x", Value(2), Summary{}); r.Ratio != nil {
		t.Fatalf("ratio without a reference = %v, want none", *r.Ratio)
	}
	if r := newRow("x", Value(0), Value(0)); r.Ratio != nil {
		t.Fatalf("ratio 0/0 = %v, want none", *r.Ratio)
	}
}

func TestLineLevels(t *testing.T) {
	for pods, want := range map[int][]int{3: {3}, 100: {100}, 150: {100, 150}, 250: {100, 250}} {
		if got := lineLevels(pods); !reflect.DeepEqual(got, want) {
			t.Errorf("lineLevels(%d) = %v, want %v", pods, got, want)
		}
	}
}
