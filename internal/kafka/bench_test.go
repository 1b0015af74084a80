package kafka

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/decode"
)

// benchRecords is the number of records the group benchmarks read:
// 400 000, or KNOCKWATCH_KAFKA_BENCH_RECORDS.
func benchRecords() int {
	if v, err := strconv.Atoi(os.Getenv("KNOCKWATCH_KAFKA_BENCH_RECORDS")); err == nil && v > 0 {
		return v
	}
	return 400_000
}

// busyLines is a busy gateway's firewall log, as hunt's benchmark writes
// it: 4096 sources knocking and probing one host, one line every 20µs of
// event time, keyed by source.
func busyLines(n int) (lines [][]byte, keys [][]byte) {
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range n {
		src := i % 4096
		t := start.Add(time.Duration(i) * 20 * time.Microsecond)
		port := 7000 + (i/4096)%16*1000 + src%7
		addr := fmt.Sprintf("198.51.%d.%d", src/250, src%250+1)
		lines = append(lines, fmt.Appendf(nil, "%s gw01 kernel: KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=%s DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0",
			t.Format("2006-01-02T15:04:05.000000-07:00"), addr, i%65536, 40000+i%20000, port))
		keys = append(keys, []byte(addr))
	}
	return lines, keys
}

// countOutput counts alerts and takes them at once.
type countOutput struct{ n atomic.Int64 }

func (o *countOutput) Submit(_ *alert.Alert, done func()) { o.n.Add(1); done() }
func (o *countOutput) Sync() error                        { return nil }

// BenchmarkGroup measures what one instance and two instances of one
// consumer group read, decode and run the detectors over: records per
// second from a keyed topic of 12 partitions (kfake on 127.0.0.1, in the
// same process, so the broker takes its share of the CPU), from the first
// poll until the detectors have processed every record. Each iteration is
// a new group reading the whole topic.
//
// The instances share one process, so "cores" (GOMAXPROCS) stands in for
// the machines they would run on: cores=instances is one core per
// instance (the scaling ratio is instances=2/cores=2 over
// instances=1/cores=1); cores=NumCPU shows what more instances on the
// same cores give.
func BenchmarkGroup(b *testing.B) {
	n := benchRecords()
	c := newCluster(b, 1, 12, "fw")
	lines, keys := busyLines(n)
	prod := client(b, c, kgo.DefaultProduceTopic("fw"), kgo.ProducerLinger(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	recs := make([]*kgo.Record, 0, 4096)
	for i := range lines {
		recs = append(recs, &kgo.Record{Key: keys[i], Value: lines[i]})
		if len(recs) == cap(recs) || i == len(lines)-1 {
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	var bytes int64
	for _, l := range lines {
		bytes += int64(len(l))
	}
	group := 0
	runs := []struct{ instances, cores int }{{1, 1}, {2, 2}}
	if n := runtime.NumCPU(); n > 2 {
		runs = append(runs, struct{ instances, cores int }{1, n}, struct{ instances, cores int }{2, n})
	} else {
		runs = append(runs, struct{ instances, cores int }{1, n})
	}
	for _, run := range runs {
		instances := run.instances
		b.Run(fmt.Sprintf("instances=%d/cores=%d", instances, run.cores), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(run.cores))
			b.SetBytes(bytes)
			b.ReportAllocs()
			var alerts int64
			for b.Loop() {
				// The group forms with fetching paused, so the timed part
				// is the instances sharing the work (not the first one
				// reading everything alone before the second joins).
				b.StopTimer()
				group++
				k := kafkaInput(c, fmt.Sprintf("bench%d", group), "fw")
				k.CommitInterval = time.Second
				k.SessionTimeout = 10 * time.Second
				var cons []*Consumer
				var dones []chan error
				out := &countOutput{}
				rctx, rcancel := context.WithCancel(context.Background())
				for i := range instances {
					cs, err := NewConsumer(Options{Name: fmt.Sprintf("kw%d", i), Config: testConfig(), Kafka: k, Location: time.UTC, Lateness: testLateness, Output: out})
					if err != nil {
						b.Fatal(err)
					}
					cs.cl.PauseFetchTopics("fw")
					cons = append(cons, cs)
					done := make(chan error, 1)
					go func() { done <- cs.Run(rctx) }()
					dones = append(dones, done)
				}
				waitFor(b, time.Minute, "the group to form", func() bool {
					total := 0
					for _, cs := range cons {
						if cs.assignment() == 0 {
							return false
						}
						total += cs.assignment()
					}
					return total == 12
				})
				b.StartTimer()
				for _, cs := range cons {
					cs.cl.ResumeFetchTopics("fw")
				}
				// Done when the detectors have processed every record: the
				// engines reported the end of every partition.
				for processed(cons) < int64(n) {
					time.Sleep(5 * time.Millisecond)
				}
				b.StopTimer()
				rcancel()
				for _, d := range dones {
					if err := <-d; err != nil {
						b.Fatal(err)
					}
				}
				alerts += out.n.Load()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(alerts)/float64(b.N), "alerts/op")
		})
	}
}

// processed sums the offsets the consumers' engines reported: the
// records the detectors have processed, for topics whose offsets start at 0.
func processed(cons []*Consumer) int64 {
	var n int64
	for _, c := range cons {
		for _, p := range c.owned() {
			p.mu.Lock()
			n += p.reported
			p.mu.Unlock()
		}
	}
	return n
}

// BenchmarkPartition is one partition's pipeline without Kafka: decode,
// put in time order, detect. It is the ceiling of one partition, whoever
// reads it.
func BenchmarkPartition(b *testing.B) {
	n := 200_000
	lines, _ := busyLines(n)
	f, _ := decode.Lookup("syslog")
	k := kafkaInput(newCluster(b, 1, 1, "fw"), "g", "fw")
	var bytes int64
	recs := make([]*kgo.Record, n)
	for i, l := range lines {
		recs[i] = &kgo.Record{Value: l, Offset: int64(i)}
		bytes += int64(len(l))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	for b.Loop() {
		out := &countOutput{}
		cs, err := NewConsumer(Options{Name: "p", Config: testConfig(), Kafka: k, Location: time.UTC, Lateness: testLateness, Output: out})
		if err != nil {
			b.Fatal(err)
		}
		p := cs.newPartition("fw", 0, 0, noMeta, f)
		for i := 0; i < n; i += 2048 {
			j := min(i+2048, n)
			p.in <- chunk{recs: recs[i:j], hwm: int64(n)}
		}
		if !p.stop(time.Minute) {
			b.Fatal("did not settle")
		}
		cs.cl.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
