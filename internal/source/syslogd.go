package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// The syslog listener receives messages over UDP (RFC 5426: one message
// per datagram) and TCP (RFC 6587: octet counting or LF framing, sniffed
// per connection) and decodes them with the same syslog decoder as files
// (RFC 3164 with or without PRI, RFC 5424). No maintained Go syslog server
// library exists (mcuadros/go-syslog's last release is from 2019), so the
// listener is written here; it is small.
//
// Limits, all counted: a maximum message size (larger frames are skipped
// whole); a cap on connections, overall and per source address (more are
// accepted and closed at once); an idle timeout between messages and a
// frame timeout within one (a slowloris sender is cut off); a fatal frame
// error (an octet count that is not a number) closes that connection only.
// Messages holding NUL bytes are binary and not decoded; messages that are
// not valid UTF-8 are counted and still decoded (RFC 3164 allows any
// octets, and what the detectors read is ASCII).

// SyslogOptions configure a syslog listener.
type SyslogOptions struct {
	// Name names the input in evidence and errors ("syslog:0.0.0.0:514").
	Name string
	// Listen is the host:port to bind.
	Listen   string
	UDP, TCP bool
	// MaxMessage is the largest message accepted (default 64KiB).
	MaxMessage int
	// MaxConns and MaxConnsPerSource cap TCP connections (defaults 256,
	// 16).
	MaxConns, MaxConnsPerSource int
	// IdleTimeout closes a connection quiet between messages (default
	// 5m); FrameTimeout one that takes too long to finish a message
	// (default 30s).
	IdleTimeout, FrameTimeout time.Duration
	// BatchDelay is how long received events may wait to be batched
	// (default 5ms).
	BatchDelay time.Duration
	// Format decodes the messages (syslog).
	Format decode.Format
	// Decode are the decoder options (Input id, time zone).
	Decode decode.Options
	Stats  *stats.Run
	// Lanes opens an emitter per ordered flow: one for UDP, one per TCP
	// connection.
	Lanes  LaneOpener
	Logger *slog.Logger
}

// ListenerStats count what a listener saw beyond records and decode errors.
type ListenerStats struct {
	Datagrams     atomic.Int64
	Accepted      atomic.Int64
	Active        atomic.Int64
	Rejected      atomic.Int64 // connections over a cap
	IdleTimeouts  atomic.Int64
	FrameTimeouts atomic.Int64
	FatalFrames   atomic.Int64 // connections closed for a bad octet count
	InvalidUTF8   atomic.Int64
	NoPRI         atomic.Int64
}

// SyslogListener is a bound syslog listener.
type SyslogListener struct {
	opts  SyslogOptions
	log   *slog.Logger
	udp   *net.UDPConn
	tcp   *net.TCPListener
	seq   atomic.Uint64
	Stats ListenerStats

	mu     sync.Mutex
	conns  map[*net.TCPConn]struct{}
	bySrc  map[netip.Addr]int
	closed bool
	wg     sync.WaitGroup
}

// ListenSyslog binds the listener's sockets. Run serves them.
func ListenSyslog(opts SyslogOptions) (*SyslogListener, error) {
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = 64 << 10
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 256
	}
	if opts.MaxConnsPerSource <= 0 {
		opts.MaxConnsPerSource = 16
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 5 * time.Minute
	}
	if opts.FrameTimeout <= 0 {
		opts.FrameTimeout = 30 * time.Second
	}
	if opts.BatchDelay <= 0 {
		opts.BatchDelay = 5 * time.Millisecond
	}
	if opts.Stats == nil {
		opts.Stats = stats.New()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &SyslogListener{opts: opts, log: log.With("input", opts.Name), conns: map[*net.TCPConn]struct{}{}, bySrc: map[netip.Addr]int{}}
	if opts.UDP {
		ua, err := net.ResolveUDPAddr("udp", opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("syslog listener %s: %w", opts.Listen, err)
		}
		if l.udp, err = net.ListenUDP("udp", ua); err != nil {
			return nil, fmt.Errorf("syslog listener: %w", err)
		}
		// A larger receive buffer absorbs bursts while the engine is busy.
		_ = l.udp.SetReadBuffer(8 << 20)
	}
	if opts.TCP {
		ta, err := net.ResolveTCPAddr("tcp", opts.Listen)
		if err != nil {
			l.closeSockets()
			return nil, fmt.Errorf("syslog listener %s: %w", opts.Listen, err)
		}
		if l.tcp, err = net.ListenTCP("tcp", ta); err != nil {
			l.closeSockets()
			return nil, fmt.Errorf("syslog listener: %w", err)
		}
	}
	return l, nil
}

// UDPAddr and TCPAddr return the bound addresses (nil when not listening).
func (l *SyslogListener) UDPAddr() *net.UDPAddr {
	if l.udp == nil {
		return nil
	}
	return l.udp.LocalAddr().(*net.UDPAddr)
}

