package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/knockwatch/knockwatch/internal/decode"
)

// Framing is how syslog messages are delimited on a TCP stream (RFC 6587).
type Framing uint8

// Framings.
const (
	// FramingUnknown: not sniffed yet (no byte received).
	FramingUnknown Framing = iota
	// FramingOctetCounting is "MSG-LEN SP SYSLOG-MSG" (RFC 6587 3.4.1,
	// the framing of RFC 5425 and of rsyslog's TCP_Framing="octet-counted").
	FramingOctetCounting
	// FramingNonTransparent ends each message with LF (RFC 6587 3.4.2; the
	// default of rsyslog's omfwd and of logger --tcp).
	FramingNonTransparent
)

func (f Framing) String() string {
	switch f {
	case FramingOctetCounting:
		return "octet-counting"
	case FramingNonTransparent:
		return "non-transparent"
	}
	return "unknown"
}

// FrameError is a frame the framer skipped; the stream goes on after it
// unless Fatal is set (the octet count cannot be trusted, so the next frame
// cannot be found).
type FrameError struct {
	Reason decode.Reason
	Detail string
	Fatal  bool
}

func (e *FrameError) Error() string { return e.Reason.String() + ": " + e.Detail }

// Framer cuts a TCP stream into syslog messages. The framing is sniffed
// from the connection's first byte, as rsyslog's imtcp does: a digit starts
// an octet count, anything else (normally '<') a message ended by LF. A
// message longer than the maximum is skipped whole (never split) and
// reported; in octet counting the count says how much to skip, in the other
// framing everything up to the next LF is skipped. It is written by hand:
// go-syslog's octetcounting and nontransparent parsers decode the payload
// too (allocating per message) and stop at the first bad frame.
type Framer struct {
	r       io.Reader
	buf     []byte
	start   int
	end     int
	max     int
	mode    Framing
	skipLF  bool  // discarding an oversized LF-framed message
	discard int64 // octets of an oversized counted message still to skip
	err     error // read error, reported once the buffer is used up
}

// maxCountDigits is the longest octet count accepted: more digits are
// either garbage or a message no maximum allows.
const maxCountDigits = 9

// NewFramer reads messages of at most max bytes from r.
func NewFramer(r io.Reader, max int) *Framer {
	return &Framer{r: r, buf: make([]byte, max+maxCountDigits+2+4096), max: max}
}

// Framing returns the sniffed framing.
func (f *Framer) Framing() Framing { return f.mode }

// Partial reports whether a message has been started but not finished (to
// apply a frame timeout rather than an idle timeout).
func (f *Framer) Partial() bool { return f.end > f.start || f.skipLF || f.discard > 0 }

// Buffered reports whether a complete message may be waiting in the buffer
// (so Next can return without reading).
func (f *Framer) Buffered() bool { return f.end > f.start }

// fill reads more into the buffer, compacting it first. It returns false
// when nothing more can be read (f.err is then set).
func (f *Framer) fill() bool {
	if f.err != nil {
		return false
	}
	if f.start > 0 {
		n := copy(f.buf, f.buf[f.start:f.end])
		f.start, f.end = 0, n
	}
	if f.end == len(f.buf) {
		return true // full: the caller decides
	}
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	if err != nil {
		f.err = err
	}
	return n > 0 || err == nil
}

