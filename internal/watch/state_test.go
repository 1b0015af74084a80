package watch

import (
	"testing"
	"time"
)

// TestTrackerAdvancesPastSeed: after a restart (a seeded replay position of
// unknown time), the replay position moves on once later marks are older
// than the horizon, and marks within a second of each other are thinned.
func TestTrackerAdvancesPastSeed(t *testing.T) {
	var tr tracker
	tr.seed("seed", "resume")
	base := time.Date(2025, 11, 22, 10, 0, 0, 0, time.UTC).UnixNano()
	for i := 0; i < 100; i++ {
		tr.add(i, base+int64(i)*int64(300*time.Millisecond))
	}
	if n := len(tr.marks); n < 20 || n > 40 {
		t.Errorf("%d marks kept for 30 s of events, want about one per second", n)
	}
	tr.advance(base + int64(10*time.Second))
	replay, resume := tr.positions()
	if replay == "seed" {
		t.Fatalf("replay position stuck at the seed")
	}
	if r, ok := replay.(int); !ok || r > 34 || r < 25 {
		t.Errorf("replay position %v, want a mark just before 10 s of events", replay)
	}
	if resume != 99 {
		t.Errorf("resume = %v, want the last mark", resume)
	}
}
