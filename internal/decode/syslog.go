package decode

import (
	"bytes"

	"github.com/knockwatch/knockwatch/internal/event"
)

// syslogFormat reads line-oriented syslog text in every shape it reaches a
// file or a collector: RFC 3164 with or without <PRI>, rsyslog's RFC 3339
// template, RFC 5424, bare dmesg lines and ulogd2's LOGEMU file. Each
// message goes to the decoder for what it holds, chosen in Decode.
var syslogFormat = Format{
	Name:     "syslog",
	Summary:  "syslog lines (RFC 3164 with or without <PRI>, RFC 3339, RFC 5424, dmesg, ulogd2 LOGEMU) holding netfilter LOG text",
	Sniff:    sniffSyslog,
	New:      func(o Options) Decoder { return newSyslogDecoder(o) },
	Parallel: true,
}

var _ Decoder = (*syslogDecoder)(nil)

type syslogDecoder struct {
	clk clock
	h   syslogLine
	nf  netfilterState
	// daemons holds the knockd/fwknopd decoders' arena.
	daemons daemonState
}

func newSyslogDecoder(o Options) *syslogDecoder {
	d := &syslogDecoder{clk: newClock(o)}
	if !o.BootTime.IsZero() {
		d.nf.bootTime = o.BootTime.UnixNano()
	}
	return d
}

func sniffSyslog(line []byte) int {
	if isNetfilter(line) {
		return 10
	}
	return sniffDaemonSyslog(line)
}

// Decode splits the syslog header and hands the message to the decoder for
// its content.
func (d *syslogDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	h := &d.h
	d.clk.splitSyslog(line, h)
	return d.dispatch(line, h, origin, dst)
}

// dispatch decodes a message whose header is split into h, choosing the
// decoder by what the message holds. It is the one place that lists the
// message kinds a syslog carrier can bring; the journald and Sentinel
// Syslog decoders build h from their own fields and call it too. Messages
// no decoder claims are not errors: a syslog file holds many programs'
// lines.
func (d *syslogDecoder) dispatch(line []byte, h *syslogLine, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	switch {
	case isProgram(h.tag, "knockd"):
		return d.decodeKnockd(line, h, origin, dst)
	case isProgram(h.tag, "fwknopd"):
		return d.decodeFwknopd(line, h, origin, dst)
	case isCEFMessage(h):
		return d.decodeCEF(line, h, origin, dst)
	case isProgram(h.tag, "sysmon"):
		return d.decodeSysmon(line, h, origin, dst)
	default:
		// Kernel text, ulogd2 LOGEMU lines and bare dmesg lines carry
		// packet text; anything else yields no event there.
		return d.decodeNetfilter(line, h, origin, dst)
	}
}

// syslogLine is a log line split into its syslog header and message. The
// byte slices alias the line.
type syslogLine struct {
	pri     int // -1 when the line has no <PRI>
	time    int64
	hasTime bool
	host    []byte
	tag     []byte // program name, without [pid] and colon
	pid     []byte
	msg     []byte
	// afterHost is the text right after the host name: the message start for
	// writers that put no tag there (ulogd2's LOGEMU writes the log prefix).
	afterHost []byte
}

// splitSyslog splits the header forms that reach files and collectors:
//
//	<PRI>Mmm dd hh:mm:ss host tag[pid]: msg     RFC 3164, PRI optional
//	<PRI>2025-11-22T10:15:02.118311+00:00 host tag: msg   rsyslog RFC 3339 template
//	<PRI>1 2025-11-22T10:15:02Z host app procid msgid [sd] msg   RFC 5424
//
// A line with none of these headers is all message. go-syslog is not used
// here: it requires a PRI, which file lines lack, and allocates per line.
func (c *clock) splitSyslog(line []byte, h *syslogLine) {
	*h = syslogLine{pri: -1, msg: line}
	b := line
	if len(b) > 2 && b[0] == '<' {
		i := 1
		pri := 0
		for i < len(b) && i <= 4 && digit(b[i]) {
			pri = pri*10 + int(b[i]-'0')
			i++
		}
		if i > 1 && i < len(b) && b[i] == '>' && pri <= 191 {
			h.pri = pri
			b = b[i+1:]
			h.msg = b
			if len(b) > 2 && b[0] == '1' && b[1] == ' ' {
				c.split5424(b[2:], h)
				return
			}
		}
	}
	rest, ok := c.parseSyslogTime(b, h)
	if !ok && h.pri < 0 {
		// "file:Mmm dd …" as grep -H or grep -r prints matches: a name
		// without spaces, a colon, then an ordinary syslog line.
		if i := bytes.IndexByte(b, ':'); i > 0 && i < 256 && bytes.IndexByte(b[:i], ' ') < 0 {
			rest, ok = c.parseSyslogTime(b[i+1:], h)
		}
	}
	if !ok {
		return
	}
	// host
	rest = skipSpaces(rest)
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		h.msg = rest
		return
	}
	h.host = rest[:sp]
	rest = rest[sp+1:]
	h.afterHost = rest
	h.msg = rest
	// tag: the first token, if it ends with ':' (optionally after [pid]).
	end := 0
	for end < len(rest) && rest[end] != ' ' && rest[end] != ':' && rest[end] != '[' {
		end++
	}
	if end == 0 || end >= len(rest) {
		return
	}
	tag := rest[:end]
	j := end
	var pid []byte
	if rest[j] == '[' {
		k := bytes.IndexByte(rest[j:], ']')
		if k < 0 {
			return
		}
		pid = rest[j+1 : j+k]
		j += k + 1
	}
	if j >= len(rest) || rest[j] != ':' {
		return
	}
	h.tag = tag
	h.pid = pid
	j++
	if j < len(rest) && rest[j] == ' ' {
		j++
	}
	h.msg = rest[j:]
}

