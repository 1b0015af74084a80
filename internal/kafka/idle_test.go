package kafka

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// TestIdleTick: on a live partition that goes quiet after a knock, the
// knock is judged about its settle time plus the lateness after its last
// packet, without waiting for another record: while a partition is caught
// up and quiet, its event time moves on with the clock.
func TestIdleTick(t *testing.T) {
	c := newCluster(t, 1, 4, "fw")
	k := kafkaInput(c, "kw", "fw")
	k.IdleTick = 100 * time.Millisecond
	out := newCapture()
	cons, err := NewConsumer(Options{Name: "kafka", Config: testConfig(), Kafka: k, Location: time.UTC, Lateness: testLateness, ReportTick: 50 * time.Millisecond, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	prod := client(t, c, kgo.DefaultProduceTopic("fw"))
	send := func(line string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("198.51.100.7"), Value: []byte(line)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: the group is joined and the partition read.
	send(nfLine(time.Now(), "ACCEPT", "198.51.100.7", "203.0.113.10", "TCP", 40000, 443))
	waitFor(t, 30*time.Second, "the partition to be read", func() bool { return cons.records.Load() == 1 })
	var last time.Time
	for _, p := range []int{7013, 8091, 9039} {
		last = time.Now()
		send(nfLine(last, "DROP", "198.51.100.7", "203.0.113.10", "TCP", 40000, p))
		time.Sleep(150 * time.Millisecond)
	}
	waitFor(t, 15*time.Second, "the knock's alert with no record after it", func() bool { return out.count() > 0 })
	latency := time.Since(last)
	t.Logf("alert %s after the last knock (lateness %s, idle tick %s)", latency.Round(time.Millisecond), testLateness, k.IdleTick)
	for _, encs := range out.byID {
		var a alert.Alert
		json.Unmarshal([]byte(encs[0]), &a)
		if a.Detector != "sequence" || len(a.Sequence) != 3 {
			t.Errorf("alert %s", encs[0])
		}
	}
	if latency > testLateness+3*time.Second {
		t.Errorf("alert %s after the last knock", latency)
	}
}
