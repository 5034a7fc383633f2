package integration

import (
	"bytes"
	"strings"
	"testing"

	"github.com/podnet/podnet/integration/demo"
)

// TestDemo runs `make demo`'s program end to end, so the demo cannot break
// silently: three nodes, six pods, every check, teardown and the proof that
// nothing is left.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	err := demo.Run(t, &out, demo.Options{})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "left on the nodes: 0 pod links, 0 reservations, 0 netfilter changes, 0 cached results") {
		t.Fatal("demo did not prove the nodes clean")
	}
}
