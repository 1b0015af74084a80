package main

import (
	"bytes"
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/cli"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

const corpus = "../../lab/corpus"

// TestScorecardGolden runs the scorecard over the committed lab corpus and
// compares its output with testdata/scorecard.txt. A detector change that
// moves a number shows up here; refresh with -update and review the diff.
func TestScorecardGolden(t *testing.T) {
	sc, err := Run(context.Background(), Options{Corpus: corpus, Name: "lab/corpus", Config: config.Default(), Packets: cli.PacketOpener()})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := sc.Write(&b); err != nil {
		t.Fatal(err)
	}
	// The detectors that read precise times must emit the same alerts
	// whether event time advances batch by batch or event by event; the
	// daemon detector over knockd's minute-stamped LogFile need not.
	for _, mr := range sc.Modes {
		for _, m := range mr.Mismatch {
			if strings.HasPrefix(m, "sequence ") || strings.HasPrefix(m, "scan ") || strings.HasPrefix(m, "spa ") {
				t.Errorf("%s: the timing replay did not emit the hunt's alert %s", mr.Mode.Name, m)
			}
		}
	}
	golden := filepath.Join("testdata", "scorecard.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("scorecard differs from %s (run go test ./cmd/kweval -update and review the diff):\n%s", golden, b.String())
	}
	// Twice over the same corpus gives the same bytes.
	sc2, err := Run(context.Background(), Options{Corpus: corpus, Name: "lab/corpus", Config: config.Default(), Packets: cli.PacketOpener()})
	if err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	if err := sc2.Write(&b2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), b2.Bytes()) {
		t.Error("two runs over the same corpus printed different scorecards")
	}
}

// TestCorpusLabelsComplete: every scenario folder has its files and every
// label line names a label, a source, an interval and, for knocks and SPA,
// the sequence.
func TestCorpusLabelsComplete(t *testing.T) {
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	scenarios := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		scenarios++
		dir := filepath.Join(corpus, e.Name())
		for _, f := range []string{"labels.jsonl", "fw.log", "capture.pcap", "knockd.log", "fwknopd.log", "boot-time", "meta.json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s: %v", e.Name(), err)
			}
		}
		labels, err := readLabels(filepath.Join(dir, "labels.jsonl"))
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if len(labels) == 0 {
			t.Errorf("%s: no labels", e.Name())
		}
		for _, l := range labels {
			if l.Scenario != e.Name() {
				t.Errorf("%s: label names scenario %q", e.Name(), l.Scenario)
			}
			if (strings.HasPrefix(l.Label, "knock") || strings.HasPrefix(l.Label, "spa")) && len(l.Sequence) == 0 {
				t.Errorf("%s: %s label without its sequence", e.Name(), l.Label)
			}
			if l.Connected != (l.Connection != "") {
				t.Errorf("%s: connected=%v but connection %q", e.Name(), l.Connected, l.Connection)
			}
			if l.Tool == "" {
				t.Errorf("%s: no tool", e.Name())
			}
		}
	}
	if scenarios < 15 {
		t.Errorf("%d scenarios in the corpus, want every lab scenario", scenarios)
	}
}

