package baseline

import (
	"net/netip"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

var (
	t0  = time.Date(2025, 11, 22, 10, 15, 0, 0, time.UTC).UnixNano()
	src = netip.MustParseAddr("198.51.100.7")
	dst = netip.MustParseAddr("203.0.113.10")
)

// hit is a denied TCP SYN from src at t0+at to port.
func hit(at time.Duration, port uint16) event.Event {
	return event.Event{Time: t0 + int64(at), Kind: event.KindAttempt, Src: src, Dst: dst, DstPort: port,
		Proto: event.ProtoTCP, Action: event.ActionDenied, TCPFlags: event.FlagSYN}
}

func hits(at []time.Duration, ports ...uint16) []event.Event {
	var out []event.Event
	for i, p := range ports {
		out = append(out, hit(at[i], p))
	}
	return out
}

func TestRule(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name  string
		evs   []event.Event
		want  int // findings
		ports []uint16
	}{
		{"default knock client, under a second", hits([]time.Duration{0, ms / 2, ms}, 7000, 8000, 9000), 0, nil},
		{"three ports over four seconds", hits([]time.Duration{10 * s, 12 * s, 14 * s}, 9000, 7000, 8000), 1, []uint16{7000, 8000, 9000}},
		{"straddles a minute boundary", hits([]time.Duration{57 * s, 59 * s, 61 * s}, 7000, 8000, 9000), 0, nil},
		{"two ports", hits([]time.Duration{0, 2 * s, 4 * s}, 7000, 8000, 7000), 0, nil},
		{"nine ports", hits([]time.Duration{0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s, 8 * s}, 1, 2, 3, 4, 5, 6, 7, 8, 9), 0, nil},
		{"eight ports", hits([]time.Duration{0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s}, 1, 2, 3, 4, 5, 6, 7, 8), 1, []uint16{1, 2, 3, 4, 5, 6, 7, 8}},
		{"thirteen events", hits([]time.Duration{0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s, 8 * s, 9 * s, 10 * s, 11 * s, 12 * s}, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1), 0, nil},
		{"span 31 s", hits([]time.Duration{0, 15 * s, 31 * s}, 7000, 8000, 9000), 0, nil},
		{"span exactly 30 s", hits([]time.Duration{0, 15 * s, 30 * s}, 7000, 8000, 9000), 1, []uint16{7000, 8000, 9000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Run(Default(), tc.evs)
			if len(got) != tc.want {
				t.Fatalf("findings = %d (%+v), want %d", len(got), got, tc.want)
			}
			if tc.want == 0 {
				return
			}
			f := got[0]
			if len(f.Ports) != len(tc.ports) {
				t.Fatalf("ports = %v, want %v", f.Ports, tc.ports)
			}
			for i := range f.Ports {
				if f.Ports[i] != tc.ports[i] {
					t.Fatalf("ports = %v, want %v", f.Ports, tc.ports)
				}
			}
			if !f.Fired.Equal(f.BinStart.Add(time.Minute)) || f.BinStart.Second() != 0 {
				t.Errorf("bin %v fired %v: want a whole minute ending at Fired", f.BinStart, f.Fired)
			}
			if f.Src != src || f.Events != len(tc.evs) {
				t.Errorf("src %v events %d", f.Src, f.Events)
			}
		})
	}
}

func TestOnlyDenies(t *testing.T) {
	evs := hits([]time.Duration{0, 2 * time.Second, 4 * time.Second}, 7000, 8000, 9000)
	evs[1].Action = event.ActionAllowed
	if got := Run(Default(), evs); len(got) != 0 {
		t.Fatalf("an allowed event counted: %+v", got)
	}
}

func TestBinsCloseInOrder(t *testing.T) {
	// A second source in a later bin closes the first bin while streaming.
	e := New(Default())
	for _, ev := range hits([]time.Duration{0, 2 * time.Second, 4 * time.Second}, 7000, 8000, 9000) {
		e.Observe(&ev)
	}
	late := hit(3*time.Minute, 1)
	late.Src = netip.MustParseAddr("192.0.2.1")
	e.Observe(&late)
	if len(e.findings) != 1 {
		t.Fatalf("first bin not judged when a later bin started: %d findings", len(e.findings))
	}
	if len(e.bins) != 1 {
		t.Fatalf("closed bins kept: %d", len(e.bins))
	}
	if got := e.Close(); len(got) != 1 {
		t.Fatalf("Close = %d findings, want 1", len(got))
	}
}
