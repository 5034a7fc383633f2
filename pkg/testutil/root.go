package testutil

import (
	"os"
)

// InCI reports whether the tests run under CI (CI=true) or were told to treat
// missing privileges as failures (PODNET_REQUIRE_PRIVILEGED=1).
func InCI() bool {
	return os.Getenv("CI") == "true" || os.Getenv("PODNET_REQUIRE_PRIVILEGED") == "1"
}

// RequireRoot skips the test unless it runs as root. Under CI it fails
// instead: a privileged tier that silently skips proves nothing.
func RequireRoot(t TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatal("this test needs root (CI=true or PODNET_REQUIRE_PRIVILEGED=1 forbids skipping)")
	}
	t.Skip("needs root; run with sudo make test-privileged")
}

// RequireFeature fails (under CI) or skips the test when a kernel or tool
// feature the suite relies on is missing. err is the probe's result.
func RequireFeature(t TB, feature string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("required feature %s is missing: %v", feature, err)
	}
	t.Skipf("feature %s is missing: %v", feature, err)
}

// SkipWithoutOptionalFeature skips the test when an optional kernel feature
// (bridge VLAN filtering, for one) is missing, even under CI, with the reason.
func SkipWithoutOptionalFeature(t TB, feature string, err error) {
	t.Helper()
	if err != nil {
		t.Skipf("optional kernel feature %s is not available here: %v", feature, err)
	}
}
