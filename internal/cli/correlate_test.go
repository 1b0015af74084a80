package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCorrelateFiles: the three branches of one knock, hunted apart (the
// client's audit log on ws07, gw01's firewall log, gw01's knockd lines),
// make the same findings as one hunt over all of them once correlate
// joins the three outputs; a repeated input changes nothing, and a line
// that is not a finding is reported with its place.
func TestCorrelateFiles(t *testing.T) {
	dir := "../correlate/testdata/one-knock"
	whole, errOut, code := run(t, "", "hunt", "--tz", "UTC", "--year", "2026", "-o", "json", dir)
	if code != 0 {
		t.Fatalf("hunt: exit %d: %s", code, errOut)
	}
	tmp := t.TempDir()
	var inputs []string
	for _, f := range []string{"ws07-audit.log", "gw01-kern.log", "gw01-syslog.log"} {
		out, errOut, code := run(t, "", "hunt", "--tz", "UTC", "--year", "2026", "-o", "json", filepath.Join(dir, f))
		if code != 0 {
			t.Fatalf("hunt %s: exit %d: %s", f, code, errOut)
		}
		if strings.Contains(out, `"kind":"incident"`) {
			t.Fatalf("hunt of %s alone made an incident", f)
		}
		p := filepath.Join(tmp, f+".jsonl")
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, p)
	}
	// The whole hunt's own output again: its incident is taken apart and
	// made again, its alerts are repeats.
	p := filepath.Join(tmp, "whole.jsonl")
	if err := os.WriteFile(p, []byte(whole+"not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, p)
	got, errOut, code := run(t, "", append([]string{"correlate", "-o", "json"}, inputs...)...)
	if code != 0 {
		t.Fatalf("correlate: exit %d: %s", code, errOut)
	}
	if canonicalLines(t, got) != canonicalLines(t, whole) {
		t.Errorf("correlate of the parts differs from the whole hunt:\n got %s\nwant %s", got, whole)
	}
	for _, want := range []string{"whole.jsonl:" + strconv.Itoa(strings.Count(whole, "\n")+1) + ": not a knockwatch finding", "1 incidents taken apart", "-> 1 incidents"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// canonicalLines re-encodes JSON lines so key order and spacing do not
// matter.
func canonicalLines(t *testing.T, s string) string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		var v any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return strings.Join(out, "\n")
}
