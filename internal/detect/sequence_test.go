package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
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

// TestResumedBurstJudgedAtItsSettle: a knock whose first packet is judged
// alone (syslog stamps with whole seconds put it a second before the
// rest) resumes the settled burst. The resumed burst must be judged once
// its own settle time has passed, not when the settled one would have
// expired (MaxGap later): a sensor would otherwise hold the knock for
// 25s, and a restart before then would lose it.
func TestResumedBurstJudgedAtItsSettle(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 20, 31, 28, 0, time.UTC)
	tests := []struct {
		name  string
		at    []time.Duration // the knocks on 7100, 8200, 9300
		judge time.Duration   // by when the knock must be reported
	}{
		{"one second", []time.Duration{0, 0, 0}, time.Second},
		{"split after the first", []time.Duration{0, time.Second, time.Second}, 5 * time.Second},
		{"split after the second", []time.Duration{0, 0, time.Second}, 5 * time.Second},
		{"a second apart", []time.Duration{0, time.Second, 2 * time.Second}, 6 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []*alert.Alert
			d := NewSequence(config.Default(), 1, Deps{Emit: func(a *alert.Alert) { got = append(got, a) }})
			for i, port := range []uint16{7100, 8200, 9300} {
				d.Observe(&event.Event{
					Time: t0.Add(tc.at[i]).UnixNano(), Origin: event.Origin{Index: uint64(i)},
					Kind: event.KindAttempt, Src: netip.MustParseAddr("198.51.100.41"), Dst: netip.MustParseAddr("203.0.113.10"),
					SrcPort: 47100 + uint16(i), DstPort: port, Proto: event.ProtoTCP, TCPFlags: event.FlagSYN, Action: event.ActionDenied,
				})
			}
			d.Advance(t0.Add(tc.judge).UnixNano())
			var last string
			if len(got) > 0 {
				last = alert.SequenceString(got[len(got)-1].Sequence)
			}
			if last != "7100/tcp,8200/tcp,9300/tcp" {
				t.Errorf("by +%s: %d finding(s), the last on %q; want the knock on 7100,8200,9300", tc.judge, len(got), last)
			}
		})
	}
}
