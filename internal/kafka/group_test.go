package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
)

const testLateness = 2 * time.Second

// instance is one knockwatch consumer of a test group.
type instance struct {
	c      *Consumer
	out    *capture
	dialer *severableDialer
	cancel context.CancelFunc
	done   chan error
}

func startInstance(t *testing.T, name string, k config.KafkaInput) *instance {
	t.Helper()
	in := &instance{out: newCapture(), dialer: &severableDialer{}, done: make(chan error, 1)}
	c, err := NewConsumer(Options{
		Name: name, Config: testConfig(), Kafka: k, Location: time.UTC, Lateness: testLateness,
		ReportTick: 50 * time.Millisecond, Output: in.out,
		Logger:     testLogger(t, name),
		ClientOpts: []kgo.Opt{kgo.Dialer(in.dialer.dial)},
	})
	if err != nil {
		t.Fatal(err)
	}
	in.c = c
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-in.done:
		case <-time.After(30 * time.Second):
			t.Errorf("instance %s did not stop", name)
		}
	})
	return in
}

// reference runs each partition's records through a partition pipeline
// without Kafka, from its first record: what the group must report.
func reference(t *testing.T, k config.KafkaInput, topic string, recs map[int32][]*kgo.Record) map[string]string {
	t.Helper()
	out := newCapture()
	c, err := NewConsumer(Options{Name: "reference", Config: testConfig(), Kafka: k, Location: time.UTC, Lateness: testLateness, ReportTick: 50 * time.Millisecond, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	defer c.cl.Close()
	f, _ := decode.Lookup("syslog")
	for part, rs := range recs {
		p := c.newPartition(topic, part, rs[0].Offset, noMeta, f)
		p.in <- chunk{recs: rs, hwm: rs[len(rs)-1].Offset + 1}
		if !p.stop(time.Minute) {
			t.Fatal("reference pipeline did not settle")
		}
	}
	ref := map[string]string{}
	for id, encs := range out.byID {
		for _, e := range encs[1:] {
			if e != encs[0] {
				t.Errorf("reference: id %s with two contents:\n%s%s", id, encs[0], e)
			}
		}
		ref[id] = encs[0]
	}
	return ref
}

// TestGroupKillOneInstance: a mixed stream with known knocks goes through
// `knockwatch route` (an unkeyed topic re-keyed by source) into a topic of
// 12 partitions read by 3 instances of one group, on a Kafka-protocol
// cluster of 3 brokers over TCP on 127.0.0.1. One instance is killed
// (SIGKILL-like: no commit, no handover, no leave) in the middle of the
// stream; the group rebalances and the survivors take its partitions
// over. Every alert a per-partition reference run finds is reported at
// least once, no alert id is reported with two contents, and no alert is
// reported that the reference does not have. Startup rebalances (members
// joining one after the other) exercise the clean handover as well.
func TestGroupKillOneInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	c := newCluster(t, 3, 12, "fw")
	s := makeStream(7, 40*time.Minute, 120)
	prod := client(t, c)
	// One partition for the collector's topic keeps the keyed topic in
	// time order: this test writes 40 minutes of events in seconds, so a
	// few milliseconds between the router's reads of several partitions
	// would be minutes of event time (TestRouter covers several).
	createTopic(t, prod, "raw", 1)

	syslogFormat, _ := decode.Lookup("syslog")
	r, err := NewRouter(RouterOptions{
		Conn: config.KafkaConn{Brokers: c.ListenAddrs()}, From: "raw", To: "fw", Group: "route",
		StartAt: "beginning", Format: syslogFormat, Location: time.UTC, NoSourcePartition: -1,
		Logger: testLogger(t, "route"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan error, 1)
	go func() { rdone <- r.Run(rctx) }()
	defer func() {
		rcancel()
		if err := <-rdone; err != nil {
			t.Errorf("router: %v", err)
		}
	}()

	k := kafkaInput(c, "kw", "fw")
	third := len(s.lines) / 3
	// kw0 alone reads the first third...
	insts := []*instance{startInstance(t, "kw0", k)}
	produce(t, prod, "raw", s.lines[:third])
	waitFor(t, time.Minute, "kw0 to read and commit", func() bool {
		for _, m := range committedMeta(t, prod, "kw", "fw") {
			if m.Resume > 0 {
				return insts[0].c.records.Load() > int64(third/2)
			}
		}
		return false
	})
	// ...then two more join: kw0 hands partitions over (cooperative
	// rebalance, clean revoke) while the second third arrives.
	insts = append(insts, startInstance(t, "kw1", k), startInstance(t, "kw2", k))
	waitFor(t, time.Minute, "the three to share the partitions", func() bool {
		return len(insts[0].c.owned()) <= 4 && insts[0].c.revoked.Load() > 0
	})
	produce(t, prod, "raw", s.lines[third:2*third])
	victim := insts[1]
	// Kill kw1 mid-stream: once it owns partitions and has committed
	// progress for each of them (with state held and alerts sent since).
	waitFor(t, time.Minute, "kw1 to be mid-stream", func() bool {
		owned := victim.c.owned()
		if len(owned) == 0 || victim.out.count() == 0 {
			return false
		}
		metas := committedMeta(t, prod, "kw", "fw")
		for _, p := range owned {
			if metas[p.part].Resume <= p.seed.Resume || p.committed.Load() < 0 {
				return false
			}
		}
		return true
	})
	// The last third arrives while kw1 reads it: kill it in the middle.
	before := victim.c.records.Load()
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produce(t, prod, "raw", s.lines[2*third:])
	}()
	waitFor(t, time.Minute, "kw1 to read part of the last third", func() bool {
		return victim.c.records.Load() > before+300
	})
	owned := len(victim.c.owned())
	victim.c.crash(victim.dialer, victim.out, victim.cancel)
	t.Logf("killed kw1 owning %d partitions after %d records and %d alerts", owned, victim.c.records.Load(), victim.out.count())
	<-produced

	waitFor(t, time.Minute, "the router to route every line", func() bool {
		return r.Stats().Produced == int64(len(s.lines))
	})
	// A last record on every partition, an hour later, moves event time
	// past everything so every knock is judged (in production, idle ticks
	// do this on a quiet partition).
	marker := s.end.Add(time.Hour)
	mp := client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(12) {
		line := nfLine(marker, "ACCEPT", fmt.Sprintf("192.0.2.%d", 100+p), "203.0.113.10", "TCP", 44000, 443)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := mp.ProduceSync(ctx, &kgo.Record{Topic: "fw", Partition: p, Value: []byte(line)}).FirstErr()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	ends := endOffsets(t, prod, "fw")
	// Done when every partition's commit says all its records were
	// processed and their alerts delivered.
	waitFor(t, 2*time.Minute, "every partition to be committed with its last record delivered", func() bool {
		got := committedMeta(t, prod, "kw", "fw")
		for p, e := range ends {
			if got[p].Resume < e {
				return false
			}
		}
		return true
	})
	for i, in := range insts {
		if i == 1 {
			continue
		}
		in.cancel()
		if err := <-in.done; err != nil {
			t.Errorf("kw%d: %v", i, err)
		}
		in.done <- nil // for the cleanup
	}

	// What the group reported, by id.
	got := map[string][]string{}
	reports := 0
	for _, in := range insts {
		for id, encs := range in.out.byID {
			got[id] = append(got[id], encs...)
			reports += len(encs)
		}
	}
	recs := readAll(t, c, "fw")
	ref := reference(t, k, "fw", recs)

	// The generator's knocks are all in the reference (else the test
	// proves nothing about them).
	bySrc := map[string][][]uint16{}
	for _, enc := range ref {
		var a alert.Alert
		if err := json.Unmarshal([]byte(enc), &a); err != nil {
			t.Fatal(err)
		}
		if a.Detector == "sequence" && a.Src.IsValid() {
			var ports []uint16
			for _, k := range a.Sequence {
				ports = append(ports, k.Port)
			}
			bySrc[a.Src.String()] = append(bySrc[a.Src.String()], ports)
		}
	}
	for _, kn := range s.knocks {
		if !slices.ContainsFunc(bySrc[kn.src], func(p []uint16) bool { return slices.Equal(p, kn.ports) }) {
			t.Errorf("known knock %s %v: no sequence alert (got %v)", kn.src, kn.ports, bySrc[kn.src])
		}
	}

	var missing, extra, conflicting []string
	dups := 0
	for id, want := range ref {
		encs, ok := got[id]
		if !ok {
			missing = append(missing, id+" "+summary(want))
			continue
		}
		dups += len(encs) - 1
		for _, e := range encs {
			if e != want {
				conflicting = append(conflicting, fmt.Sprintf("%s:\n  want %s  got  %s", id, want, e))
				break
			}
		}
	}
	for id, encs := range got {
		if _, ok := ref[id]; !ok {
			extra = append(extra, id+" "+summary(encs[0]))
		}
	}
	t.Logf("stream: %d lines, %d known knocks; reference: %d alerts; reported: %d reports of %d ids (%d sent twice or more)",
		len(s.lines), len(s.knocks), len(ref), reports, len(got), dups)
	for i, in := range insts {
		t.Logf("kw%d: assigned %d, revoked %d, lost %d, records %d, replayed %d, alerts %d, suppressed %d, premature %d, late events %d, commits %d ok / %d failed",
			i, in.c.assigned.Load(), in.c.revoked.Load(), in.c.lost.Load(), in.c.records.Load(), in.c.replayed.Load(),
			in.c.alerts.Load(), in.c.suppressed.Load(), in.c.handedOver.Load(), in.c.late.Load(), in.c.commitsOK.Load(), in.c.commitsFailed.Load())
	}
	if len(missing) > 0 {
		t.Errorf("%d alerts of the reference never reported:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	if len(conflicting) > 0 {
		t.Errorf("%d ids reported with another content than the reference's:\n%s", len(conflicting), strings.Join(conflicting, "\n"))
	}
	if len(extra) > 0 {
		t.Errorf("%d alerts reported that the reference does not have:\n%s", len(extra), strings.Join(extra, "\n"))
	}
	if len(ref) < len(s.knocks) {
		t.Errorf("reference has %d alerts, fewer than the %d knocks", len(ref), len(s.knocks))
	}
	var replayed, suppressed int64
	for _, in := range insts {
		replayed += in.c.replayed.Load()
		suppressed += in.c.suppressed.Load()
	}
	if replayed == 0 || suppressed == 0 {
		t.Errorf("%d records replayed, %d alerts suppressed: the takeovers did not use the committed metadata", replayed, suppressed)
	}
	if insts[0].c.revoked.Load() == 0 {
		t.Error("kw0 handed no partition over when the others joined")
	}
}

// testLogger logs warnings (and everything with -v and KW_DEBUG=1).
func testLogger(t *testing.T, name string) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("KW_DEBUG") != "" {
		level = slog.LevelDebug - 1
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level})).With("instance", name)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func summary(enc string) string {
	var a alert.Alert
	if err := json.Unmarshal([]byte(enc), &a); err != nil {
		return enc
	}
	return fmt.Sprintf("%s %s %s>%s %s %s", a.Time.Format(time.RFC3339Nano), a.Detector, a.Src, a.Dst, alert.SequenceString(a.Sequence), a.Summary)
}