func TestMatches(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 17, 0, 30, 0, time.UTC)
	l := Label{Start: t0, End: t0.Add(5 * time.Second), src: netip.MustParseAddr("198.51.100.7"), dst: netip.MustParseAddr("203.0.113.10")}
	mk := func(src, dst string, first, last time.Duration) *alert.Alert {
		a := &alert.Alert{Src: netip.MustParseAddr(src), FirstSeen: t0.Add(first), LastSeen: t0.Add(last)}
		if dst != "" {
			a.Dst = netip.MustParseAddr(dst)
		}
		return a
	}
	tests := []struct {
		name string
		a    *alert.Alert
		want bool
	}{
		{"inside", mk("198.51.100.7", "203.0.113.10", time.Second, 2*time.Second), true},
		{"no dst (a sweep finding)", mk("198.51.100.7", "", time.Second, 2*time.Second), true},
		{"other source", mk("198.51.100.8", "203.0.113.10", time.Second, 2*time.Second), false},
		{"other host", mk("198.51.100.7", "203.0.113.11", time.Second, 2*time.Second), false},
		{"within slack after", mk("198.51.100.7", "203.0.113.10", 6*time.Second, 7*time.Second), true},
		{"long after", mk("198.51.100.7", "203.0.113.10", time.Minute, time.Minute), false},
		{"long before", mk("198.51.100.7", "203.0.113.10", -5*time.Minute, -4*time.Minute), false},
		{"stamped on the activity's minute (knockd LogFile)", mk("198.51.100.7", "203.0.113.10", -30*time.Second, -30*time.Second), true},
		{"stamped on the minute before", mk("198.51.100.7", "203.0.113.10", -90*time.Second, -90*time.Second), false},
	}
	for _, tc := range tests {
		if got := matches(tc.a, l); got != tc.want {
			t.Errorf("%s: matches = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCompleting(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC)
	src, dst := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.10")
	l := Label{Start: t0, End: t0.Add(5 * time.Second), Sequence: []string{"7000/tcp", "9000/udp"}, src: src, dst: dst}
	ev := func(at time.Duration, port uint16, proto event.Proto, action event.Action) event.Event {
		return event.Event{Time: t0.Add(at).UnixNano(), Kind: event.KindAttempt, Src: src, Dst: dst, DstPort: port, Proto: proto, Action: action}
	}
	events := []event.Event{
		ev(100*time.Millisecond, 7000, event.ProtoTCP, event.ActionDenied),
		ev(200*time.Millisecond, 9000, event.ProtoUDP, event.ActionDenied),
		ev(300*time.Millisecond, 9000, event.ProtoTCP, event.ActionDenied),  // wrong protocol
		ev(time.Second, 22, event.ProtoTCP, event.ActionAllowed),            // the connection
		ev(time.Minute, 7000, event.ProtoTCP, event.ActionDenied),           // outside the interval
		ev(400*time.Millisecond, 9000, event.ProtoUDP, event.ActionAllowed), // not an attempt on a closed port
	}
	if got, want := completing(l, events), t0.Add(200*time.Millisecond).UnixNano(); got != want {
		t.Fatalf("completing = %v, want %v", time.Unix(0, got).UTC(), time.Unix(0, want).UTC())
	}
}

func TestTotals(t *testing.T) {
	knock := &Activity{Label: Label{Label: "knock"}, Outcomes: map[string]Outcome{
		"sequence": {Severity: alert.SeverityHigh, Hit: true, Latency: 500 * time.Millisecond},
	}}
	missed := &Activity{Label: Label{Label: "knock-slow"}, Outcomes: map[string]Outcome{
		"sequence": {Severity: alert.SeverityLow, Latency: -1},
	}}
	scan := &Activity{Label: Label{Label: "scan"}, Outcomes: map[string]Outcome{
		"sequence": {Severity: alert.SeverityMedium, Hit: true, Latency: -1},
		"scan":     {Severity: alert.SeverityInfo, Hit: true, Latency: -1},
	}}
	mr := &ModeResult{Activities: []*Activity{knock, missed, scan}, Unlabelled: []*alert.Alert{{Detector: "sequence", Severity: alert.SeverityMedium}}}
	c := mr.Totals("sequence")
	if c.TP != 1 || c.Miss != 1 || c.FP != 2 {
		t.Fatalf("sequence totals %+v, want TP 1, miss 1, FP 2 (the scan and the unlabelled alert)", c)
	}
	if r, _ := c.Recall(); r != 0.5 {
		t.Errorf("recall %v", r)
	}
	if p, _ := c.Precision(); p != 1.0/3 {
		t.Errorf("precision %v", p)
	}
	if s := mr.Totals("scan"); s.TP != 1 || s.FP != 0 || s.Miss != 0 {
		t.Errorf("scan totals %+v", s)
	}
	if _, ok := mr.Totals("spa").Recall(); ok {
		t.Error("recall defined with no target activity")
	}
}
