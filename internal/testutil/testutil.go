// Package testutil holds helpers shared by tests: requirements that skip a
// test on a developer's machine but fail it in CI, so nothing silently stops
// being tested.
package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test outside CI and fails it in CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("required in CI: "+format, args...)
	}
	t.Skipf("skipped: "+format, args...)
}

// Require checks a named requirement: "root".
func Require(t testing.TB, what string) {
	t.Helper()
	switch what {
	case "root":
		if os.Geteuid() != 0 {
			Missing(t, "needs root (network namespaces, raw sockets)")
		}
	default:
		t.Fatalf("testutil.Require: unknown requirement %q", what)
	}
}

// RequireTool returns the path of a program, skipping (or failing in CI)
// when it is not installed.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(dir + "/" + name); serr == nil {
				return dir + "/" + name
			}
		}
		Missing(t, "needs %s (Debian package; see .ci/apt-packages.txt)", name)
	}
	return p
}

// UniqueName returns prefix plus a short random suffix, for namespaces and
// interfaces that must not collide with parallel tests.
func UniqueName(prefix string) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