// Next returns the next message (valid until the following call), a
// *FrameError for a skipped frame, or the read error (io.EOF) once the
// stream is used up. A trailing CR, LF or NUL is removed.
func (f *Framer) Next() ([]byte, error) {
	for {
		// Finish skipping an oversized message.
		if f.discard > 0 {
			n := int64(f.end - f.start)
			if n > f.discard {
				n = f.discard
			}
			f.start += int(n)
			f.discard -= n
			if f.discard > 0 {
				if !f.fill() {
					return nil, f.finalErr()
				}
				continue
			}
		}
		if f.skipLF {
			if i := indexLF(f.buf[f.start:f.end]); i >= 0 {
				f.start += i + 1
				f.skipLF = false
			} else {
				f.start = f.end
				if !f.fill() {
					return nil, f.finalErr()
				}
				continue
			}
		}
		if f.start == f.end {
			f.start, f.end = 0, 0
			if !f.fill() {
				return nil, f.finalErr()
			}
			continue
		}
		if f.mode == FramingUnknown {
			if c := f.buf[f.start]; c >= '0' && c <= '9' {
				f.mode = FramingOctetCounting
			} else {
				f.mode = FramingNonTransparent
			}
		}
		msg, err, more := f.frame()
		if more {
			if f.start == 0 && f.end == len(f.buf) {
				// Cannot happen: the buffer holds a maximal frame and its
				// count. Guard against looping anyway.
				return nil, &FrameError{Reason: decode.ReasonBadHeader, Detail: "frame does not fit the buffer", Fatal: true}
			}
			if !f.fill() {
				return nil, f.finalErr()
			}
			continue
		}
		return msg, err
	}
}

// finalErr is the error that ended the stream (io.EOF when it simply
// ended). A last LF-less message may be left: see Last.
func (f *Framer) finalErr() error {
	if f.err == nil {
		return io.EOF
	}
	return f.err
}

// Last returns a final LF-less message left when the stream ended (the
// sender closed without a trailing LF), and clears it.
func (f *Framer) Last() []byte {
	if f.mode != FramingNonTransparent || f.skipLF || f.end == f.start {
		return nil
	}
	msg := trimMsg(f.buf[f.start:f.end])
	f.start = f.end
	if len(msg) > f.max {
		return nil
	}
	return msg
}

// frame parses one frame at the buffer's start. more says more bytes are
// needed.
func (f *Framer) frame() (msg []byte, err error, more bool) {
	b := f.buf[f.start:f.end]
	if f.mode == FramingOctetCounting {
		var n int64
		i := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if i == maxCountDigits {
				return nil, &FrameError{Reason: decode.ReasonBadHeader, Detail: "octet count longer than 9 digits", Fatal: true}, false
			}
			n = n*10 + int64(b[i]-'0')
		}
		if i == len(b) {
			return nil, nil, true
		}
		if i == 0 || b[i] != ' ' || b[0] == '0' {
			return nil, &FrameError{Reason: decode.ReasonBadHeader, Detail: fmt.Sprintf("octet counting: want MSG-LEN SP, got %q", preview(b[:min(len(b), i+1)])), Fatal: true}, false
		}
		body := b[i+1:]
		if n > int64(f.max) {
			f.start += i + 1
			f.discard = n
			return nil, &FrameError{Reason: decode.ReasonTooLong, Detail: fmt.Sprintf("message of %d bytes, more than %d", n, f.max)}, false
		}
		if int64(len(body)) < n {
			return nil, nil, true
		}
		f.start += i + 1 + int(n)
		return trimMsg(body[:n]), nil, false
	}
	i := indexLF(b)
	if i < 0 {
		if len(b) > f.max {
			f.skipLF = true
			f.start = f.end
			return nil, &FrameError{Reason: decode.ReasonTooLong, Detail: fmt.Sprintf("message longer than %d bytes", f.max)}, false
		}
		return nil, nil, true
	}
	f.start += i + 1
	if i > f.max {
		return nil, &FrameError{Reason: decode.ReasonTooLong, Detail: fmt.Sprintf("message of %d bytes, more than %d", i, f.max)}, false
	}
	return trimMsg(b[:i]), nil, false
}

func indexLF(b []byte) int { return bytes.IndexByte(b, '\n') }

// trimMsg removes the line ends and NUL padding senders append.
func trimMsg(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

func preview(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}

// IsFatal reports whether err ends the connection.
func IsFatal(err error) bool {
	var fe *FrameError
	if errors.As(err, &fe) {
		return fe.Fatal
	}
	return err != nil
}
