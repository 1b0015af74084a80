package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
)

// newCluster starts an in-process Kafka-protocol cluster (kfake) listening
// on 127.0.0.1 with random ports, as Loki's testkafka helper does, and
// closes it when the test ends. Groups may use session timeouts down to
// 100ms, so a crashed member is noticed quickly.
func newCluster(t testing.TB, brokers int, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(brokers), kfake.SeedTopics(partitions, topics...),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, a := range c.ListenAddrs() {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" {
			t.Fatalf("kfake listens on %s, not loopback", a)
		}
	}
	return c
}

// client makes a plain client of the cluster, closed when the test ends.
func client(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// testConfig is the default detector configuration.
func testConfig() config.Config { return config.Default() }

// kafkaInput is a kafka input over the cluster with test timings: short
// sessions and commits, every partition's state the same share.
func kafkaInput(c *kfake.Cluster, group string, topics ...string) config.KafkaInput {
	k := config.KafkaInput{
		KafkaConn:        config.KafkaConn{Brokers: c.ListenAddrs()},
		Group:            group,
		StartAt:          "beginning",
		CommitInterval:   100 * time.Millisecond,
		SessionTimeout:   time.Second,
		RebalanceTimeout: 10 * time.Second,
		MaxPartitions:    12,
	}
	for _, t := range topics {
		k.Topics = append(k.Topics, config.KafkaTopic{Name: t, Format: "syslog"})
	}
	// idle_tick 0: no idle ticks, event time moves with the records only.
	return k.WithDefaults("syslog", 0)
}

// capture is an Output that keeps what it was given, encoded at once.
type capture struct {
	mu   sync.Mutex
	dead bool
	byID map[string][]string
	n    int
}

func newCapture() *capture { return &capture{byID: map[string][]string{}} }

func (c *capture) Submit(a *alert.Alert, done func()) {
	b, err := a.Encode()
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	if !c.dead {
		c.byID[a.ID] = append(c.byID[a.ID], string(b))
		c.n++
	}
	c.mu.Unlock()
	done()
}

func (c *capture) Sync() error { return nil }

// kill makes the capture drop what it is given from now on: what a
// crashed process had not yet delivered.
func (c *capture) kill() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
}

func (c *capture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// severableDialer dials normally until sever, which closes every
// connection it made and refuses new ones: what the network sees of a
// process killed with SIGKILL.
type severableDialer struct {
	mu      sync.Mutex
	conns   []net.Conn
	severed bool
}

func (d *severableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.severed {
		return nil, fmt.Errorf("dial %s: severed", host)
	}
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, conn)
	}
	return conn, err
}

func (d *severableDialer) sever() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.severed = true
	for _, c := range d.conns {
		c.Close()
	}
}

// crash stops the consumer the way SIGKILL would: no commit, no handover,
// no leave; its network is cut and its pipelines stop without sending
// anything more. The group notices after the session timeout.
func (c *Consumer) crash(d *severableDialer, out *capture, cancel context.CancelFunc) {
	c.crashed.Store(true)
	out.kill()
	d.sever()
	cancel()
	for _, p := range c.owned() {
		p.halt()
	}
	go c.cl.Close()
}

// committed returns the group's committed offsets of topic.
func committed(t testing.TB, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return nil
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		if o.Err == nil {
			out[p] = o.At
		}
	}
	return out
}

// committedMeta returns the metadata committed with topic's offsets.
func committedMeta(t testing.TB, cl *kgo.Client, group, topic string) map[int32]commitMeta {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return nil
	}
	out := map[int32]commitMeta{}
	for p, o := range resp[topic] {
		if m, ok := parseMeta(o.Metadata); ok && o.Err == nil {
			out[p] = m
		}
	}
	return out
}

// endOffsets returns the high watermarks of topic.
func endOffsets(t testing.TB, cl *kgo.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out
}

// readAll reads every record of topic from the start to its end offsets.
func readAll(t testing.TB, c *kfake.Cluster, topic string) map[int32][]*kgo.Record {
	t.Helper()
	ends := endOffsets(t, client(t, c), topic)
	parts := map[string]map[int32]kgo.Offset{topic: {}}
	want := 0
	for p, e := range ends {
		parts[topic][p] = kgo.NewOffset().AtStart()
		want += int(e)
	}
	cl := client(t, c, kgo.ConsumePartitions(parts))
	out := map[int32][]*kgo.Record{}
	got := 0
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for got < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %d of %d records: %v", topic, got, want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[r.Partition] = append(out[r.Partition], r)
			got++
		})
	}
	return out
}

// stream is a mixed firewall log with known knocks: one netfilter line per
// 40ms of event time from random single-port probes (noise), knocks of
// three closed ports from known sources (half of them followed by an
// accepted connection), port scans, knockd's log lines for some knocks,
// and lines that decode to nothing (sshd).
type stream struct {
	lines   []string
	knocks  []knock
	start   time.Time
	end     time.Time
	sources map[string]bool
}

type knock struct {
	src   string
	ports []uint16
}