// parseSyslogTime reads an RFC 3164 or RFC 3339 timestamp at the start of b
// and returns what follows it.
func (c *clock) parseSyslogTime(b []byte, h *syslogLine) ([]byte, bool) {
	// Consecutive lines of a busy log mostly share their second: reuse the
	// last conversion when the 15 bytes of "Mmm dd hh:mm:ss" are the same.
	if len(b) > 15 && b[15] == ' ' && c.lastStampOK && string(b[:15]) == string(c.lastStamp[:]) {
		h.time = c.lastStampTime
		h.hasTime = true
		return b[15:], true
	}
	if len(b) >= 15 && isAlpha(b[0]) && b[3] == ' ' {
		month := parseMonth(b)
		if month == 0 {
			return b, false
		}
		i := 4
		if b[i] == ' ' { // space-padded day
			i++
		}
		day := 0
		for i < len(b) && digit(b[i]) && day < 100 {
			day = day*10 + int(b[i]-'0')
			i++
		}
		if day < 1 || day > 31 || i >= len(b) || b[i] != ' ' {
			return b, false
		}
		i++
		hh, mm, ss, ok := parseHMS(b[i:])
		if !ok {
			return b, false
		}
		i += 8
		ns, n := parseFraction(b[i:])
		i += n
		year := c.inferYear(month, day)
		h.time = c.local(year, month, day, hh, mm, ss, ns)
		h.hasTime = true
		if i == 15 {
			copy(c.lastStamp[:], b[:15])
			c.lastStampTime, c.lastStampOK = h.time, true
		}
		return b[i:], true
	}
	if len(b) >= 20 && digit(b[0]) && b[4] == '-' {
		t, n, ok := parseRFC3339(b)
		if !ok {
			return b, false
		}
		h.time = t
		h.hasTime = true
		return b[n:], true
	}
	return b, false
}

// split5424 parses the part of an RFC 5424 line after "<PRI>1 ".
func (c *clock) split5424(b []byte, h *syslogLine) {
	field := func() []byte {
		sp := bytes.IndexByte(b, ' ')
		var f []byte
		if sp < 0 {
			f, b = b, nil
		} else {
			f, b = b[:sp], b[sp+1:]
		}
		return f
	}
	ts := field()
	if len(ts) > 1 || (len(ts) == 1 && ts[0] != '-') {
		if t, n, ok := parseRFC3339(ts); ok && n == len(ts) {
			h.time = t
			h.hasTime = true
		}
	}
	h.host = nilValue(field())
	h.tag = nilValue(field())
	h.pid = nilValue(field())
	field() // MSGID
	// STRUCTURED-DATA: "-" or one or more [id k="v"...] elements.
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	} else {
		for len(b) > 0 && b[0] == '[' {
			i := 1
			inQuote := false
			for i < len(b) {
				ch := b[i]
				if inQuote {
					if ch == '\\' {
						i += 2
						continue
					}
					if ch == '"' {
						inQuote = false
					}
				} else if ch == '"' {
					inQuote = true
				} else if ch == ']' {
					break
				}
				i++
			}
			if i >= len(b) {
				b = nil
				break
			}
			b = b[i+1:]
		}
	}
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	b = bytes.TrimPrefix(b, utf8BOM)
	h.msg = b
	h.afterHost = b
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func nilValue(b []byte) []byte {
	if len(b) == 1 && b[0] == '-' {
		return nil
	}
	return b
}

func skipSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}
