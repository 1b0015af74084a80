package sink

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// SyslogOptions configure a Syslog sink.
type SyslogOptions struct {
	// Network is "udp" or "tcp"; Address is host:port.
	Network, Address string
	// Format is "cef" (the message is a CEF record) or "json" (the alert's
	// JSON).
	Format string
	// OctetCounting frames TCP messages as "LEN SP MSG" (RFC 6587 3.4.1,
	// RFC 5425); otherwise each ends with LF.
	OctetCounting bool
	// Facility is the syslog facility (0..23).
	Facility int
	// Hostname is the HOSTNAME field (default os.Hostname()).
	Hostname string
	// Version goes into the CEF header.
	Version string
	// Timeout bounds connecting and writing.
	Timeout time.Duration
}

// Syslog sends alerts to a syslog collector as RFC 5424 messages:
//
//	<PRI>1 TIMESTAMP HOSTNAME knockwatch PID alert - MSG
//
// The TCP connection is kept and opened again after an error; a failed
// write is returned so the caller spools the alert. Over UDP a lost
// datagram cannot be seen (only a refused port, on the next write).
type Syslog struct {
	opts SyslogOptions
	cef  CEF
	pid  string
	mu   sync.Mutex
	conn net.Conn
}

// NewSyslog makes a syslog sink; it connects on the first Write.
func NewSyslog(opts SyslogOptions) *Syslog {
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
		if opts.Hostname == "" {
			opts.Hostname = "-"
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Syslog{opts: opts, cef: CEF{Version: opts.Version}, pid: strconv.Itoa(os.Getpid())}
}

// syslogSeverity maps alert severities to RFC 5424 severities:
// critical→crit(2), high→err(3), medium→warning(4), low→notice(5),
// info→info(6).
var syslogSeverity = [...]int{6, 6, 5, 4, 3, 2}

// Message renders one alert as an RFC 5424 message (without framing).
func (s *Syslog) Message(a *alert.Alert) ([]byte, error) {
	sev := 6
	if int(a.Severity) < len(syslogSeverity) {
		sev = syslogSeverity[a.Severity]
	}
	var msg string
	switch s.opts.Format {
	case "json":
		b, err := a.Encode()
		if err != nil {
			return nil, err
		}
		msg = strings.TrimSuffix(string(b), "\n")
	default:
		msg = s.cef.Format(a)
	}
	// The timestamp is when the finding was made known, with the finding's
	// own time inside the message.
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	return fmt.Appendf(nil, "<%d>1 %s %s knockwatch %s alert - %s", s.opts.Facility*8+sev, ts, s.opts.Hostname, s.pid, msg), nil
}

// Write sends one alert.
func (s *Syslog) Write(a *alert.Alert) error {
	msg, err := s.Message(a)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil && s.opts.Network == "tcp" && peerClosed(s.conn) {
		// A collector that closed the connection is seen only by reading:
		// check before writing, or the alert goes into a dead connection
		// and is lost. (TCP syslog has no acknowledgement; a collector
		// closing while we write can still lose one message.)
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		d := net.Dialer{Timeout: s.opts.Timeout}
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		s.conn, err = d.DialContext(ctx, s.opts.Network, s.opts.Address)
		cancel()
		if err != nil {
			s.conn = nil
			return fmt.Errorf("syslog sink: %w", err)
		}
	}
	frame := msg
	if s.opts.Network == "tcp" {
		if s.opts.OctetCounting {
			frame = append(strconv.AppendInt(make([]byte, 0, len(msg)+8), int64(len(msg)), 10), ' ')
			frame = append(frame, msg...)
		} else {
			frame = append(msg, '\n')
		}
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.opts.Timeout))
	if _, err := s.conn.Write(frame); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("syslog sink: %w", err)
	}
	return nil
}

// peerClosed reports whether the other end closed the connection, without
// waiting: a non-blocking peek at the socket (a read deadline in the past
// would not even try the read).
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	var one [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && rerr == nil) || (rerr != nil && rerr != syscall.EAGAIN && rerr != syscall.EINTR)
		return true
	})
	return closed || err != nil
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}
