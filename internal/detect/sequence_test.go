package detect

import (
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/config"
)

// TestRecurBoundedByHorizon: how often a sequence was seen before depends
// only on occurrences within the scan horizon, so a sensor that rebuilds
// state from the last horizon of input gives the same answer; repeats at a
// steady short interval read as a health check.
func TestRecurBoundedByHorizon(t *testing.T) {
	cfg := config.Default()
	d := NewSequence(cfg, 1, Deps{})
	var s seqSource
	at := func(d time.Duration) int64 { return int64(d) }
	tests := []struct {
		t        int64
		before   int
		periodic bool
	}{
		{at(0), 0, false},
		{at(time.Minute), 1, false},
		{at(time.Minute), 1, false}, // the same run judged again
		{at(2 * time.Minute), 2, true},
		{at(8 * time.Minute), 3, false},
		{at(30 * time.Minute), 0, false}, // everything before is beyond the horizon
		{at(36 * time.Minute), 1, false},
	}
	for i, tc := range tests {
		before, periodic := d.recur(&s, 42, tc.t)
		if before != tc.before || periodic != tc.periodic {
			t.Errorf("step %d (t=%s): before %d periodic %v, want %d %v", i, time.Duration(tc.t), before, periodic, tc.before, tc.periodic)
		}
	}
	// A replay that starts one horizon before the last occurrence agrees.
	var replayed seqSource
	d.recur(&replayed, 42, at(30*time.Minute))
	if before, _ := d.recur(&replayed, 42, at(36*time.Minute)); before != 1 {
		t.Errorf("replayed state: before %d, want 1", before)
	}
}
