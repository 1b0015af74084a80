//go:build linux

package source_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

// tcpdumpTCP is `tcpdump -y EN10MB -dd 'tcp'` (tcpdump 4.99.3, libpcap 1.10.3).
const tcpdumpTCP = `{ 0x28, 0, 0, 0x0000000c },
{ 0x15, 0, 2, 0x00000800 },
{ 0x30, 0, 0, 0x00000017 },
{ 0x15, 6, 7, 0x00000006 },
{ 0x15, 0, 6, 0x000086dd },
{ 0x30, 0, 0, 0x00000014 },
{ 0x15, 3, 0, 0x00000006 },
{ 0x15, 0, 3, 0x0000002c },
{ 0x30, 0, 0, 0x00000036 },
{ 0x15, 0, 1, 0x00000006 },
{ 0x6, 0, 0, 0x00040000 },
{ 0x6, 0, 0, 0x00000000 },
`

func TestParseBPF(t *testing.T) {
	prog, err := source.ParseBPF(tcpdumpTCP)
	if err != nil || len(prog) != 12 || prog[0].Op != 0x28 || prog[0].K != 12 || prog[3].Jt != 6 || prog[3].Jf != 7 {
		t.Fatalf("tcpdump -dd: %v %v", prog, err)
	}
	// tcpdump -ddd: a count, then decimal "code jt jf k".
	ddd := "4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n"
	if prog, err := source.ParseBPF(ddd); err != nil || len(prog) != 4 || prog[1].K != 2048 {
		t.Fatalf("tcpdump -ddd: %v %v", prog, err)
	}
	for _, bad := range []struct{ text, want string }{
		{"", "no instructions"},
		{"{ 0x28, 0, 0 },", "want code, jt, jf, k"},
		{"{ 0x28, 0, 0, zz },", "field 4"},
		{"{ 0x28, 300, 0, 0 },", "field 2"},
		{"3\n6 0 0 0\n", "declares 3"},
		{"{ 0x15, 5, 0, 0x800 },\n{ 0x6, 0, 0, 0 },", "bpf"}, // jumps past the end
		{"{ 0x28, 0, 0, 12 },", "bpf"},                       // no return
	} {
		if _, err := source.ParseBPF(bad.text); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseBPF(%q) = %v, want an error with %q", bad.text, err, bad.want)
		}
	}
}

// netns is a network namespace a test created; it is removed on cleanup.
type netns struct{ name string }

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newNetns(t testing.TB, name string) *netns {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, p := range strings.Fields(string(out)) {
				_ = exec.Command("kill", p).Run()
			}
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	run(t, "ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
	return &netns{name: name}
}

func (n *netns) exec(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", n.name}, args...)...)
}

// inNetns runs fn on a thread switched into the namespace; sockets opened
// there stay in it.
func inNetns(t testing.TB, n *netns, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/var/run/netns/" + n.name)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the test's network namespace: " + err.Error())
		}
	}()
	fn()
}

// lab builds client and server namespaces joined by a veth pair:
// 198.51.100.7 knocks 203.0.113.10.
func lab(t *testing.T) (client, server *netns, serverIf string) {
	t.Helper()
	id := testutil.UniqueName("kw")
	client, server = newNetns(t, id+"c"), newNetns(t, id+"s")
	vc, vs := id+"vc", id+"vs"
	run(t, "ip", "link", "add", vc, "netns", client.name, "type", "veth", "peer", "name", vs, "netns", server.name)
	client.exec(t, "ip", "addr", "add", "198.51.100.7/32", "dev", vc)
	server.exec(t, "ip", "addr", "add", "203.0.113.10/32", "dev", vs)
	client.exec(t, "ip", "link", "set", vc, "up")
	server.exec(t, "ip", "link", "set", vs, "up")
	client.exec(t, "ip", "route", "add", "203.0.113.10/32", "dev", vc)
	server.exec(t, "ip", "route", "add", "198.51.100.7/32", "dev", vs)
	client.exec(t, "ping", "-c1", "-W2", "203.0.113.10")
	return client, server, vs
}

func interestBuiltin(t testing.TB) *packet.Interest {
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return packet.NewInterest(rs.Prefilter(), true)
}

type timedAlert struct {
	a  *alert.Alert
	at time.Time
}

