package source

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// knockLine is a netfilter LOG line as the kernel writes it, sent through
// syslog (RFC 3164 with PRI, facility kern, severity warning).
func knockLine(port int) string {
	return fmt.Sprintf("<4>Nov 22 10:15:02 gw01 kernel: [ 4821.000000] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0", port)
}

type collectLanes struct {
	mu     sync.Mutex
	events []event.Event
	opened int
	closed int
}

type collectLane struct{ c *collectLanes }

func (l collectLane) Emit(_ context.Context, b *Batch, _ any, _ bool) error {
	l.c.mu.Lock()
	l.c.events = append(l.c.events, b.Events...)
	l.c.mu.Unlock()
	b.Release()
	return nil
}

func (l collectLane) Close() {
	l.c.mu.Lock()
	l.c.closed++
	l.c.mu.Unlock()
}

func (c *collectLanes) open(string) Emitter {
	c.mu.Lock()
	c.opened++
	c.mu.Unlock()
	return collectLane{c}
}

func (c *collectLanes) ports() []uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint16
	for _, e := range c.events {
		out = append(out, e.DstPort)
	}
	return out
}

func startListener(t *testing.T, opts SyslogOptions) (*SyslogListener, *collectLanes) {
	t.Helper()
	lanes := &collectLanes{}
	f, err := decode.Lookup("syslog")
	if err != nil {
		t.Fatal(err)
	}
	opts.Name = "syslog"
	opts.Listen = "127.0.0.1:0"
	opts.Format = f
	opts.Lanes = lanes.open
	if opts.Stats == nil {
		opts.Stats = stats.New()
	}
	if !opts.UDP && !opts.TCP {
		opts.UDP, opts.TCP = true, true
	}
	if opts.TCP && opts.UDP {
		// Both on one port number: bind TCP first on a free port.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		opts.Listen = l.Addr().String()
		l.Close()
	}
	sl, err := ListenSyslog(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		sl.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return sl, lanes
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestListenerUDPAndTCP(t *testing.T) {
	sl, lanes := startListener(t, SyslogOptions{})
	u, err := net.Dial("udp", sl.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("<13>Nov 22 10:15:02 gw01 app: a message without an event"))
	u.Write([]byte(knockLine(7000)))
	time.Sleep(50 * time.Millisecond)
	u.Write([]byte("<13>Nov 22 10:15:02 gw01 app: another one"))
	time.Sleep(50 * time.Millisecond)
	u.Write([]byte(knockLine(8000) + "\n"))

	c, err := net.Dial("tcp", sl.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// LF framing, two messages in one write and one cut across writes.
	c.Write([]byte(knockLine(9000) + "\n" + knockLine(9001) + "\n" + knockLine(9002)[:20]))
	time.Sleep(20 * time.Millisecond)
	c.Write([]byte(knockLine(9002)[20:] + "\n"))

	c2, err := net.Dial("tcp", sl.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var oc strings.Builder
	for _, p := range []int{9100, 9101} {
		m := knockLine(p)
		fmt.Fprintf(&oc, "%d %s", len(m), m)
	}
	c2.Write([]byte(oc.String()))
	waitFor(t, "7 events", func() bool { return len(lanes.ports()) == 7 })
	if n := sl.Stats.Datagrams.Load(); n != 4 {
		t.Errorf("datagrams %d", n)
	}
	if n := sl.opts.Stats.TotalErrors(); n != 0 {
		t.Errorf("%d decode errors: %v", n, sl.opts.Stats.ErrorSamples())
	}
}

// TestListenerBadInput: garbage, oversized frames, invalid UTF-8, a bad
// octet count, a slowloris sender and too many connections are counted,
// and the listener keeps serving.
func TestListenerBadInput(t *testing.T) {
	st := stats.New()
	sl, lanes := startListener(t, SyslogOptions{MaxMessage: 1024, FrameTimeout: 300 * time.Millisecond, IdleTimeout: time.Second, MaxConnsPerSource: 4, Stats: st})
	addr := sl.TCPAddr().String()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Binary garbage with NULs, then a good line on the same connection.
	c := dial()
	c.Write([]byte("<13>\x00\x01\x02\xff garbage\n"))
	c.Write([]byte(strings.Repeat("A", 5000) + "\n")) // oversized
	c.Write([]byte("<13>Nov 22 10:15:02 gw01 app: caf\xe9 \xff\xfe\n"))
	c.Write([]byte(knockLine(7000) + "\n"))
	// A bad octet count closes that connection only.
	bad := dial()
	bad.Write([]byte("12x <13>hello"))
	// Oversized datagram.
	u, _ := net.Dial("udp", sl.UDPAddr().String())
	u.Write([]byte(strings.Repeat("B", 2000)))
	u.Close()
	waitFor(t, "the good line", func() bool { return len(lanes.ports()) == 1 })
	waitFor(t, "the bad framing", func() bool { return sl.Stats.FatalFrames.Load() == 1 })
	// The datagram and the stream are read by different goroutines.
	waitFor(t, "the oversized datagram", func() bool { return st.ErrorCount(decode.ReasonTooLong) == 2 })
	if n := st.ErrorCount(decode.ReasonBinary); n != 1 {
		t.Errorf("binary %d, want 1", n)
	}
	if n := sl.Stats.InvalidUTF8.Load(); n != 1 {
		t.Errorf("invalid utf-8 %d, want 1", n)
	}
	// Slowloris: a message started and never finished.
	slow := dial()
	slow.Write([]byte("<13>Nov 22 10:15:02 gw01 app: sl"))
	waitFor(t, "the frame timeout", func() bool { return sl.Stats.FrameTimeouts.Load() == 1 })
	// Idle: a connection that sends nothing.
	dial()
	waitFor(t, "the idle timeout", func() bool { return sl.Stats.IdleTimeouts.Load() >= 1 })
	// Per-source cap: beyond 4 open connections, new ones are closed.
	var conns []net.Conn
	for range 6 {
		conns = append(conns, dial())
	}
	waitFor(t, "rejections", func() bool { return sl.Stats.Rejected.Load() >= 1 })
	// Still serving.
	for _, x := range conns {
		x.Close()
	}
	waitFor(t, "connections to close", func() bool { return sl.Stats.Active.Load() <= 2 })
	ok := dial()
	ok.Write([]byte(knockLine(8000) + "\n"))
	waitFor(t, "a line after the abuse", func() bool { return len(lanes.ports()) == 2 })
}

func BenchmarkListenerTCP(b *testing.B) {
	f, _ := decode.Lookup("syslog")
	lanes := &collectLanes{}
	sl, err := ListenSyslog(SyslogOptions{Name: "bench", Listen: "127.0.0.1:0", TCP: true, Format: f, Lanes: func(string) Emitter { return discardLane{} }, Stats: stats.New()})
	if err != nil {
		b.Fatal(err)
	}
	_ = lanes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sl.Run(ctx)
	c, err := net.Dial("tcp", sl.TCPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	line := knockLine(7000) + "\n"
	chunk := []byte(strings.Repeat(line, 256))
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "lines/s")
}

type discardLane struct{}

func (discardLane) Emit(_ context.Context, b *Batch, _ any, _ bool) error {
	b.Release()
	return nil
}
func (discardLane) Close() {}
