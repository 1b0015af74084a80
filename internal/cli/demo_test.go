package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// TestDemo runs the README's demo hunt (over the repo's demo/ folder) and
// compares what it finds, one line per finding, with testdata/demo.golden:
// the README's first command must keep working and keep showing what
// lab/demo.md says it shows. Refresh with -update after review.
func TestDemo(t *testing.T) {
	out, errOut, code := run(t, "", "hunt", "--tz", "UTC", "--year", "2026", "-o", "json", "../../demo")
	if code != 0 {
		t.Fatalf("demo hunt: exit %d: %s", code, errOut)
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var a struct {
			ID, Kind, Detector, Severity, Summary, Supersedes string
			Members                                           []string
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("not a finding: %q: %v", l, err)
		}
		fmt.Fprintf(&b, "%s %s %s/%s %s", a.ID, a.Severity, a.Kind, a.Detector, a.Summary)
		if a.Supersedes != "" {
			fmt.Fprintf(&b, " (supersedes %s)", a.Supersedes)
		}
		if len(a.Members) > 0 {
			fmt.Fprintf(&b, " (members %s)", strings.Join(a.Members, ","))
		}
		b.WriteByte('\n')
	}
	const golden = "testdata/demo.golden"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != b.String() {
		t.Errorf("the demo's findings differ from %s (review, then -update):\n%s", golden, b.String())
	}
	for _, k := range []string{`"kind":"incident"`, `"detector":"spa"`, `"detector":"process"`, `"detector":"scan"`} {
		if !strings.Contains(out, k) {
			t.Errorf("the demo shows no %s finding", k)
		}
	}
}