// TestLiveKnockAlertsWithinASecond: the knock client knocks a default-drop
// host (no answer comes, so every knock waits out the answer timeout); the
// sequence alert must appear within one second of the last knock, with only
// idle ticks moving event time after it.
func TestLiveKnockAlertsWithinASecond(t *testing.T) {
	testutil.Require(t, "root")
	knock := testutil.RequireTool(t, "knock")
	testutil.RequireTool(t, "iptables")
	client, server, vs := lab(t)
	server.exec(t, "iptables", "-P", "INPUT", "DROP")
	server.exec(t, "iptables", "-A", "INPUT", "-p", "icmp", "-j", "ACCEPT")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	inputs := source.NewInputs()
	st := stats.New()
	var live *source.LiveCapture
	inNetns(t, server, func() {
		var err error
		live, err = source.NewLiveCapture(ctx, source.LiveOptions{
			Interface: vs,
			Input:     inputs.Add(vs, true),
			Stats:     st,
			Capture:   source.CaptureOptions{Interest: interestBuiltin(t)},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	var mu sync.Mutex
	var got []timedAlert
	eng := engine.New(config.Default(), engine.Options{Shards: 2, Origins: inputs, Alerts: func(a *alert.Alert) {
		mu.Lock()
		got = append(got, timedAlert{a, time.Now()})
		mu.Unlock()
	}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		eng.RunStreams(ctx, []source.Stream{live}, func(err error) { t.Errorf("stream: %v", err) })
	}()
	time.Sleep(300 * time.Millisecond)

	out := client.exec(t, knock, "-v", "203.0.113.10", "7000", "8000", "9000")
	knocked := time.Now()
	t.Logf("knock: %s", strings.TrimSpace(out))

	var found timedAlert
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && found.a == nil {
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		for _, ta := range got {
			if ta.a.Detector == "sequence" && alert.SequenceString(ta.a.Sequence) == "7000/tcp,8000/tcp,9000/tcp" {
				found = ta
			}
		}
		mu.Unlock()
	}
	cancel()
	<-done
	eng.Close()
	if found.a == nil {
		t.Fatalf("no sequence alert within 5 s; alerts: %v", got)
	}
	// The last knock's capture time (kernel timestamp, wall clock) is the
	// alert's LastSeen.
	latency := found.at.Sub(found.a.LastSeen)
	t.Logf("alert %s %s: %.0f ms after the last knock was captured (%.0f ms after the knock client exited); evidence %v",
		found.a.ID, found.a.Severity, float64(latency)/1e6, float64(found.at.Sub(knocked))/1e6, found.a.Evidence)
	if latency <= 0 || latency > time.Second {
		t.Fatalf("alert came %s after the last knock, want within 1 s", latency)
	}
	if !strings.HasPrefix(found.a.Evidence[0], vs+"#") {
		t.Errorf("evidence %v, want %s#frame", found.a.Evidence, vs)
	}
	ls := live.Stats()
	t.Logf("kernel: %d packets, %d drops, %d freezes; decoder: %+v", ls.Packets, ls.Drops, ls.Freezes, ls.Decoder)
	if ls.Packets < 3 || ls.Drops != 0 || ls.Decoder.Attempts < 3 {
		t.Errorf("stats %+v", ls)
	}
}

// drainLive collects a live capture's events until ctx ends.
func drainLive(t *testing.T, live *source.LiveCapture) []event.Event {
	t.Helper()
	var evs []event.Event
	for {
		b, err := live.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Events {
			if !source.IsTick(&e) {
				evs = append(evs, e)
			}
		}
		b.Release()
	}
}

// TestLiveLoopbackAndFilter: on loopback every packet is seen twice unless
// the outgoing copies are dropped (the default there); a BPF filter keeps
// only what it accepts.
func TestLiveLoopbackAndFilter(t *testing.T) {
	testutil.Require(t, "root")
	ns := newNetns(t, testutil.UniqueName("kw")+"l")
	tcpOnly, err := source.ParseBPF(tcpdumpTCP)
	if err != nil {
		t.Fatal(err)
	}
	pings := func(opts source.LiveOptions) []event.Event {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var live *source.LiveCapture
		opts.Interface, opts.Tick = "lo", 50*time.Millisecond
		opts.Capture = source.CaptureOptions{Interest: interestBuiltin(t)}
		inNetns(t, ns, func() {
			if live, err = source.NewLiveCapture(ctx, opts); err != nil {
				t.Fatal(err)
			}
		})
		time.Sleep(200 * time.Millisecond)
		ns.exec(t, "ping", "-c", "3", "-i", "0.2", "127.0.0.1")
		time.Sleep(700 * time.Millisecond)
		cancel()
		return drainLive(t, live)
	}
	count := func(evs []event.Event, typ uint8) int {
		n := 0
		for _, e := range evs {
			if e.Proto == event.ProtoICMP && e.ICMPType == typ {
				n++
			}
		}
		return n
	}
	if evs := pings(source.LiveOptions{}); count(evs, 8) != 3 {
		t.Errorf("loopback, outgoing dropped: %d echo requests, want 3", count(evs, 8))
	}
	if evs := pings(source.LiveOptions{Outgoing: source.OutgoingKeep}); count(evs, 8) != 6 {
		t.Errorf("loopback, outgoing kept: %d echo requests, want 6 (each seen twice)", count(evs, 8))
	}
	if evs := pings(source.LiveOptions{BPF: tcpOnly}); len(evs) != 0 {
		t.Errorf("filter 'tcp' let %d ICMP events through", len(evs))
	}
}

func TestLiveErrors(t *testing.T) {
	_, err := source.NewLiveCapture(t.Context(), source.LiveOptions{Interface: "kw-no-such-if"})
	if err == nil || !strings.Contains(err.Error(), "kw-no-such-if") {
		t.Fatalf("error %v", err)
	}
	if _, err := source.NewLiveCapture(t.Context(), source.LiveOptions{}); err == nil {
		t.Fatal("no interface accepted")
	}
}
