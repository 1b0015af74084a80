package engine

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/source"
)

const scenarios = "../hunt/testdata/scenarios"

// decodeFile decodes a scenario's input.log into batches of at most per
// events, as a follower would deliver them.
func decodeFile(t testing.TB, path string, input uint32, per int) [][]event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	format, err := decode.Lookup("syslog")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	dec := format.New(decode.Options{Input: input, Location: time.UTC, Reference: st.ModTime()})
	var out [][]event.Event
	var cur []event.Event
	sc := bufio.NewScanner(f)
	line := uint64(0)
	for sc.Scan() {
		line++
		cur, _ = dec.Decode(sc.Bytes(), event.Origin{Input: input, Index: line}, cur)
		if len(cur) >= per {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func batchOf(evs []event.Event) *source.Batch {
	b := source.NewBatch()
	b.Events = append(b.Events, evs...)
	return b
}

type collector struct {
	mu     sync.Mutex
	alerts []*alert.Alert
}

func (c *collector) add(a *alert.Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
}

func (c *collector) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.alerts {
		out = append(out, a.ID)
	}
	slices.Sort(out)
	return out
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.alerts)
}

type names []string

func (n names) Resolve(o event.Origin) string {
	return fmt.Sprintf("%s:%d", n[o.Input], o.Index)
}

// huntIDs runs the batch engine over the same events, as a hunt does.
func huntIDs(t *testing.T, batches [][]event.Event, origins names) []string {
	t.Helper()
	var c collector
	e := New(config.Default(), Options{Shards: 2, Origins: origins, Alerts: c.add})
	for _, evs := range batches {
		for i := range evs {
			e.Route(&evs[i])
		}
		e.Advance(e.watermark)
	}
	e.Close()
	return c.ids()
}

