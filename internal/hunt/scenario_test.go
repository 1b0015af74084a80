package hunt

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// TestScenarios runs every testdata/scenarios/<name>/: script.txt renders
// to input.log (checked, so the two cannot drift), the hunt over input.log
// (with config.yaml if present) must produce want.jsonl byte for byte, and
// the script's expect lines must hold. Refresh with -update after reviewing
// the diff.
func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob("testdata/scenarios/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		n++
		t.Run(filepath.Base(dir), func(t *testing.T) { runScenario(t, dir) })
	}
	if n == 0 {
		t.Fatal("no scenarios")
	}
}

func runScenario(t *testing.T, dir string) {
	text, err := os.ReadFile(filepath.Join(dir, "script.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseScript(string(text))
	if err != nil {
		t.Fatalf("script.txt: %v", err)
	}
	input := filepath.Join(dir, "input.log")
	rendered := sc.render()
	if *update {
		if err := os.WriteFile(input, []byte(rendered), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(input)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != rendered {
		t.Fatalf("input.log is not what script.txt renders; run go test -update and review the diff")
	}
	cfg := config.Default()
	if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
		if cfg, err = config.Load(filepath.Join(dir, "config.yaml")); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Run(context.Background(), Options{Paths: []string{input}, Config: cfg, Location: time.UTC, Year: 2025})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Stats.TotalErrors(); n != 0 {
		t.Errorf("%d decode errors: %v", n, res.Stats.ErrorSamples())
	}
	var out bytes.Buffer
	for _, a := range res.Alerts {
		b, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
	}
	golden := filepath.Join(dir, "want.jsonl")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("alerts differ from want.jsonl (go test -update to refresh after review)\n got:\n%s\nwant:\n%s", out.Bytes(), want)
	}
	for _, e := range sc.expect {
		min, err := alert.ParseSeverity(e.minSev)
		if err != nil {
			t.Fatalf("expect: %v", err)
		}
		count := 0
		for _, a := range res.Alerts {
			if a.Detector == e.detector && a.Severity >= min {
				count++
			}
		}
		if count != e.count {
			t.Errorf("expect %s >=%s: %d alert(s), want %d", e.detector, e.minSev, count, e.count)
			for _, a := range res.Alerts {
				t.Logf("  %s %s %s %.2f %s %v", a.Detector, a.Severity, a.Src, a.Confidence, a.Summary, a.Reasons)
			}
		}
	}
}

// TestRunIsDeterministic: two hunts over the same input yield identical
// output, whatever the number of shards and workers.
func TestRunIsDeterministic(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/scenarios/*/input.log")
	if len(dirs) == 0 {
		t.Fatal("no scenarios in testdata/scenarios")
	}
	encode := func(shards, workers int) []byte {
		res, err := Run(context.Background(), Options{Paths: dirs, Config: config.Default(), Location: time.UTC, Year: 2025, Shards: shards, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		for _, a := range res.Alerts {
			b, _ := a.Encode()
			out.Write(b)
		}
		return out.Bytes()
	}
	a, b := encode(1, 1), encode(4, 3)
	if !bytes.Equal(a, b) {
		t.Errorf("output depends on shards/workers:\n%s\n---\n%s", a, b)
	}
}
