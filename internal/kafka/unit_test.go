package kafka

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/event"
)

func TestCommitMeta(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want commitMeta
		ok   bool
	}{
		{"knockwatch/1 t=1795341600000000000 r=4242", commitMeta{1795341600000000000, 4242}, true},
		{"knockwatch/1 t=-9223372036854775808 r=-1", commitMeta{math.MinInt64, -1}, true},
		{"knockwatch/1 t=5 r=0", commitMeta{5, 0}, true},
		{"", noMeta, false},
		{"knockwatch-abc123", noMeta, false}, // kgo's default metadata: the member id
		{"knockwatch/2 t=5 r=0", noMeta, false},
		{"knockwatch/1 t=5", noMeta, false},
		{"knockwatch/1 r=0 t=5", noMeta, false},
		{"knockwatch/1 t=x r=0", noMeta, false},
		{"knockwatch/1 t=5 r=-2", noMeta, false},
		{"knockwatch/1 t=5 r=99999999999999999999", noMeta, false},
		{"knockwatch/1 t=5 r=1 extra", noMeta, false},
	} {
		got, ok := parseMeta(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseMeta(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok {
			if s := got.String(); s != tc.in {
				t.Errorf("String() = %q, want %q", s, tc.in)
			}
		}
	}
}

// FuzzCommitMeta: the metadata of a committed offset is written by
// whoever can commit for the group; reading it never fails the consumer,
// and what it accepts is what it writes back.
func FuzzCommitMeta(f *testing.F) {
	for _, s := range []string{"knockwatch/1 t=1795341600000000000 r=4242", "knockwatch/1 t=-9223372036854775808 r=-1", "", "knockwatch-abc", "knockwatch/1 t= r=", "knockwatch/1 t=1 r=1 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := parseMeta(s)
		if !ok {
			if m != noMeta {
				t.Fatalf("rejected %q but returned %+v", s, m)
			}
			return
		}
		if m.Resume < -1 {
			t.Fatalf("%q: resume %d", s, m.Resume)
		}
		back, ok := parseMeta(m.String())
		if !ok || back != m {
			t.Fatalf("%q: %+v does not round-trip (%+v, %v)", s, m, back, ok)
		}
	})
}

func TestTracker(t *testing.T) {
	var tr offsetTracker
	tr.seed(100)
	if off, _ := tr.replay(); off != 100 {
		t.Fatalf("seed: %d", off)
	}
	sec := int64(1e9)
	// One mark per 100ms of event time for 60s, from offset 110.
	for i := int64(0); i < 600; i++ {
		tr.add(110+i*10, 1000*sec+i*sec/10)
	}
	if len(tr.marks) > 70 {
		t.Errorf("%d marks kept for 60s of event time, want about one a second", len(tr.marks))
	}
	// Nothing older than the cut: the seed stays.
	tr.advance(1000 * sec)
	if off, _ := tr.replay(); off != 100 {
		t.Errorf("cut before every mark moved the replay position to %d", off)
	}
	// Cut at 1030s: the replay position is the newest mark before which
	// every event is older than 1030s.
	tr.advance(1030 * sec)
	off, _ := tr.replay()
	var before int64 = -1
	for i := int64(0); i < 600; i++ {
		if m := 1000*sec + i*sec/10; m < 1030*sec {
			before = 110 + i*10
		}
	}
	if off > before || off < before-20*10 {
		t.Errorf("replay position %d, want at most %d and within two seconds of it", off, before)
	}
	// Offsets only go forward.
	tr.add(5, 2000*sec)
	if tr.marks[len(tr.marks)-1].off == 5 {
		t.Error("a mark before the last was added")
	}
	// Bounded when the cut does not move.
	var big offsetTracker
	big.seed(0)
	for i := int64(1); i < 100000; i++ {
		big.add(i, i*sec)
	}
	if len(big.marks) > maxMarks || big.marks[0].off != 0 {
		t.Errorf("%d marks, first %d", len(big.marks), big.marks[0].off)
	}
}