func nfLine(t time.Time, action, src, dst string, proto string, sport, dport int) string {
	flags := "SYN URGP=0"
	if proto == "UDP" {
		return fmt.Sprintf("%s gw01 kernel: %s IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=%s DST=%s LEN=29 TOS=0x00 PREC=0x00 TTL=52 ID=1 DF PROTO=UDP SPT=%d DPT=%d LEN=9",
			t.UTC().Format("2006-01-02T15:04:05.000000-07:00"), action, src, dst, sport, dport)
	}
	return fmt.Sprintf("%s gw01 kernel: %s IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=%s DST=%s LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 %s",
		t.UTC().Format("2006-01-02T15:04:05.000000-07:00"), action, src, dst, sport, dport, flags)
}

// makeStream builds a stream spanning dur of event time with knockers
// known knocks. Deterministic for a seed.
func makeStream(seed uint64, dur time.Duration, knockers int) *stream {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &stream{start: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), sources: map[string]bool{}}
	type timed struct {
		t    time.Time
		line string
	}
	var all []timed
	add := func(t time.Time, line string) { all = append(all, timed{t, line}) }
	slot := 40 * time.Millisecond
	n := int(dur / slot)
	for i := 0; i < n; i++ {
		t := s.start.Add(time.Duration(i)*slot + time.Duration(rng.IntN(int(slot))))
		src := fmt.Sprintf("100.%d.%d.%d", 64+rng.IntN(64), rng.IntN(256), 1+rng.IntN(254))
		add(t, nfLine(t, "DROP", src, "203.0.113.10", "TCP", 30000+rng.IntN(30000), 1+rng.IntN(1024)))
		if i%97 == 0 {
			add(t, fmt.Sprintf("%s gw01 sshd[%d]: Connection closed by %s port %d [preauth]", t.Format("2006-01-02T15:04:05.000000-07:00"), 1000+i%9000, src, 40000+i%20000))
		}
	}
	// Knocks: spread over the stream, each from its own source.
	for k := 0; k < knockers; k++ {
		src := fmt.Sprintf("198.51.%d.%d", 100+k/200, 1+k%200)
		if k%10 == 9 {
			src = fmt.Sprintf("2001:db8::%x", 0x100+k)
		}
		base := s.start.Add(time.Duration(float64(dur-time.Minute) * float64(k+1) / float64(knockers+1)))
		ports := []uint16{uint16(7000 + k), uint16(8000 + 7*k), uint16(9000 + 3*k)}
		s.knocks = append(s.knocks, knock{src: src, ports: ports})
		t := base
		for j, p := range ports {
			if j > 0 {
				t = t.Add(time.Duration(150+rng.IntN(250)) * time.Millisecond)
			}
			add(t, nfLine(t, "KNOCK-DROP", src, "203.0.113.10", "TCP", 40000+j, int(p)))
		}
		if k%2 == 0 {
			ct := t.Add(time.Duration(800+rng.IntN(800)) * time.Millisecond)
			add(ct, nfLine(ct, "ACCEPT", src, "203.0.113.10", "TCP", 40100, 22))
		}
		if k%5 == 0 && src[0] != '2' {
			// knockd on the gateway saw it too.
			for st := 1; st <= 3; st++ {
				lt := base.Add(time.Duration(st) * 100 * time.Millisecond)
				add(lt, fmt.Sprintf("%s gw01 knockd: %s: openSSH: Stage %d", lt.Format("2006-01-02T15:04:05.000000-07:00"), src, st))
			}
			lt := t.Add(10 * time.Millisecond)
			add(lt, fmt.Sprintf("%s gw01 knockd: %s: openSSH: OPEN SESAME", lt.Format("2006-01-02T15:04:05.000000-07:00"), src))
		}
	}
	// Scans: 40 ports in two seconds.
	for sc := 0; sc < 4; sc++ {
		src := fmt.Sprintf("192.0.2.%d", 10+sc)
		base := s.start.Add(time.Duration(sc+1) * dur / 5)
		for p := 0; p < 40; p++ {
			t := base.Add(time.Duration(p) * 50 * time.Millisecond)
			add(t, nfLine(t, "DROP", src, "203.0.113.10", "TCP", 50000, 20+p))
		}
	}
	slices.SortStableFunc(all, func(a, b timed) int { return a.t.Compare(b.t) })
	for _, x := range all {
		s.lines = append(s.lines, x.line)
	}
	s.end = all[len(all)-1].t
	return s
}

// produce writes lines to topic without keys, as a collector does: in
// acknowledged batches of 256 lines.
func produce(t testing.TB, cl *kgo.Client, topic string, lines []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for len(lines) > 0 {
		n := min(256, len(lines))
		recs := make([]*kgo.Record, n)
		for i, l := range lines[:n] {
			recs[i] = &kgo.Record{Topic: topic, Value: []byte(l)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		lines = lines[n:]
	}
}

// createTopic creates a topic of n partitions.
func createTopic(t testing.TB, cl *kgo.Client, topic string, n int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, n, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
