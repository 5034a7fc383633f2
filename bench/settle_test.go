package bench

import (
	"strings"
	"testing"
)

func TestParseNetnsObjects(t *testing.T) {
	for text, want := range map[string]int{
		"slabinfo - version: 2.1\n# name <active_objs> <num_objs>\nnet_namespace         39     98   4288    7    8 : tunables    0    0    0\nnf_conntrack 5 10\n": 39,
		"slabinfo - version: 2.1\nkmalloc-64 100 200\n": -1,
		"": -1,
	} {
		got, err := parseNetnsObjects(strings.NewReader(text))
		if err != nil || got != want {
			t.Errorf("%q: got %d, %v; want %d", text, got, err, want)
		}
	}
	if _, err := parseNetnsObjects(strings.NewReader("net_namespace x 1\n")); err == nil {
		t.Error("a malformed count was accepted")
	}
}
