package kafka

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
)

// oneKnock hunts the correlate package's one-knock folder (client, wire
// and daemon evidence of one knock) and returns the incident a hunt makes
// and the alerts a group of sensors would have written to the alerts
// topic instead: the members on their own, and the daemon inventory
// finding.
func oneKnock(t *testing.T) (*alert.Alert, []*alert.Alert) {
	t.Helper()
	res, err := hunt.Run(context.Background(), hunt.Options{Paths: []string{"../correlate/testdata/one-knock"}, Config: config.Default(), Location: time.UTC, Year: 2026})
	if err != nil {
		t.Fatal(err)
	}
	var inc *alert.Alert
	var alerts []*alert.Alert
	for _, a := range res.Alerts {
		if a.Kind != "incident" {
			alerts = append(alerts, a)
			continue
		}
		if inc != nil {
			t.Fatal("the hunt made two incidents")
		}
		inc = a
		for _, m := range a.MemberAlerts {
			x := *m
			x.Incident = ""
			alerts = append(alerts, &x)
		}
	}
	if inc == nil || len(inc.Members) < 3 {
		t.Fatalf("the hunt made no incident of three branches: %+v", inc)
	}
	return inc, alerts
}

// fakeClock is the wall clock plus a skew the test moves.
type fakeClock struct{ skew atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.skew.Add(int64(d)) }
func runCorrelator(t *testing.T, opts CorrelatorOptions) (*Correlator, func()) {
	t.Helper()
	c, err := NewCorrelator(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return c, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("correlator: %v", err)
		}
	}
}

// TestCorrelator: the members of one knock, spread over the partitions of
// the alerts topic by their keys as a group's sensors write them (each one
// twice, as after a sensor's crash, and among records that are not
// alerts), make exactly the incident a hunt over the same evidence makes,
// produced once. A correlator stopped before the incident could be made
// commits nothing past its members, and the one that takes over makes it.
func TestCorrelator(t *testing.T) {
	want, alerts := oneKnock(t)
	c := newCluster(t, 1, 12, "alerts", "incidents")
	prod := client(t, c)
	var recs []*kgo.Record
	for _, a := range alerts {
		r, err := alertRecord(a)
		if err != nil {
			t.Fatal(err)
		}
		r.Topic = "alerts"
		recs = append(recs, r)
	}
	for _, r := range slices.Clone(recs) {
		x := *r
		recs = append(recs, &x)
	}
	recs = append(recs, &kgo.Record{Topic: "alerts", Key: []byte("198.51.100.7"), Value: []byte(`{"not": "an alert"`)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	parts := map[int32]bool{}
	for _, r := range recs {
		parts[r.Partition] = true
	}
	if len(parts) < 2 {
		t.Fatalf("the members went to %d partition(s); the test wants them spread", len(parts))
	}

	clock := &fakeClock{}
	opts := CorrelatorOptions{
		Conn: config.KafkaConn{Brokers: c.ListenAddrs()}, From: "alerts", To: "incidents", StartAt: "beginning",
		Lateness: time.Second, IdleTick: 20 * time.Millisecond, CommitInterval: 50 * time.Millisecond, Now: clock.now,
	}

	// The first instance reads everything, but its clock stands still:
	// the incident could still grow, so it makes none and commits no
	// offset past a member.
	first, stop := runCorrelator(t, opts)
	waitFor(t, 30*time.Second, "the first correlator to read every record", func() bool {
		return first.Stats().Records == int64(len(recs))
	})
	stop()
	if s := first.Stats(); s.Incidents != 0 || s.Duplicates != int64(len(alerts)) || s.Bad != 1 {
		t.Fatalf("first correlator: %+v; want no incident, %d duplicates, 1 bad record", s, len(alerts))
	}
	for p, off := range committed(t, prod, "knockwatch-correlate", "alerts") {
		for _, r := range recs[:len(alerts)] {
			if r.Partition == p && r.Offset < off {
				t.Errorf("partition %d committed at %d, past the member at offset %d", p, off, r.Offset)
			}
		}
	}

	// The second takes over; its clock runs past the window.
	second, stop := runCorrelator(t, opts)
	waitFor(t, 30*time.Second, "the second correlator to read every record", func() bool {
		return second.Stats().Records >= int64(len(alerts))
	})
	clock.advance(10 * time.Minute)
	waitFor(t, 30*time.Second, "the incident", func() bool { return second.Stats().Produced >= 1 })
	waitFor(t, 30*time.Second, "the offsets to be committed to the end", func() bool {
		ends := endOffsets(t, prod, "alerts")
		got := committed(t, prod, "knockwatch-correlate", "alerts")
		for p, e := range ends {
			if e > 0 && got[p] != e {
				return false
			}
		}
		return true
	})
	stop()
	t.Logf("first: %+v", first.Stats())
	t.Logf("second: %+v", second.Stats())

	out := readAll(t, c, "incidents")
	var got []*kgo.Record
	for _, rs := range out {
		got = append(got, rs...)
	}
	if len(got) != 1 {
		t.Fatalf("%d incidents produced, want 1", len(got))
	}
	wantB, err := want.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got[0].Value, &g); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(wantB, &w)
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("the incident differs from the hunt's:\n got %s\nwant %s", gb, wb)
	}
	if string(got[0].Key) != string(AlertKey(want)) {
		t.Errorf("incident key %q, want %q", got[0].Key, AlertKey(want))
	}
}
