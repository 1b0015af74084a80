package decode

import (
	"bytes"
	"errors"
	"time"

	"github.com/valyala/fastjson"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads `journalctl -o json` (formats.md 6.3;
// https://systemd.io/JOURNAL_EXPORT_FORMATS/): one JSON object per entry.
// The entry's fields become a syslogLine (time, host, tag, pid, message)
// and go through the same dispatch as a syslog file's lines, so every
// message kind the syslog decoder knows (kernel netfilter text, CEF, knock
// daemons) is read from the journal too.

// journaldLateness: entries come in journald's reception order, but their
// times are the sender's own (_SOURCE_REALTIME_TIMESTAMP) or, for kernel
// lines, the printk time, which precede reception by the transport delay:
// milliseconds normally, seconds when journald is behind.
const journaldLateness = 5 * time.Second

var journaldFormat = Format{
	Name:     "journald",
	Summary:  "journalctl -o json (also of journalctl -k): kernel netfilter, CEF and knock-daemon messages",
	Sniff:    sniffJournald,
	New:      func(o Options) Decoder { return newJournaldDecoder(o) },
	Parallel: true,
	Lateness: journaldLateness,
}

var tokRealtime = []byte(`"__REALTIME_TIMESTAMP"`)

// sniffJournald scores a journal entry above a CEF (12) or netfilter (10)
// line: its MESSAGE may hold either.
func sniffJournald(line []byte) int {
	if len(line) > 0 && line[0] == '{' && bytes.Contains(line, tokRealtime) {
		return 20
	}
	return 0
}

type journaldDecoder struct {
	p   fastjson.Parser
	sys *syslogDecoder
	// msg holds a MESSAGE sent as an array of bytes (not UTF-8).
	msg []byte
	// f are the fields of the entry being decoded.
	f journalFields
}

type journalFields struct {
	realtime, monotonic, srcRealtime, srcMonotonic  []byte
	host, ident, syslogPID, pid, priority, facility []byte
	msg                                             []byte
	bad                                             string
}

func newJournaldDecoder(o Options) *journaldDecoder {
	return &journaldDecoder{sys: newSyslogDecoder(o)}
}

var _ Decoder = (*journaldDecoder)(nil)

// Decode reads one journal entry.
func (d *journaldDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	v, err := d.p.ParseBytes(line)
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "not JSON: "+err.Error())
	}
	o, err := v.Object()
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "not a JSON object")
	}
	f := &d.f
	*f = journalFields{}
	o.Visit(func(key []byte, v *fastjson.Value) {
		if f.bad != "" {
			return
		}
		var p *[]byte
		switch string(key) {
		case "__REALTIME_TIMESTAMP":
			p = &f.realtime
		case "__MONOTONIC_TIMESTAMP":
			p = &f.monotonic
		case "_SOURCE_REALTIME_TIMESTAMP":
			p = &f.srcRealtime
		case "_SOURCE_MONOTONIC_TIMESTAMP":
			p = &f.srcMonotonic
		case "_HOSTNAME":
			p = &f.host
		case "SYSLOG_IDENTIFIER":
			p = &f.ident
		case "SYSLOG_PID":
			p = &f.syslogPID
		case "_PID":
			p = &f.pid
		case "PRIORITY":
			p = &f.priority
		case "SYSLOG_FACILITY":
			p = &f.facility
		case "MESSAGE":
			d.message(v)
			return
		default:
			return
		}
		s, ok := journalString(v)
		if !ok {
			f.bad = string(key)
			return
		}
		*p = s
	})
	if f.bad != "" {
		return dst, errorf(ReasonBadField, f.bad, 0, "not a string, an array of strings or of bytes, or null")
	}
	if f.realtime == nil {
		return dst, errorf(ReasonMissingField, "__REALTIME_TIMESTAMP", 0, "")
	}
	t, ok := journalMicros(f.realtime)
	if !ok {
		return dst, errorf(ReasonBadTime, "__REALTIME_TIMESTAMP", 0, "not microseconds since the epoch")
	}
	if f.msg == nil {
		// MESSAGE absent, or null because it exceeded the size journalctl
		// prints without --all: nothing to read.
		return dst, nil
	}
	switch {
	case f.srcMonotonic != nil && f.monotonic != nil:
		// A kernel line: journald stamped it when it read /dev/kmsg; the
		// printk time (µs since boot) is when it happened, and the boot's
		// wall time is realtime - monotonic of the same reading.
		sm, ok1 := parseUint(f.srcMonotonic, 1<<53)
		m, ok2 := parseUint(f.monotonic, 1<<53)
		if gap := int64(m-sm) * int64(time.Microsecond); ok1 && ok2 && sm <= m && gap < int64(time.Hour) && gap < t {
			t -= gap
		}
	case f.srcRealtime != nil:
		// The sender's own time (syslog and native protocol), which
		// journald keeps when it differs from reception.
		if st, ok := journalMicros(f.srcRealtime); ok {
			t = st
		}
	}
	h := &d.sys.h
	*h = syslogLine{pri: -1, time: t, hasTime: true, host: f.host, tag: f.ident, pid: f.syslogPID, msg: f.msg, afterHost: f.msg}
	if h.pid == nil {
		h.pid = f.pid
	}
	if prio, ok := parseUint(f.priority, 7); ok {
		h.pri = int(prio)
		if fac, ok := parseUint(f.facility, 23); ok {
			h.pri += int(fac) * 8
		}
	}
	n := len(dst)
	dst, err = d.sys.dispatch(f.msg, h, origin, dst)
	if err != nil {
		// The message decoders locate faults within the message; shift
		// the column to the record where MESSAGE appears verbatim in it.
		var e *Error
		if errors.As(err, &e) && e.Column > 0 {
			if i := bytes.Index(line, f.msg); i >= 0 {
				e.Column += i
			} else {
				e.Column = 0
			}
		}
		return dst[:n], err
	}
	return dst, nil
}

// message reads MESSAGE: a string; an array of byte values (a message that
// is not UTF-8); an array of such values (a field logged several times: the
// first is read); or null.
func (d *journaldDecoder) message(v *fastjson.Value) {
	f := &d.f
	switch v.Type() {
	case fastjson.TypeNull:
		return
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		f.msg = b
		if f.msg == nil {
			f.msg = []byte{}
		}
		return
	case fastjson.TypeArray:
		a, _ := v.Array()
		if len(a) == 0 {
			f.bad = "MESSAGE"
			return
		}
		if a[0].Type() != fastjson.TypeNumber {
			d.message(a[0])
			return
		}
		d.msg = d.msg[:0]
		for _, e := range a {
			n, err := e.Uint()
			if err != nil || n > 255 {
				f.bad = "MESSAGE"
				return
			}
			d.msg = append(d.msg, byte(n))
		}
		f.msg = d.msg
		return
	}
	f.bad = "MESSAGE"
}

// journalString reads a field value that should be text: a string, or the
// first of several values. Byte arrays of metadata fields are rejected.
func journalString(v *fastjson.Value) ([]byte, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if b == nil {
			b = []byte{}
		}
		return b, true
	case fastjson.TypeNull:
		return nil, true
	case fastjson.TypeArray:
		a, _ := v.Array()
		if len(a) > 0 && a[0].Type() == fastjson.TypeString {
			return journalString(a[0])
		}
	}
	return nil, false
}

// journalMicros reads a decimal microsecond timestamp as Unix ns.
func journalMicros(b []byte) (int64, bool) {
	us, ok := parseUint(b, maxEpochSec*1e6)
	if !ok || us == 0 {
		return 0, false
	}
	return int64(us) * int64(time.Microsecond), true
}
