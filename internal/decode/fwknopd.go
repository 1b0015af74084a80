package decode

import (
	"bytes"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads fwknopd's messages (formats.md 2.3–2.4, fwknop 2.6.x) as
// they reach syslog (tag "fwknopd[pid]"), journald or Sentinel's Syslog
// table. The formats are fwknopd's own log_msg() strings; lines this file
// does not know (debug output, packet dumps) yield no event.

var (
	fwStanza     = []byte("(stanza #")
	fwSPAFrom    = []byte("SPA Packet from IP: ")
	fwSourceOK   = []byte(" received with access source match")
	fwNoAccess   = []byte("No access data found for source IP: ")
	fwNonCorr    = []byte("Non-corresponding HMAC for this stanza")
	fwFkoCtx     = []byte("Error creating fko context: ")
	fwGPG        = []byte("- GPG ERROR: ")
	fwNATFrom    = []byte("SPA packet from ")
	fwReplay     = []byte("Replay detected from source IP: ")
	fwAdded      = []byte("Added ")
	fwRuleTo     = []byte(" rule to ")
	fwFor        = []byte(" for ")
	fwExpiresAt  = []byte(" expires at ")
	fwRemoved    = []byte("Removed rule ")
	fwExpireTime = []byte(" with expire time of ")
	fwProcessing = []byte("Processing SPA Command message: command='")
	fwRunning    = []byte("Running command '")
	fwCmdExec    = []byte("CMD_EXEC: command returned ")
	fwCycle      = []byte("CMD_CYCLE_")
)

// decodeFwknopd decodes one fwknopd message.
func (d *syslogDecoder) decodeFwknopd(line []byte, h *syslogLine, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	return decodeFwknopdMsg(&d.daemons, line, h, origin, dst)
}

// fwMsg is a classified fwknopd message: byte ranges into the message.
type fwMsg struct {
	what    string
	src     []byte
	other   []byte
	stanza  []byte // the "stanza #N" text
	rule    []byte
	access  []byte
	command []byte
	detail  []byte
	expires int64
	code    int
}

func decodeFwknopdMsg(s *daemonState, line []byte, h *syslogLine, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	msg := trimDaemonMsg(h.msg)
	m, err := parseFwknopd(msg)
	if err != nil {
		if base := len(line) - len(h.msg); base >= 0 && err.Column > 0 {
			err.Column += base + (len(h.msg) - len(bytes.TrimLeft(h.msg, " ")))
		}
		return dst, err
	}
	if m.what == "" {
		return dst, nil
	}
	if !h.hasTime {
		return dst, errorf(ReasonBadTime, "", 0, "fwknopd line without a timestamp")
	}
	var src, other event.Event
	if len(m.src) > 0 {
		a, ok := parseAddr(m.src)
		if !ok {
			return dst, errorf(ReasonBadAddr, "ip", 0, "source is not an IP address")
		}
		src.Src = a
	}
	if len(m.other) > 0 {
		a, ok := parseAddr(m.other)
		if !ok {
			return dst, errorf(ReasonBadAddr, "original ip", 0, "original source is not an IP address")
		}
		other.Src = a
	}
	ev, dm, text := s.daemonEvent("fwknopd", h, msg, origin)
	ev.Src = src.Src
	dm.What = m.what
	dm.Other = other.Src
	dm.Door = sub(text, msg, m.stanza)
	dm.Rule = sub(text, msg, m.rule)
	dm.Access = sub(text, msg, m.access)
	dm.Command = sub(text, msg, m.command)
	dm.Detail = sub(text, msg, m.detail)
	dm.Expires = m.expires
	dm.Code = m.code
	if m.what == event.DaemonReplay {
		ev.Proto = event.Proto(m.code >> 16)
		ev.DstPort = uint16(m.code)
		dm.Code = m.code & 0xffff
	}
	if m.what == event.DaemonRuleAdded && len(m.access) > 0 {
		setAccessPort(&ev, m.access)
	}
	return append(dst, ev), nil
}

// setAccessPort puts the first "proto/port" of an access list on the event.
func setAccessPort(ev *event.Event, access []byte) {
	first := access
	if i := bytes.IndexByte(first, ','); i >= 0 {
		first = first[:i]
	}
	slash := bytes.IndexByte(first, '/')
	if slash <= 0 {
		return
	}
	p, ok := event.ParseProto(first[:slash])
	if !ok {
		return
	}
	n, ok := parseUint(first[slash+1:], 65535)
	if !ok {
		return
	}
	ev.Proto, ev.DstPort = p, uint16(n)
}

// parseFwknopd classifies a message. It returns an empty what for lines
// that are fwknopd's but carry nothing to report, and an error for lines
// that have a known shape but a broken field.
func parseFwknopd(msg []byte) (fwMsg, *Error) {
	var m fwMsg
	// "[ip] (stanza #N) rest" and "(stanza #N) rest".
	rest := msg
	if len(rest) > 0 && rest[0] == '[' {
		j := bytes.IndexByte(rest, ']')
		if j > 0 && bytes.HasPrefix(rest[j+1:], []byte(" (stanza #")) {
			m.src = rest[1:j]
			rest = rest[j+2:]
		}
	}
	if bytes.HasPrefix(rest, fwStanza) {
		j := bytes.IndexByte(rest, ')')
		if j < 0 {
			return m, errorf(ReasonMalformed, "stanza", len(msg)-len(rest)+1, "unterminated (stanza #N)")
		}
		if _, ok := parseUint(rest[len(fwStanza):j], 1<<20); !ok {
			return m, errorf(ReasonBadField, "stanza", len(msg)-len(rest)+len(fwStanza)+1, "stanza is not a number")
		}
		m.stanza = rest[1:j]
		rest = bytes.TrimLeft(rest[j+1:], " ")
		return parseFwStanzaMsg(m, msg, rest)
	}
	switch {
	case bytes.HasPrefix(msg, fwNoAccess):
		m.what, m.src = event.DaemonNoAccess, msg[len(fwNoAccess):]
	case bytes.HasPrefix(msg, fwReplay):
		return parseFwReplay(m, msg)
	case bytes.HasPrefix(msg, []byte("Added jump rule")):
		m.what = event.DaemonSetup
	case bytes.HasPrefix(msg, fwAdded):
		return parseFwAdded(m, msg)
	case bytes.HasPrefix(msg, fwRemoved):
		// "Removed rule %s from %s with expire time of %u"
		rest := msg[len(fwRemoved):]
		sp := bytes.IndexByte(rest, ' ')
		k := bytes.Index(rest, fwExpireTime)
		if sp <= 0 || k < 0 {
			return m, errorf(ReasonMalformed, "", 1, "Removed rule line without a rule number or expire time")
		}
		exp, ok := parseUint(rest[k+len(fwExpireTime):], 1<<40)
		if !ok {
			return m, errorf(ReasonBadTime, "expire", len(fwRemoved)+k+len(fwExpireTime)+1, "expire time is not Unix seconds")
		}
		m.what, m.rule, m.expires = event.DaemonRuleRemoved, rest[:k], int64(exp)*int64(time.Second)
	case bytes.HasPrefix(msg, []byte("Deleting rule with expire time of ")), bytes.HasPrefix(msg, []byte("Moved rule ")):
		// pf and ipfw removals.
		k := bytes.Index(msg, []byte("expire time of "))
		if k < 0 {
			return m, nil
		}
		num := msg[k+len("expire time of "):]
		e := 0
		for e < len(num) && digit(num[e]) {
			e++
		}
		exp, ok := parseUint(num[:e], 1<<40)
		if !ok {
			return m, errorf(ReasonBadTime, "expire", k+len("expire time of ")+1, "expire time is not Unix seconds")
		}
		m.what, m.expires = event.DaemonRuleRemoved, int64(exp)*int64(time.Second)
	case string(msg) == "Starting fwknopd", string(msg) == "Re-starting fwknopd", string(msg) == "Starting fwknopd main event loop.":
		m.what = event.DaemonStart
	case string(msg) == "Shutting Down fwknopd.", bytes.HasPrefix(msg, []byte("Got SIGINT.")), bytes.HasPrefix(msg, []byte("Got SIGTERM.")):
		m.what = event.DaemonStop
	case bytes.HasPrefix(msg, []byte("Got SIGHUP.")):
		m.what = event.DaemonReload
	case bytes.HasPrefix(msg, []byte("Sniffing interface: ")),
		bytes.HasPrefix(msg, []byte("PCAP filter is: ")),
		bytes.HasPrefix(msg, []byte("Kicking off ")),
		bytes.HasPrefix(msg, []byte("Using Digest Cache: ")),
		bytes.HasPrefix(msg, []byte("iptables 'comment' match is available")),
		bytes.HasPrefix(msg, []byte("Warning: REQUIRE_SOURCE_ADDRESS not enabled")):
		m.what = event.DaemonSetup
	}
	return m, nil
}

// parseFwStanzaMsg classifies what follows "(stanza #N) ".
func parseFwStanzaMsg(m fwMsg, msg, rest []byte) (fwMsg, *Error) {
	col := len(msg) - len(rest) + 1
	switch {
	case bytes.HasPrefix(rest, fwSPAFrom):
		r := rest[len(fwSPAFrom):]
		i := bytes.Index(r, fwSourceOK)
		if i <= 0 {
			return m, errorf(ReasonMalformed, "", col, "SPA Packet line without its source match text")
		}
		m.what, m.src = event.DaemonSPAPacket, r[:i]
	case bytes.HasPrefix(rest, fwNonCorr):
		m.what = event.DaemonDigestFailed
		m.detail = rest
	case bytes.HasPrefix(rest, fwFkoCtx):
		m.detail = rest[len(fwFkoCtx):]
		m.what = event.DaemonDecryptFailed
		if bytes.Contains(m.detail, []byte("HMAC")) {
			m.what = event.DaemonDigestFailed
		}
	case bytes.HasPrefix(rest, fwGPG):
		m.what, m.detail = event.DaemonDecryptFailed, rest[len(fwGPG):]
	case bytes.HasPrefix(rest, fwNATFrom):
		// "(stanza #N) SPA packet from %s requested NAT access, but is not enabled/supported"
		r := rest[len(fwNATFrom):]
		sp := bytes.IndexByte(r, ' ')
		if sp <= 0 {
			return m, errorf(ReasonMalformed, "", col, "SPA packet line without a source")
		}
		m.what, m.src, m.detail = event.DaemonSPARejected, r[:sp], r[sp+1:]
	case bytes.HasPrefix(rest, fwProcessing):
		c := rest[len(fwProcessing):]
		c = bytes.TrimSuffix(bytes.TrimSuffix(c, []byte(".")), []byte("'"))
		m.what, m.command = event.DaemonCommand, c
	case bytes.HasPrefix(rest, fwRunning):
		c := bytes.TrimSuffix(rest[len(fwRunning):], []byte("'"))
		m.what, m.command = event.DaemonCommand, c
	case bytes.HasPrefix(rest, fwCmdExec):
		r := rest[len(fwCmdExec):]
		e := 0
		if e < len(r) && r[e] == '-' {
			e++
		}
		for e < len(r) && digit(r[e]) {
			e++
		}
		neg := len(r) > 0 && r[0] == '-'
		num := r[:e]
		if neg {
			num = num[1:]
		}
		n, ok := parseUint(num, 1<<31)
		if !ok {
			return m, errorf(ReasonBadField, "returned", col+len(fwCmdExec), "exit status is not a number")
		}
		if n == 0 {
			return m, nil
		}
		m.what, m.code = event.DaemonCommandFailed, int(n)
		if neg {
			m.code = -m.code
		}
	case bytes.Contains(rest, fwCycle):
		// "Running CMD_CYCLE_OPEN command: %s", "... CMD_CYCLE_CLOSE command in %d seconds: %s"
		if i := bytes.Index(rest, []byte(": ")); i >= 0 {
			m.command = rest[i+2:]
		}
		m.what = event.DaemonCommand
	case bytes.HasPrefix(rest, []byte("Access stanza has expired")),
		bytes.HasPrefix(rest, []byte("No stanza encryption mode match")),
		bytes.HasPrefix(rest, []byte("SPA data time difference is too great")),
		bytes.HasPrefix(rest, []byte("Username in SPA data")),
		bytes.HasPrefix(rest, []byte("Got 0.0.0.0 when valid source IP was required")),
		bytes.HasPrefix(rest, []byte("One or more requested protocol/ports was denied")),
		bytes.HasPrefix(rest, []byte("Invalid source IP in SPA message")),
		bytes.HasPrefix(rest, []byte("SPA Command messages are not allowed")):
		m.what, m.detail = event.DaemonSPARejected, rest
	default:
		m.src, m.stanza = nil, nil
	}
	return m, nil
}

// parseFwReplay reads "Replay detected from source IP: %s, Destination
// proto/port: %d/%d, Original source IP: %s, Original dst proto/port:
// %d/%d, Entry created: %s[, First replay: …]". The destination protocol
// and port travel in code as proto<<16|port.
func parseFwReplay(m fwMsg, msg []byte) (fwMsg, *Error) {
	r := msg[len(fwReplay):]
	c := bytes.IndexByte(r, ',')
	if c <= 0 {
		return m, errorf(ReasonMalformed, "", len(fwReplay)+1, "replay line without its fields")
	}
	m.what, m.src = event.DaemonReplay, r[:c]
	if i := bytes.Index(r, []byte("Destination proto/port: ")); i >= 0 {
		f := r[i+len("Destination proto/port: "):]
		if e := bytes.IndexByte(f, ','); e >= 0 {
			f = f[:e]
		}
		if sl := bytes.IndexByte(f, '/'); sl > 0 {
			p, ok1 := parseUint(f[:sl], 255)
			n, ok2 := parseUint(f[sl+1:], 65535)
			if !ok1 || !ok2 {
				return m, errorf(ReasonBadPort, "Destination proto/port", len(fwReplay)+i+1, "not proto/port numbers")
			}
			m.code = int(p)<<16 | int(n)
		}
	}
	if i := bytes.Index(r, []byte("Original source IP: ")); i >= 0 {
		f := r[i+len("Original source IP: "):]
		if e := bytes.IndexByte(f, ','); e >= 0 {
			f = f[:e]
		}
		m.other = f
	}
	if i := bytes.Index(r, []byte("Entry created: ")); i >= 0 {
		m.detail = r[i:]
	}
	return m, nil
}

// parseFwAdded reads the rule lines: iptables/firewalld "Added %s rule to
// %s for %s -> %s %s, expires at %u", pf "Added Rule for %s, %s expires at
// %u" and ipfw "Added Rule %u for %s, %s expires at %u".
func parseFwAdded(m fwMsg, msg []byte) (fwMsg, *Error) {
	k := bytes.LastIndex(msg, fwExpiresAt)
	if k < 0 {
		return m, nil
	}
	exp, ok := parseUint(msg[k+len(fwExpiresAt):], 1<<40)
	if !ok {
		return m, errorf(ReasonBadTime, "expires", k+len(fwExpiresAt)+1, "expiry is not Unix seconds")
	}
	m.what, m.expires = event.DaemonRuleAdded, int64(exp)*int64(time.Second)
	head := bytes.TrimSuffix(msg[:k], []byte(","))
	if bytes.Contains(head, fwRuleTo) {
		// "... for SRC -> DST ACCESS"
		f := bytes.Index(head, fwFor)
		if f < 0 {
			return m, errorf(ReasonMissingField, "for", 1, "rule line without its address")
		}
		r := head[f+len(fwFor):]
		sp := bytes.IndexByte(r, ' ')
		if sp <= 0 {
			return m, errorf(ReasonMissingField, "ip", f+len(fwFor)+1, "rule line without its address")
		}
		m.src = r[:sp]
		if ls := bytes.LastIndexByte(r, ' '); ls > sp {
			m.access = r[ls+1:]
		}
		m.rule = head[len(fwAdded):]
		return m, nil
	}
	// pf / ipfw: "Added Rule [N ]for SRC, ACCESS"
	f := bytes.Index(head, []byte("for "))
	if f < 0 {
		return m, errorf(ReasonMissingField, "for", 1, "rule line without its address")
	}
	r := head[f+4:]
	c := bytes.Index(r, []byte(", "))
	if c <= 0 {
		return m, errorf(ReasonMissingField, "ip", f+5, "rule line without its address")
	}
	m.src, m.access, m.rule = r[:c], bytes.TrimSpace(r[c+2:]), head[len(fwAdded):]
	return m, nil
}
