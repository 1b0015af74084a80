package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := NewRoot(Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// TestReportCommand runs "knockwatch report" end to end on the report
// package's fixture: both formats, stdin, a file output written whole,
// unreadable lines named, and usage errors with exit status 2.
func TestReportCommand(t *testing.T) {
	fixture := filepath.Join("..", "report", "testdata", "findings.jsonl")
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "", "report", "--format", "md", fixture)
	if err != nil || !strings.HasPrefix(out, "# knockwatch report\n") || !strings.Contains(out, "## Findings") {
		t.Fatalf("md: err %v, output starts %.80q", err, out)
	}
	fromStdin, _, err := runCLI(t, string(data), "report", "--format", "md")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ReplaceAll(fromStdin, "stdin", fixture) != out {
		t.Error("the report of stdin differs from the report of the file (other than the input's name)")
	}

	dst := filepath.Join(t.TempDir(), "report.html")
	_, stderr, err := runCLI(t, "not json\n"+string(data), "report", "-o", dst, "--title", "T <1>", "--tz", "Europe/Berlin", "-")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) || !bytes.Contains(page, []byte("<title>T &lt;1&gt;</title>")) || !bytes.Contains(page, []byte("CET")) {
		t.Errorf("HTML output: no doctype, escaped title or Berlin times")
	}
	if !strings.Contains(stderr, "stdin:1: not a knockwatch finding") || !strings.Contains(stderr, "1 unreadable line(s) skipped") {
		t.Errorf("stderr does not name the bad line: %q", stderr)
	}
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Errorf("the output folder holds %d files, want only the report (no temporary left)", len(entries))
	}

	for _, bad := range [][]string{
		{"report", "--format", "pdf", fixture},
		{"report", "--tz", "Mars/Olympus", fixture},
		{"report", "--min-severity", "urgent", fixture},
		{"report", filepath.Join(t.TempDir(), "missing.jsonl")},
	} {
		_, _, err := runCLI(t, "", bad...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitError {
			t.Errorf("%v: err %v, want exit status %d", bad, err, ExitError)
		}
	}
}
