package kafka

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

// TestMurmur2IsKafkas: the router's partitioner hashes keys exactly as
// Kafka's Java client does. The vectors are those of Apache Kafka's
// UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/common/
// utils/UtilsTest.java); the partition is the hash with its sign bit
// cleared, modulo the partition count.
func TestMurmur2IsKafkas(t *testing.T) {
	p := routePartitioner{fixed: -1}.ForTopic("t")
	for key, java := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		n := 1<<31 - 1
		if got, want := p.Partition(&kgo.Record{Key: []byte(key)}, n), int(uint32(java)&0x7fffffff)%n; got != want {
			t.Errorf("%q: partition %d, want %d", key, got, want)
		}
	}
	fixed := routePartitioner{fixed: 5}.ForTopic("t")
	if got := fixed.Partition(&kgo.Record{Key: []byte("x"), Context: fixedPartition}, 12); got != 5 {
		t.Errorf("fixed partition: %d", got)
	}
}

// noAddrFormat decodes every line to one process event without an address,
// or to nothing for a line starting with "-".
var noAddrFormat = decode.Format{Name: "test-noaddr", New: func(decode.Options) decode.Decoder { return noAddrDecoder{} }}

type noAddrDecoder struct{}

func (noAddrDecoder) Decode(rec []byte, o event.Origin, dst []event.Event) ([]event.Event, error) {
	if bytes.HasPrefix(rec, []byte("-")) {
		return dst, nil
	}
	return append(dst, event.Event{Kind: event.KindProcess, Time: 1, Origin: o}), nil
}

func startRouter(t *testing.T, opts RouterOptions) *Router {
	t.Helper()
	r, err := NewRouter(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	return r
}

// TestRouter: records of an unkeyed topic of 3 partitions come out in a
// keyed topic of 12, unchanged, each on the partition of its source's
// canonical address under Kafka's murmur2 partitioner (a knock daemon's
// lines on their host's), in time order per partition; records without
// events are forwarded unkeyed, and every input offset is committed.
func TestRouter(t *testing.T) {
	c := newCluster(t, 1, 12, "keyed")
	cl := client(t, c)
	createTopic(t, cl, "raw", 3)
	s := makeStream(3, 5*time.Minute, 20)
	syslog, _ := decode.Lookup("syslog")
	r := startRouter(t, RouterOptions{
		Conn: config.KafkaConn{Brokers: c.ListenAddrs()}, From: "raw", To: "keyed", StartAt: "beginning",
		Format: syslog, Location: time.UTC, NoSourcePartition: -1,
	})
	start := time.Now()
	produce(t, cl, "raw", s.lines)
	waitFor(t, time.Minute, "every line routed", func() bool { return r.Stats().Produced == int64(len(s.lines)) })
	t.Logf("routed %d lines in %s: %+v", len(s.lines), time.Since(start).Round(time.Millisecond), r.Stats())

	part := routePartitioner{fixed: -1}.ForTopic("keyed")
	dec := syslog.New(decode.Options{Location: time.UTC})
	recs := readAll(t, c, "keyed")
	seen := map[string]bool{}
	unkeyed, n := 0, 0
	for p, rs := range recs {
		last := int64(minTime)
		for _, rec := range rs {
			n++
			seen[string(rec.Value)] = true
			evs, _ := dec.Decode(rec.Value, event.Origin{}, nil)
			if len(evs) == 0 {
				if rec.Key != nil {
					t.Errorf("record without events has key %q: %s", rec.Key, rec.Value)
				}
				unkeyed++
				continue
			}
			want, _ := AppendKey(nil, &evs[0])
			if !bytes.Equal(rec.Key, want) {
				t.Errorf("key %q, want %q: %s", rec.Key, want, rec.Value)
			}
			if !bytes.HasPrefix(rec.Key, []byte("host:")) {
				if a, err := netip.ParseAddr(string(rec.Key)); err != nil || a.Is4In6() || a.Zone() != "" {
					t.Errorf("key %q is not a canonical address", rec.Key)
				}
			}
			if w := part.Partition(&kgo.Record{Key: rec.Key}, 12); int32(w) != p {
				t.Errorf("key %q on partition %d, murmur2 says %d", rec.Key, p, w)
			}
			if evs[0].Time < last {
				t.Errorf("partition %d out of time order at offset %d", p, rec.Offset)
			}
			last = evs[0].Time
		}
	}
	if n != len(s.lines) || len(seen) != len(s.lines) {
		t.Errorf("%d records (%d distinct) out, %d lines in", n, len(seen), len(s.lines))
	}
	if int64(unkeyed) != r.Stats().Unmatched || unkeyed == 0 {
		t.Errorf("%d unkeyed records, router counted %d unmatched", unkeyed, r.Stats().Unmatched)
	}
	waitFor(t, 10*time.Second, "every input offset committed", func() bool {
		got, ends := committed(t, cl, "knockwatch-route", "raw"), endOffsets(t, cl, "raw")
		for p, e := range ends {
			if got[p] != e {
				return false
			}
		}
		return true
	})
}

// TestRouterNoSource: records whose events name no address go to one key
// or one partition; records without events are dropped when asked.
func TestRouterNoSource(t *testing.T) {
	for _, tc := range []struct {
		name      string
		partition int32
		drop      bool
	}{{"key", -1, false}, {"partition", 7, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 1, 12, "raw", "keyed")
			cl := client(t, c)
			r := startRouter(t, RouterOptions{
				Conn: config.KafkaConn{Brokers: c.ListenAddrs()}, From: "raw", To: "keyed", StartAt: "beginning",
				Format: noAddrFormat, NoSourceKey: "nokey", NoSourcePartition: tc.partition, DropUnmatched: tc.drop,
			})
			var lines []string
			for i := range 200 {
				if i%4 == 0 {
					lines = append(lines, fmt.Sprintf("- nothing %d", i))
				} else {
					lines = append(lines, fmt.Sprintf("process %d", i))
				}
			}
			produce(t, cl, "raw", lines)
			want := int64(150)
			if !tc.drop {
				want = 200
			}
			waitFor(t, 30*time.Second, "routing", func() bool { return r.Stats().Produced == want })
			st := r.Stats()
			if st.NoSource != 150 || (tc.drop && st.Dropped != 50) || (!tc.drop && st.Unmatched != 50) {
				t.Errorf("stats %+v", st)
			}
			wantPart := int32(tc.partition)
			if tc.partition < 0 {
				wantPart = int32(routePartitioner{fixed: -1}.ForTopic("keyed").Partition(&kgo.Record{Key: []byte("nokey")}, 12))
			}
			for p, rs := range readAll(t, c, "keyed") {
				for _, rec := range rs {
					if strings.HasPrefix(string(rec.Value), "process") && p != wantPart {
						t.Fatalf("no-source record on partition %d, want %d", p, wantPart)
					}
				}
			}
		})
	}
}