// TCPAddr returns the bound TCP address.
func (l *SyslogListener) TCPAddr() *net.TCPAddr {
	if l.tcp == nil {
		return nil
	}
	return l.tcp.Addr().(*net.TCPAddr)
}

// Close closes the sockets of a listener that is not run.
func (l *SyslogListener) Close() { l.closeSockets() }

func (l *SyslogListener) closeSockets() {
	if l.udp != nil {
		l.udp.Close()
	}
	if l.tcp != nil {
		l.tcp.Close()
	}
}

// Run serves until ctx is done, then stops reading, hands over what was
// received and returns once every connection has ended.
func (l *SyslogListener) Run(ctx context.Context) error {
	if l.udp != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.serveUDP(ctx)
		}()
	}
	if l.tcp != nil {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.serveTCP(ctx)
		}()
	}
	<-ctx.Done()
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		// Unblock readers; they flush what they have and end.
		_ = c.SetReadDeadline(time.Now())
	}
	l.mu.Unlock()
	l.closeSockets()
	l.wg.Wait()
	return nil
}

// batcher collects one flow's events and hands them to its lane.
type batcher struct {
	lane  Emitter
	b     *Batch
	first time.Time
}

func (bt *batcher) flush(ctx context.Context) error {
	if bt.b == nil {
		return nil
	}
	b := bt.b
	bt.b = nil
	if len(b.Events) == 0 {
		// Messages that carried no event (most of a syslog stream).
		b.Release()
		return nil
	}
	return bt.lane.Emit(ctx, b, nil, true)
}

func (bt *batcher) batch(now time.Time) *Batch {
	if bt.b == nil {
		bt.b = NewBatch()
		bt.first = now
	}
	return bt.b
}

func (l *SyslogListener) decoder() *LiveDecoder {
	return NewLiveDecoder(LiveDecoderOptions{Name: l.opts.Name, Format: l.opts.Format, Decode: l.opts.Decode, Stats: l.opts.Stats})
}

// message checks and decodes one message into the flow's batch.
func (l *SyslogListener) message(dec *LiveDecoder, bt *batcher, msg []byte, now time.Time) {
	idx := l.seq.Add(1)
	if len(msg) == 0 {
		return
	}
	if bytes.IndexByte(msg, 0) >= 0 {
		dec.Error(decode.ReasonBinary, idx, "NUL byte in a syslog message")
		return
	}
	if !asciiOnly(msg) && !utf8.Valid(msg) {
		l.Stats.InvalidUTF8.Add(1)
	}
	if msg[0] != '<' {
		l.Stats.NoPRI.Add(1)
	}
	b := bt.batch(now)
	b.Events = dec.DecodeRecord(msg, idx, b.Events)
}

func asciiOnly(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// emitCtx is the context lanes are fed with: not the listener's, so that
// what was received before a shutdown is still handed over.
func emitCtx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (l *SyslogListener) serveUDP(ctx context.Context) {
	lane := l.opts.Lanes(l.opts.Name + "/udp")
	defer lane.Close()
	ectx := emitCtx(ctx)
	dec := l.decoder()
	bt := &batcher{lane: lane}
	size := min(l.opts.MaxMessage+1, 65536)
	buf := make([]byte, size)
	for {
		wait := 500 * time.Millisecond
		if bt.b != nil {
			// At least a millisecond: a deadline already past would not
			// even try to read.
			wait = max(time.Until(bt.first.Add(l.opts.BatchDelay)), time.Millisecond)
		}
		_ = l.udp.SetReadDeadline(time.Now().Add(wait))
		n, _, err := l.udp.ReadFromUDPAddrPort(buf)
		now := time.Now()
		if n > 0 {
			l.Stats.Datagrams.Add(1)
			if n > l.opts.MaxMessage {
				dec.Error(decode.ReasonTooLong, l.seq.Add(1), fmt.Sprintf("datagram of %d bytes or more, more than %d", n, l.opts.MaxMessage))
			} else {
				l.message(dec, bt, trimMsg(buf[:n]), now)
			}
		}
		if err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				if ctx.Err() == nil {
					l.log.Warn("udp read", "err", err)
				}
			}
		}
		if bt.b != nil && (len(bt.b.Events) >= 512 || now.Sub(bt.first) >= l.opts.BatchDelay || ctx.Err() != nil) {
			if err := bt.flush(ectx); err != nil {
				return
			}
		}
		if ctx.Err() != nil {
			_ = bt.flush(ectx)
			return
		}
		if bt.b == nil {
			dec.Refresh()
		}
	}
}

