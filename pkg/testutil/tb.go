package testutil

// TB is the part of testing.TB the harness uses. *testing.T and *testing.B
// satisfy it; so does the demo program's runner, which lets `make demo` build
// its cluster with the same code the tests use.
type TB interface {
	Helper()
	Name() string
	Cleanup(func())
	TempDir() string
	Log(args ...any)
	Logf(format string, args ...any)
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Skipf(format string, args ...any)
}

// netnsPrefixer lets a TB choose the prefix of the namespaces it creates
// (the demo's "podnet-demo-", which the stale-namespace sweep leaves alone).
type netnsPrefixer interface {
	NetNSPrefix() string
}