// TestLibrdkafkaPartitioner runs kcat (librdkafka) against the same
// cluster: with partitioner=murmur2_random it puts every key where the
// router does; with librdkafka's default (consistent_random, CRC32) most
// keys land elsewhere — the reason collectors that key records themselves
// must be told to use murmur2 (docs/deploy-kafka.md).
func TestLibrdkafkaPartitioner(t *testing.T) {
	kcat := testutil.RequireTool(t, "kcat")
	c := newCluster(t, 1, 12, "murmur", "default")
	var in bytes.Buffer
	var keys []string
	for i := range 200 {
		k := fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250)
		keys = append(keys, k)
		fmt.Fprintf(&in, "%s|line %d\n", k, i)
	}
	for topic, extra := range map[string][]string{"murmur": {"-X", "topic.partitioner=murmur2_random"}, "default": nil} {
		args := append([]string{"-P", "-b", c.ListenAddrs()[0], "-t", topic, "-K", "|"}, extra...)
		cmd := exec.Command(kcat, args...)
		cmd.Stdin = bytes.NewReader(in.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
	}
	part := routePartitioner{fixed: -1}.ForTopic("x")
	for topic, wantSame := range map[string]bool{"murmur": true, "default": false} {
		same := 0
		recs := readAll(t, c, topic)
		n := 0
		for p, rs := range recs {
			for _, r := range rs {
				n++
				if int32(part.Partition(&kgo.Record{Key: r.Key}, 12)) == p {
					same++
				}
			}
		}
		if n != len(keys) {
			t.Fatalf("%s: %d records, want %d", topic, n, len(keys))
		}
		t.Logf("librdkafka %s partitioner: %d of %d keys on the router's partition", topic, same, n)
		if wantSame && same != n {
			t.Errorf("murmur2_random: %d of %d keys where the router puts them", same, n)
		}
		if !wantSame && same > n/4 {
			t.Errorf("default partitioner agrees on %d of %d keys: the test no longer shows the pitfall", same, n)
		}
	}
}