// TestLiveMatchesHunt: every scenario followed as one lane, judged by the
// idle tick alone (no flush), gives the alerts a hunt gives.
func TestLiveMatchesHunt(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(scenarios, "*", "input.log"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, in := range dirs {
		name := filepath.Base(filepath.Dir(in))
		t.Run(name, func(t *testing.T) {
			batches := decodeFile(t, in, 0, 7)
			origins := names{name}
			want := huntIDs(t, batches, origins)
			if strings.HasPrefix(name, "knock") && len(want) == 0 {
				t.Fatalf("the hunt finds nothing in %s", in)
			}
			synctest.Test(t, func(t *testing.T) {
				var c collector
				l := NewLive(config.Default(), LiveOptions{
					Options:  Options{Shards: 2, Origins: origins, Alerts: c.add},
					Lateness: time.Second, IdleTick: 250 * time.Millisecond,
				})
				ln := l.OpenBacklogLane(name)
				ctx := context.Background()
				for i, evs := range batches {
					if err := ln.Send(ctx, LiveBatch{Batch: batchOf(evs), CaughtUp: i == len(batches)-1}); err != nil {
						t.Fatal(err)
					}
				}
				// Quiet time: longer than any deadline the detectors keep
				// (daemon windows are ten minutes).
				time.Sleep(30 * time.Minute)
				synctest.Wait()
				l.Stop()
				if got := c.ids(); !slices.Equal(got, want) {
					t.Errorf("live alerts %v\nhunt alerts %v", got, want)
				}
				if n := l.Stats().Late.Load(); n != 0 {
					t.Errorf("%d late events from one lane", n)
				}
			})
		})
	}
}

// TestIdleTickJudgesQuietKnock: a knock with nothing after it is judged
// about settle+lateness after its last packet, and not before.
func TestIdleTickJudgesQuietKnock(t *testing.T) {
	batches := decodeFile(t, filepath.Join(scenarios, "knock-default", "input.log"), 0, 1000)
	if len(batches) != 1 {
		t.Fatalf("want one batch, got %d", len(batches))
	}
	synctest.Test(t, func(t *testing.T) {
		var c collector
		var mu sync.Mutex
		var marks []any
		l := NewLive(config.Default(), LiveOptions{
			Options:  Options{Shards: 1, Origins: names{"k"}, Alerts: c.add},
			Lateness: time.Second, IdleTick: 100 * time.Millisecond,
			Progress: func(p Progress) {
				mu.Lock()
				for _, m := range p.Marks {
					marks = append(marks, m.Mark)
				}
				mu.Unlock()
			},
		})
		ln := l.OpenBacklogLane("k")
		if err := ln.Send(context.Background(), LiveBatch{Batch: batchOf(batches[0]), Mark: 42, CaughtUp: true}); err != nil {
			t.Fatal(err)
		}
		// settle_min is 500ms, lateness 1s: nothing before 1.5s of quiet.
		time.Sleep(1200 * time.Millisecond)
		synctest.Wait()
		if n := c.len(); n != 0 {
			t.Fatalf("%d alert(s) after 1.2s of quiet, want none yet", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := c.len(); n != 1 {
			t.Fatalf("%d alert(s) after 2.2s of quiet, want 1", n)
		}
		l.Stop()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(marks, []any{42}) {
			t.Errorf("marks %v, want [42]", marks)
		}
	})
}

func knockEvent(t time.Time, src string, port uint16, input uint32, idx uint64) event.Event {
	return event.Event{
		Time: t.UnixNano(), Origin: event.Origin{Input: input, Index: idx},
		Kind: event.KindAttempt, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr("203.0.113.10"),
		SrcPort: 40000 + port%1000, DstPort: port, Proto: event.ProtoTCP, TCPFlags: event.FlagSYN, Action: event.ActionDenied,
	}
}

// TestLanesMergedWithinLateness: one knock whose packets are logged by two
// inputs that deliver out of order (within the lateness) is seen in time
// order; an event later than the lateness is counted late and still used.
func TestLanesMergedWithinLateness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c collector
		var mu sync.Mutex
		var order []uint64
		base := time.Now()
		l := NewLive(config.Default(), LiveOptions{
			Options: Options{Shards: 1, Origins: names{"a", "b"}, Alerts: func(a *alert.Alert) {
				c.add(a)
				mu.Lock()
				defer mu.Unlock()
				for _, e := range a.Evidence {
					var idx uint64
					fmt.Sscanf(e[strings.IndexByte(e, ':')+1:], "%d", &idx)
					order = append(order, idx)
				}
			}},
			Lateness: 2 * time.Second, IdleTick: 100 * time.Millisecond,
		})
		a, b := l.OpenLane("a"), l.OpenLane("b")
		ctx := context.Background()
		send := func(ln *Lane, ev event.Event) {
			bt := source.NewBatch()
			bt.Events = append(bt.Events, ev)
			if err := ln.Send(ctx, LiveBatch{Batch: bt, CaughtUp: true}); err != nil {
				t.Fatal(err)
			}
		}
		// b's knocks at +0 and +200ms arrive after a's at +100ms and +300ms.
		send(a, knockEvent(base.Add(100*time.Millisecond), "198.51.100.7", 8000, 0, 2))
		time.Sleep(10 * time.Millisecond)
		send(a, knockEvent(base.Add(300*time.Millisecond), "198.51.100.7", 10000, 0, 4))
		time.Sleep(500 * time.Millisecond)
		send(b, knockEvent(base, "198.51.100.7", 7000, 1, 1))
		send(b, knockEvent(base.Add(200*time.Millisecond), "198.51.100.7", 9000, 1, 3))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if n := c.len(); n != 1 {
			t.Fatalf("%d alerts, want 1 knock", n)
		}
		c.mu.Lock()
		seq := alert.SequenceString(c.alerts[0].Sequence)
		c.mu.Unlock()
		if seq != "7000/tcp,8000/tcp,9000/tcp,10000/tcp" {
			t.Errorf("sequence %s, want the four ports in time order", seq)
		}
		if n := l.Stats().Late.Load(); n != 0 {
			t.Errorf("late = %d, want 0", n)
		}
		// Minutes later, an event from before the watermark: late.
		send(b, knockEvent(base.Add(time.Second), "198.51.100.9", 7000, 1, 9))
		time.Sleep(time.Second)
		synctest.Wait()
		if n := l.Stats().Late.Load(); n != 1 {
			t.Errorf("late = %d, want 1", n)
		}
		l.Stop()
	})
}