func (l *SyslogListener) serveTCP(ctx context.Context) {
	var connSeq uint64
	for {
		c, err := l.tcp.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		src := netip.Addr{}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			src = ap.Addr().Unmap()
		}
		l.mu.Lock()
		if l.closed || len(l.conns) >= l.opts.MaxConns || l.bySrc[src] >= l.opts.MaxConnsPerSource {
			l.mu.Unlock()
			l.Stats.Rejected.Add(1)
			c.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.bySrc[src]++
		l.mu.Unlock()
		l.Stats.Accepted.Add(1)
		l.Stats.Active.Add(1)
		connSeq++
		name := fmt.Sprintf("%s/tcp#%d", l.opts.Name, connSeq)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() {
				c.Close()
				l.mu.Lock()
				delete(l.conns, c)
				if l.bySrc[src]--; l.bySrc[src] <= 0 {
					delete(l.bySrc, src)
				}
				l.mu.Unlock()
				l.Stats.Active.Add(-1)
			}()
			l.serveConn(ctx, c, name)
		}()
	}
}

// deadlineReader sets the connection's read deadline before every read:
// the frame timeout while a message is unfinished, the idle timeout
// between messages.
type deadlineReader struct {
	c          *net.TCPConn
	fr         *Framer
	l          *SyslogListener
	frameStart time.Time
	inFrame    bool
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	now := time.Now()
	var dl time.Time
	d.inFrame = d.fr != nil && d.fr.Partial()
	if d.inFrame {
		if d.frameStart.IsZero() {
			d.frameStart = now
		}
		dl = d.frameStart.Add(d.l.opts.FrameTimeout)
	} else {
		d.frameStart = time.Time{}
		dl = now.Add(d.l.opts.IdleTimeout)
	}
	// Under the lock, so a shutdown (which sets every deadline to now)
	// cannot be overtaken by a later deadline.
	d.l.mu.Lock()
	if d.l.closed {
		d.l.mu.Unlock()
		return 0, io.EOF
	}
	_ = d.c.SetReadDeadline(dl)
	d.l.mu.Unlock()
	return d.c.Read(p)
}

func (l *SyslogListener) serveConn(ctx context.Context, c *net.TCPConn, name string) {
	lane := l.opts.Lanes(name)
	defer lane.Close()
	ectx := emitCtx(ctx)
	dec := l.decoder()
	bt := &batcher{lane: lane}
	dr := &deadlineReader{c: c, l: l}
	fr := NewFramer(dr, l.opts.MaxMessage)
	dr.fr = fr
	defer func() { _ = bt.flush(ectx) }()
	for {
		if !fr.Buffered() || (bt.b != nil && len(bt.b.Events) >= 512) {
			// About to wait for the network: hand over what was decoded.
			if err := bt.flush(ectx); err != nil {
				return
			}
			dec.Refresh()
		}
		msg, err := fr.Next()
		dr.frameStart = time.Time{}
		if err == nil {
			l.message(dec, bt, msg, time.Now())
			continue
		}
		var fe *FrameError
		if errors.As(err, &fe) {
			dec.Error(fe.Reason, l.seq.Add(1), fe.Detail)
			if fe.Fatal {
				l.Stats.FatalFrames.Add(1)
				l.log.Debug("closing connection", "conn", name, "err", err)
				return
			}
			continue
		}
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF):
			if last := fr.Last(); last != nil {
				l.message(dec, bt, last, time.Now())
			}
		case ctx.Err() != nil:
			// Shutting down.
		case errors.As(err, &ne) && ne.Timeout():
			if dr.inFrame {
				l.Stats.FrameTimeouts.Add(1)
				dec.Error(decode.ReasonTruncated, l.seq.Add(1), "message not finished within frame_timeout; connection closed")
			} else {
				l.Stats.IdleTimeouts.Add(1)
			}
		default:
			l.log.Debug("connection read", "conn", name, "err", err)
		}
		return
	}
}

// UDPDrops returns the kernel's count of datagrams dropped on the
// listener's socket because its receive buffer was full (from
// /proc/net/udp and /proc/net/udp6), and false when it cannot be read.
func (l *SyslogListener) UDPDrops() (uint64, bool) {
	if l.udp == nil {
		return 0, false
	}
	port := l.UDPAddr().Port
	var total uint64
	found := false
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		n, ok := udpDrops(f, port)
		total += n
		found = found || ok
	}
	return total, found
}

// udpDrops sums the drops column of sockets bound to port in a
// /proc/net/udp table.
func udpDrops(path string, port int) (uint64, bool) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	want := fmt.Sprintf(":%04X", port)
	var total uint64
	found := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 13 || !strings.HasSuffix(fields[1], want) {
			continue
		}
		if n, err := strconv.ParseUint(fields[len(fields)-1], 10, 64); err == nil {
			total += n
			found = true
		}
	}
	return total, found
}