func TestReorder(t *testing.T) {
	ev := func(t int64) event.Event { return event.Event{Time: t, Origin: event.Origin{Index: uint64(t)}} }
	r := newReorder(1 << 20)
	var out []event.Event
	// Events 0..999 shuffled within windows of 10 (time units), lateness
	// 10: released in exact time order.
	rng := rand.New(rand.NewPCG(1, 2))
	var in []int64
	for w := int64(0); w < 1000; w += 10 {
		perm := rng.Perm(10)
		for _, p := range perm {
			in = append(in, w+int64(p))
		}
	}
	newest := int64(-1)
	for _, x := range in {
		e := ev(x)
		out = r.add(&e, out)
		newest = max(newest, x)
		out = r.release(newest-10, out)
	}
	out = r.release(math.MaxInt64, out)
	if len(out) != 1000 || r.late != 0 || r.forced != 0 {
		t.Fatalf("%d out, %d late, %d forced", len(out), r.late, r.forced)
	}
	if !slices.IsSortedFunc(out, func(a, b event.Event) int { return int(a.Time - b.Time) }) {
		t.Error("not in time order")
	}
	// An event older than what was released is late: out at once.
	r2 := newReorder(1 << 20)
	out = out[:0]
	for _, x := range []int64{100, 101, 102} {
		e := ev(x)
		out = r2.add(&e, out)
	}
	out = r2.release(101, out)
	e := ev(50)
	out = r2.add(&e, out)
	if r2.late != 1 || len(out) != 3 || out[2].Time != 50 {
		t.Errorf("late event: %d late, out %v", r2.late, out)
	}
	// Equal times keep their arrival order.
	r3 := newReorder(1 << 20)
	out = out[:0]
	for i := range 5 {
		e := event.Event{Time: 7, Origin: event.Origin{Index: uint64(i)}}
		out = r3.add(&e, out)
	}
	out = r3.release(7, out)
	for i := range out {
		if out[i].Origin.Index != uint64(i) {
			t.Fatalf("equal times reordered: %v", out)
		}
	}
	// The cap: beyond max held events, the oldest go out early.
	r4 := newReorder(100)
	out = out[:0]
	for i := int64(0); i < 1000; i++ {
		e := ev(i)
		out = r4.add(&e, out)
		out = r4.release(-1, out)
	}
	if r4.len() > 100 || r4.forced != 900 || len(out) != 900 {
		t.Errorf("cap: %d held, %d forced, %d out", r4.len(), r4.forced, len(out))
	}
}

// TestReorderAllocs: in steady state, adding and releasing events does not
// allocate.
func TestReorderAllocs(t *testing.T) {
	r := newReorder(1 << 20)
	out := make([]event.Event, 0, 64)
	var now int64
	step := func() {
		for range 16 {
			now++
			e := event.Event{Time: now - now%3}
			out = r.add(&e, out)
		}
		out = r.release(now-8, out[:0])
	}
	for range 1000 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%v allocations per step", n)
	}
}

func TestKeys(t *testing.T) {
	mapped := netip.MustParseAddr("::ffff:198.51.100.7")
	plain := netip.MustParseAddr("198.51.100.7")
	v6 := netip.MustParseAddr("2001:db8::7")
	for _, tc := range []struct {
		ev   event.Event
		want string
		ok   bool
	}{
		{event.Event{Kind: event.KindAttempt, Src: plain, Dst: v6}, "198.51.100.7", true},
		{event.Event{Kind: event.KindAttempt, Src: mapped}, "198.51.100.7", true},
		{event.Event{Kind: event.KindAttempt, Src: netip.MustParseAddr("fe80::1%eth0")}, "fe80::1", true},
		{event.Event{Kind: event.KindAttempt, Dst: v6}, "2001:db8::7", true},
		{event.Event{Kind: event.KindProcess}, "", false},
		{event.Event{Kind: event.KindDaemon, Src: plain, Daemon: &event.Daemon{Host: "gw01"}}, "host:gw01", true},
	} {
		got, ok := AppendKey(nil, &tc.ev)
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("AppendKey(%+v) = %q, %v; want %q, %v", tc.ev, got, ok, tc.want, tc.ok)
		}
	}
	if k := AlertKey(&alert.Alert{Src: mapped, Host: "gw01"}); string(k) != "198.51.100.7" {
		t.Errorf("alert key %q", k)
	}
	if k := AlertKey(&alert.Alert{Host: "gw01"}); string(k) != "host:gw01" {
		t.Errorf("alert key %q", k)
	}
	if k := AlertKey(&alert.Alert{}); k != nil {
		t.Errorf("alert key %q", k)
	}
	// The key of an event is allocation-free.
	ev := event.Event{Kind: event.KindAttempt, Src: v6}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = AppendKey(buf[:0], &ev) }); n != 0 {
		t.Errorf("AppendKey allocates %v times", n)
	}
	if !strings.HasPrefix(string(buf), "2001:db8") {
		t.Error(string(buf))
	}
}