// TestReconfigureKeepsState: a knock half seen before a reload and
// finished after it is one knock, judged with the new configuration.
func TestReconfigureKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c collector
		base := time.Now()
		l := NewLive(config.Default(), LiveOptions{
			Options:  Options{Shards: 2, Origins: names{"a"}, Alerts: c.add},
			Lateness: 0, IdleTick: 100 * time.Millisecond,
		})
		ln := l.OpenBacklogLane("a")
		ctx := context.Background()
		send := func(ev event.Event) {
			bt := source.NewBatch()
			bt.Events = append(bt.Events, ev)
			if err := ln.Send(ctx, LiveBatch{Batch: bt}); err != nil {
				t.Fatal(err)
			}
		}
		send(knockEvent(base, "198.51.100.7", 7000, 0, 1))
		send(knockEvent(base.Add(100*time.Millisecond), "198.51.100.7", 8000, 0, 2))
		cfg := config.Default()
		cfg.Authorized = []config.Authorized{{Name: "ops", Ports: []config.PortSpec{{Port: 7000, Proto: event.ProtoTCP}, {Port: 8000, Proto: event.ProtoTCP}, {Port: 9000, Proto: event.ProtoTCP}}}}
		kept, err := l.Reconfigure(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if len(kept) != 0 {
			t.Errorf("detectors that cannot reload: %v", kept)
		}
		send(knockEvent(base.Add(200*time.Millisecond), "198.51.100.7", 9000, 0, 3))
		// The lane never says it caught up: only events move time.
		send(knockEvent(base.Add(time.Minute), "192.0.2.1", 22, 0, 4))
		time.Sleep(time.Second)
		synctest.Wait()
		l.Stop()
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.alerts) != 1 {
			t.Fatalf("%d alerts, want 1", len(c.alerts))
		}
		a := c.alerts[0]
		if !a.Authorized || a.AuthorizedAs != "ops" || len(a.Sequence) != 3 {
			t.Errorf("alert %s authorized=%v as %q, %d knocks; want the whole knock authorized as ops", a.ID, a.Authorized, a.AuthorizedAs, len(a.Sequence))
		}
	})
}

// TestClockSkewClamped: an event dated an hour ahead does not drag the
// watermark an hour ahead.
func TestClockSkewClamped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c collector
		now := time.Now()
		l := NewLive(config.Default(), LiveOptions{
			Options:      Options{Shards: 1, Origins: names{"a"}, Alerts: c.add},
			MaxClockSkew: time.Minute, IdleTick: 100 * time.Millisecond,
		})
		ln := l.OpenLane("a")
		bt := source.NewBatch()
		bt.Events = append(bt.Events, knockEvent(now.Add(time.Hour), "198.51.100.7", 7000, 0, 1))
		if err := ln.Send(context.Background(), LiveBatch{Batch: bt}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		if n := l.Stats().Clamped.Load(); n != 1 {
			t.Errorf("clamped = %d, want 1", n)
		}
		if wm := time.Unix(0, l.Stats().Watermark.Load()); wm.After(now.Add(time.Minute + time.Second)) {
			t.Errorf("watermark %s is more than the skew ahead of %s", wm, now)
		}
		l.Stop()
	})
}

// TestMaxQueuedBoundsMemory: a lane that never catches up cannot make the
// other lane's events pile up without bound.
func TestMaxQueuedBoundsMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c collector
		base := time.Now()
		l := NewLive(config.Default(), LiveOptions{
			Options:   Options{Shards: 1, Origins: names{"a", "b"}, Alerts: c.add},
			MaxQueued: 100, Lateness: time.Second, IdleTick: 100 * time.Millisecond,
		})
		slow, fast := l.OpenBacklogLane("slow"), l.OpenLane("fast")
		ctx := context.Background()
		bt := source.NewBatch()
		bt.Events = append(bt.Events, knockEvent(base, "192.0.2.1", 22, 0, 1))
		if err := slow.Send(ctx, LiveBatch{Batch: bt}); err != nil { // not caught up: holds the frontier
			t.Fatal(err)
		}
		for i := range 10 {
			bt := source.NewBatch()
			for j := range 50 {
				bt.Events = append(bt.Events, knockEvent(base.Add(time.Duration(i*50+j+1)*time.Millisecond), "198.51.100.7", uint16(1000+j), 1, uint64(i*50+j)))
			}
			if err := fast.Send(ctx, LiveBatch{Batch: bt}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if q := l.Stats().Queued.Load(); q > 150 {
			t.Errorf("%d events queued, want at most about MaxQueued", q)
		}
		if l.Stats().Forced.Load() == 0 {
			t.Error("no forced release")
		}
		l.Stop()
	})
}
