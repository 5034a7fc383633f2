package buildinfo

import "testing"

func TestAbout(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v1.2.3"
	if got, want := About("bridge"), "podnet bridge plugin v1.2.3"; got != want {
		t.Fatalf("About() = %q, want %q", got, want)
	}
}
