package decode

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads the packet text the kernel's nf_log_syslog writes for
// iptables/ip6tables LOG and nftables `log` rules, as it reaches dmesg,
// rsyslog files, forwarded syslog, journald and ulogd2's LOGEMU file. UFW and
// firewalld prefixes map onto denied/allowed.

// netfilterState is what the netfilter message decoder keeps per stream.
type netfilterState struct {
	bootTime int64
	anchors  uptimeAnchors
	prefixes prefixCache
}

var (
	tokIN    = []byte("IN=")
	tokOUT   = []byte(" OUT=")
	tokSRC   = []byte("SRC=")
	tokPROTO = []byte("PROTO=")
)

// isNetfilter reports whether a message holds packet text.
func isNetfilter(msg []byte) bool {
	i := findIN(msg)
	return i >= 0 && bytes.Contains(msg[i:], []byte(" SRC="))
}

// findIN returns the index of the "IN=" that starts the packet text: the
// first one whose value is followed by " OUT=". The kernel puts the log
// prefix right before it with no separator, so "KNOCKIN=eth0" is legal.
func findIN(b []byte) int {
	off := 0
	for {
		i := bytes.Index(b[off:], tokIN)
		if i < 0 {
			return -1
		}
		i += off
		j := i + 3
		for j < len(b) && b[j] != ' ' {
			j++
		}
		if bytes.HasPrefix(b[j:], tokOUT) {
			return i
		}
		off = i + 3
	}
}

// decodeNetfilter decodes a line whose syslog header is already split into
// h. The time comes from h, or from the kernel stamp that starts the message.
func (d *syslogDecoder) decodeNetfilter(line []byte, h *syslogLine, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	msg := h.msg
	// ulogd2's LOGEMU writes "Mmm dd hh:mm:ss host <prefix> IN=…" with no
	// tag, so a "tag" other than the kernel's is really part of the prefix.
	if len(h.tag) > 0 && string(h.tag) != "kernel" && len(h.pid) == 0 {
		msg = h.afterHost
	}
	// dmesg --time-format iso writes "2025-11-22T10:15:02,118311+0000 PREFIX IN=…"
	// with no host: what the header split took for a host is the prefix.
	if len(h.tag) == 0 && len(h.host) > 0 && bytes.HasPrefix(msg, tokIN) {
		msg = line[len(line)-len(msg)-len(h.host)-1:]
	}
	// rsyslog keeps the space that followed an RFC 3164 tag in its msg
	// property, so relaying such a line in RFC 5424 gives "- -  [ 4821.…]".
	for len(msg) > 0 && msg[0] == ' ' {
		msg = msg[1:]
	}
	msgOff := len(line) - len(msg)
	nf := &d.nf

	var ev event.Event
	ev.Origin = origin
	ev.Kind = event.KindAttempt

	// Kernel stamps: "[ 4821.337104] " (uptime) or "[Sat Nov 22 10:15:02 2025] " (dmesg -T).
	uptime := int64(-1)
	if len(msg) > 2 && msg[0] == '[' {
		if up, n, ok := parseUptime(msg); ok {
			uptime = up
			msg = msg[n:]
		} else if t, n, ok := d.parseCtimeStamp(msg); ok {
			ev.Time = t
			h.hasTime = true
			h.time = t
			msg = msg[n:]
		}
	}
	switch {
	case h.hasTime && uptime >= 0:
		ev.Time = nf.anchors.of(h.host).refine(h.time, uptime)
	case h.hasTime:
		ev.Time = h.time
	case uptime >= 0:
		ev.Time = nf.bootTime + uptime
		if nf.bootTime == 0 {
			ev.Flags |= event.FlagRelativeTime
		}
	}

	in := findIN(msg)
	if in < 0 {
		// Not packet text. If it nevertheless carries the packet fields, it
		// is a damaged netfilter line rather than an unrelated one.
		if bytes.Contains(msg, tokSRC) && bytes.Contains(msg, tokPROTO) && bytes.Contains(msg, tokOUT) {
			return dst, errorf(ReasonMissingField, "IN", 0, "packet fields without the IN= that starts them")
		}
		return dst, nil
	}
	if !h.hasTime && uptime < 0 {
		return dst, errorf(ReasonBadTime, "", msgOff+1, "no timestamp (syslog header or kernel stamp)")
	}
	ev.Action = nf.prefixes.action(bytes.TrimSpace(msg[:in]))
	// Decode in place, in the slot the event will occupy, to save a copy.
	dst = append(dst, ev)
	if fastPacketText(msg[in:], &dst[len(dst)-1]) {
		return dst, nil
	}
	dst = dst[:len(dst)-1]
	// The layout was not the kernel's usual one (ICMP, fragments, IP
	// options, ulogd2, a damaged line): start over with the general parser.
	ev.Src, ev.Dst, ev.SrcPort, ev.DstPort = netip.Addr{}, netip.Addr{}, 0, 0
	ev.Proto, ev.TCPFlags, ev.TTL, ev.IPLen, ev.IPID, ev.Window, ev.PayloadLen = 0, 0, 0, 0, 0, 0, 0
	attempt, err := decodePacketText(msg[in:], msgOff+in, &ev)
	if err != nil || !attempt {
		return dst, err
	}
	return append(dst, ev), nil
}

// fastPacketText parses the layout nf_log_syslog writes for a TCP or UDP
// packet with default LOG flags, field by field in the kernel's fixed order:
//
//	IN= OUT= [MAC= ]SRC= DST= LEN= (TOS= PREC= TTL= ID= [CE ][DF ][MF ] | TC= HOPLIMIT= FLOWLBL= )
//	PROTO=TCP SPT= DPT= [SEQ= ACK= ]WINDOW= RES= <flags> URGP=   or   PROTO=UDP SPT= DPT= LEN=
//
// It reports false as soon as anything differs (ICMP, IP options,
// fragments, ulogd2's variant, damage) and the caller runs the general
// tokenizer. Almost every line of a real firewall log takes this path,
// which is what makes decoding fast enough for millions of lines a second.
func fastPacketText(b []byte, ev *event.Event) bool {
	var p fieldCursor
	p.b = b
	if !p.key("IN=") || !validIfname(p.value()) || !p.key("OUT=") || !validIfname(p.value()) {
		return false
	}
	if p.key("MAC=") {
		p.skipLongValue()
	}
	var ok bool
	if !p.key("SRC=") {
		return false
	}
	if ev.Src, ok = p.addr(); !ok {
		return false
	}
	if !p.key("DST=") {
		return false
	}
	if ev.Dst, ok = p.addr(); !ok {
		return false
	}
	if !p.key("LEN=") {
		return false
	}
	n, ok := parseUint(p.value(), 65535+40)
	if !ok {
		return false
	}
	ev.IPLen = uint16(min(n, 65535))
	df := false
	if ev.Src.Is4() {
		if !p.key("TOS=") {
			return false
		}
		p.skipValue()
		if !p.key("PREC=") {
			return false
		}
		p.skipValue()
		if !p.key("TTL=") {
			return false
		}
		if n, ok = parseUint(p.value(), 255); !ok {
			return false
		}
		ev.TTL = uint8(n)
		if !p.key("ID=") {
			return false
		}
		if n, ok = parseUint(p.value(), 65535); !ok {
			return false
		}
		ev.IPID = uint16(n)
		p.word("CE")
		if p.word("DF") {
			df = true
		}
		if p.word("MF") {
			return false
		}
	} else {
		if !p.key("TC=") {
			return false
		}
		p.value()
		if !p.key("HOPLIMIT=") {
			return false
		}
		if n, ok = parseUint(p.value(), 255); !ok {
			return false
		}
		ev.TTL = uint8(n)
		if !p.key("FLOWLBL=") {
			return false
		}
		p.value()
	}
	switch {
	case p.key("PROTO=TCP "):
		ev.Proto = event.ProtoTCP
	case p.key("PROTO=UDP "):
		ev.Proto = event.ProtoUDP
	default:
		return false
	}
	if !p.key("SPT=") {
		return false
	}
	if n, ok = parseUint(p.value(), 65535); !ok {
		return false
	}
	ev.SrcPort = uint16(n)
	if !p.key("DPT=") {
		return false
	}
	if n, ok = parseUint(p.value(), 65535); !ok {
		return false
	}
	ev.DstPort = uint16(n)
	if ev.Proto == event.ProtoUDP {
		if !p.key("LEN=") {
			return false
		}
		if n, ok = parseUint(p.value(), 65535); !ok || n < 8 {
			return false
		}
		ev.PayloadLen = uint16(n - 8)
	} else {
		if p.key("SEQ=") {
			p.value()
			if !p.key("ACK=") {
				return false
			}
			p.value()
		}
		if !p.key("WINDOW=") {
			return false
		}
		if n, ok = parseUint(p.value(), 65535); !ok {
			return false
		}
		ev.Window = uint16(n)
		if !p.key("RES=") {
			return false
		}
		p.skipValue()
		for {
			w := p.value()
			switch string(w) {
			case "AE", "CWR":
				ev.TCPFlags |= event.FlagCWR
			case "ECE":
				ev.TCPFlags |= event.FlagECE
			case "URG":
				ev.TCPFlags |= event.FlagURG
			case "ACK":
				ev.TCPFlags |= event.FlagACK
			case "PSH":
				ev.TCPFlags |= event.FlagPSH
			case "RST":
				ev.TCPFlags |= event.FlagRST
			case "SYN":
				ev.TCPFlags |= event.FlagSYN
			case "FIN":
				ev.TCPFlags |= event.FlagFIN
			default:
				if len(w) < 5 || string(w[:5]) != "URGP=" {
					return false
				}
				ev.Shape = packetShape(ev, df)
				return true
			}
		}
	}
	ev.Shape = packetShape(ev, df)
	return true
}

// fieldCursor walks "KEY=value KEY=value" text left to right.
type fieldCursor struct {
	b []byte
	i int
}

// key consumes k if the text continues with it.
func (c *fieldCursor) key(k string) bool {
	if len(c.b)-c.i >= len(k) && string(c.b[c.i:c.i+len(k)]) == k {
		c.i += len(k)
		return true
	}
	return false
}

// word consumes a bare word followed by a space.
func (c *fieldCursor) word(w string) bool {
	n := len(w)
	if len(c.b)-c.i > n && string(c.b[c.i:c.i+n]) == w && c.b[c.i+n] == ' ' {
		c.i += n + 1
		return true
	}
	return false
}

// value returns the text up to the next space and moves past the space.
func (c *fieldCursor) value() []byte {
	start := c.i
	for c.i < len(c.b) && c.b[c.i] != ' ' {
		c.i++
	}
	v := c.b[start:c.i]
	if c.i < len(c.b) {
		c.i++
	}
	return v
}

// skipValue skips a value; "0x00" (TOS, PREC, RES) in one step.
func (c *fieldCursor) skipValue() {
	if len(c.b)-c.i >= 5 && c.b[c.i] == '0' && c.b[c.i+1] == 'x' && c.b[c.i+4] == ' ' {
		c.i += 5
		return
	}
	c.value()
}

// addr reads an address value. Dotted quads are scanned once, in place;
// anything else goes through parseAddr.
func (c *fieldCursor) addr() (netip.Addr, bool) {
	if a, n := scanIPv4(c.b[c.i:]); n > 0 && (c.i+n == len(c.b) || c.b[c.i+n] == ' ') {
		c.i += n
		if c.i < len(c.b) {
			c.i++
		}
		return a, true
	}
	return parseAddr(c.value())
}

// skipLongValue skips a long value (MAC=) with a vectorised search.
func (c *fieldCursor) skipLongValue() {
	if j := bytes.IndexByte(c.b[c.i:], ' '); j >= 0 {
		c.i += j + 1
	} else {
		c.i = len(c.b)
	}
}

// decodePacketText parses "IN=… OUT=… SRC=… DST=… … PROTO=… …" into ev. base
// is the offset of b within its line, for error columns. It reports false,
// without error, for well-formed packets that carry no attempt to count: a
// later fragment or a truncated packet without ports.
func decodePacketText(b []byte, base int, ev *event.Event) (bool, error) {
	var (
		haveSrc, haveDst, haveProto bool
		afterProto                  bool
		fragment                    bool
		ipLenSet, ipIDSet           bool
		df                          bool
		havePorts                   int
	)
	i := 0
	for i < len(b) {
		for i < len(b) && b[i] == ' ' {
			i++
		}
		if i >= len(b) {
			break
		}
		start := i
		if b[i] == '[' { // the inner packet of an ICMP error: not this packet
			break
		}
		if b[i] == '(' { // OPT (…) value
			j := bytes.IndexByte(b[i:], ')')
			if j < 0 {
				break
			}
			i += j + 1
			continue
		}
		// Keys, bare words and most values are short: scan them by hand.
		// A value still going after 16 bytes (MAC= is 41) is finished with
		// IndexByte, which is vectorised but costs a call.
		for i < len(b) && b[i] != ' ' && b[i] != '=' {
			i++
		}
		eq := -1
		if i < len(b) && b[i] == '=' {
			eq = i - start
			lim := min(len(b), i+16)
			for i < lim && b[i] != ' ' {
				i++
			}
			if i == lim && i < len(b) {
				if j := bytes.IndexByte(b[i:], ' '); j >= 0 {
					i += j
				} else {
					i = len(b)
				}
			}
		}
		tok := b[start:i]
		col := base + start + 1
		if eq < 0 {
			switch string(tok) {
			case "SYN":
				ev.TCPFlags |= event.FlagSYN
			case "ACK":
				ev.TCPFlags |= event.FlagACK
			case "RST":
				ev.TCPFlags |= event.FlagRST
			case "FIN":
				ev.TCPFlags |= event.FlagFIN
			case "PSH":
				ev.TCPFlags |= event.FlagPSH
			case "URG":
				ev.TCPFlags |= event.FlagURG
			case "ECE":
				ev.TCPFlags |= event.FlagECE
			case "CWR":
				ev.TCPFlags |= event.FlagCWR
			case "DF":
				df = true
			case "FRAG:", "FRAG":
				fragment = true
			}
			if len(tok) > 5 && string(tok[:5]) == "FRAG:" {
				if off, ok := parseUint(tok[5:], 65535); ok && off > 0 {
					fragment = true
				}
			}
			continue
		}
		key, val := tok[:eq], tok[eq+1:]
		switch string(key) {
		case "IN", "OUT", "PHYSIN", "PHYSOUT":
			if !validIfname(val) {
				return false, errorf(ReasonBadField, string(key), col, "invalid interface name")
			}
		case "SRC", "DST":
			a, ok := parseAddr(val)
			if !ok {
				return false, errorf(ReasonBadAddr, string(key), col, "not an IP address")
			}
			if key[0] == 'S' {
				ev.Src, haveSrc = a, true
			} else {
				ev.Dst, haveDst = a, true
			}
		case "LEN":
			n, ok := parseUint(val, 65535+40)
			if !ok {
				return false, errorf(ReasonBadField, "LEN", col, "not a length")
			}
			if !ipLenSet {
				ev.IPLen = uint16(min(n, 65535))
				ipLenSet = true
			} else if afterProto && ev.Proto == event.ProtoUDP && n >= 8 {
				ev.PayloadLen = uint16(n - 8)
			}
		case "TTL", "HOPLIMIT":
			if n, ok := parseUint(val, 255); ok {
				ev.TTL = uint8(n)
			}
		case "ID":
			if !ipIDSet && !afterProto {
				if n, ok := parseUint(val, 65535); ok {
					ev.IPID = uint16(n)
				}
				ipIDSet = true
			}
		case "PROTO":
			p, ok := event.ParseProto(val)
			if !ok {
				switch string(val) {
				case "AH", "ESP":
					if string(val) == "AH" {
						p = 51
					} else {
						p = 50
					}
				default:
					n, okn := parseUint(val, 255)
					if !okn {
						return false, errorf(ReasonBadProto, "PROTO", col, "unknown protocol")
					}
					p = event.Proto(n)
				}
			}
			ev.Proto = p
			haveProto = true
			afterProto = true
		case "SPT", "DPT":
			n, ok := parseUint(val, 65535)
			if !ok {
				return false, errorf(ReasonBadPort, string(key), col, "not a port number")
			}
			if key[0] == 'S' {
				ev.SrcPort = uint16(n)
			} else {
				ev.DstPort = uint16(n)
			}
			havePorts++
		case "WINDOW":
			if n, ok := parseUint(val, 65535); ok {
				ev.Window = uint16(n)
			}
		case "TYPE":
			if n, ok := parseUint(val, 255); ok {
				ev.ICMPType = uint8(n)
			}
		case "CODE":
			if n, ok := parseUint(val, 255); ok {
				ev.ICMPCode = uint8(n)
			}
		}
	}
	if !haveSrc {
		return false, errorf(ReasonMissingField, "SRC", 0, "")
	}
	if !haveDst {
		return false, errorf(ReasonMissingField, "DST", 0, "")
	}
	if !haveProto {
		if fragment {
			return false, nil
		}
		return false, errorf(ReasonMissingField, "PROTO", 0, "")
	}
	if ev.Proto == 0 {
		return false, nil // IPv6 hop-by-hop options: nothing to count
	}
	if ev.Proto == event.ProtoTCP || ev.Proto == event.ProtoUDP {
		if havePorts < 2 {
			if fragment || bytes.Contains(b, []byte("INCOMPLETE")) {
				// A later fragment or a truncated packet: no ports to count.
				return false, nil
			}
			return false, errorf(ReasonMissingField, "DPT", 0, "TCP/UDP packet without ports")
		}
	}
	ev.Shape = packetShape(ev, df)
	return true, nil
}

// packetShape recognises the header shapes of common tools from what a LOG
// line shows: total length, window, IP ID and DF.
func packetShape(ev *event.Event, df bool) event.Shape {
	switch ev.Proto {
	case event.ProtoTCP:
		if ev.TCPFlags&event.FlagSYN == 0 || ev.TCPFlags&event.FlagACK != 0 {
			return event.ShapeUnknown
		}
		if ev.IPID == 54321 && !df {
			return event.ShapeZmap
		}
		v4 := ev.Src.Is4()
		hdr := uint16(20)
		if !v4 {
			hdr = 40
		}
		switch {
		case ev.IPLen == hdr+24 && !df && ev.Window%1024 == 0 && ev.Window <= 4096 && ev.Window > 0:
			return event.ShapeNmap
		case ev.IPLen == hdr+20 && !df && ev.Window == 1024:
			return event.ShapeMasscan
		case ev.IPLen == hdr+20 && ev.Window == 64:
			return event.ShapeHping
		case ev.IPLen >= hdr+28 && (df || !v4):
			return event.ShapeOSStack
		}
	case event.ProtoUDP:
		if ev.PayloadLen == 1 {
			return event.ShapeKnockUDP
		}
	}
	return event.ShapeUnknown
}

// validIfname accepts what the kernel accepts as an interface name (at most
// 15 bytes, no '/', ':' or white space) and, for names with a dot, only the
// VLAN form NAME.VID, which is the only dotted name tools create.
func validIfname(b []byte) bool {
	if len(b) > 15 {
		return false
	}
	dot := -1
	for i, c := range b {
		if c <= ' ' || c == '/' || c == ':' || c >= 0x7f {
			return false
		}
		if c == '.' {
			dot = i
		}
	}
	if dot >= 0 {
		if dot == 0 || dot == len(b)-1 {
			return false
		}
		for _, c := range b[dot+1:] {
			if !digit(c) {
				return false
			}
		}
	}
	return true
}

// parseUptime reads a kernel printk stamp "[ 4821.337104] " and returns the
// uptime in ns and the bytes consumed.
func parseUptime(b []byte) (int64, int, bool) {
	i := 1
	for i < len(b) && b[i] == ' ' {
		i++
	}
	var sec int64
	start := i
	for i < len(b) && digit(b[i]) && i-start < 12 {
		sec = sec*10 + int64(b[i]-'0')
		i++
	}
	if i == start || i >= len(b) || b[i] != '.' {
		return 0, 0, false
	}
	ns, n := parseFraction(b[i:])
	if n == 0 {
		return 0, 0, false
	}
	i += n
	if i >= len(b) || b[i] != ']' {
		return 0, 0, false
	}
	i++
	if i < len(b) && b[i] == ' ' {
		i++
	}
	return sec*int64(time.Second) + ns, i, true
}

// parseCtimeStamp reads dmesg -T's "[Sat Nov 22 10:15:02 2025] ".
func (d *syslogDecoder) parseCtimeStamp(b []byte) (int64, int, bool) {
	// [Www Mmm dd hh:mm:ss yyyy]
	if len(b) < 26 || b[4] != ' ' || b[8] != ' ' {
		return 0, 0, false
	}
	month := parseMonth(b[5:])
	if month == 0 {
		return 0, 0, false
	}
	i := 9
	if b[i] == ' ' {
		i++
	}
	day := 0
	for i < len(b) && digit(b[i]) && day < 100 {
		day = day*10 + int(b[i]-'0')
		i++
	}
	if day < 1 || day > 31 || i >= len(b) || b[i] != ' ' {
		return 0, 0, false
	}
	i++
	hh, mm, ss, ok := parseHMS(b[i:])
	if !ok {
		return 0, 0, false
	}
	i += 8
	if i+6 > len(b) || b[i] != ' ' {
		return 0, 0, false
	}
	year, ok := atoi4(b[i+1:])
	if !ok || b[i+5] != ']' {
		return 0, 0, false
	}
	i += 6
	if i < len(b) && b[i] == ' ' {
		i++
	}
	return d.clk.local(year, month, day, hh, mm, ss, 0), i, true
}

// uptimeAnchor turns the kernel's microsecond uptime stamp into wall time,
// so knocks logged within one syslog second keep their real spacing. The
// boot time is fixed from the first line (its syslog second plus half a
// second, the middle of what that stamp allows) and kept while the derived
// times stay within a second of the syslog stamps: moving it line by line
// would shift some gaps by up to a second and break exactly the spacing the
// stamp is there to give. A line that disagrees by more (reboot, suspend,
// clock step) re-anchors.
type uptimeAnchor struct {
	boot int64
	set  bool
}

func (a *uptimeAnchor) refine(wall, uptime int64) int64 {
	if wall%int64(time.Second) != 0 {
		return wall // the header already carries a fraction
	}
	t := a.boot + uptime
	if !a.set || t < wall-int64(time.Second) || t >= wall+2*int64(time.Second) {
		a.boot = wall + int64(time.Second)/2 - uptime
		a.set = true
		t = a.boot + uptime
	}
	return t
}

// uptimeAnchors keeps an anchor per sending host: a central log file or a
// syslog listener interleaves the lines of several kernels, each with its
// own boot time, and one shared anchor would be moved by each host in turn
// and lose every host's spacing. The last few hosts are kept (a stream
// names few); beyond them the oldest is reused.
type uptimeAnchors struct {
	keys    [8][32]byte
	lens    [8]uint8
	anchors [8]uptimeAnchor
	n, next int
}

// of returns host's anchor. Names longer than the key are told apart by
// their first 32 bytes.
func (a *uptimeAnchors) of(host []byte) *uptimeAnchor {
	key := host[:min(len(host), 32)]
	for k := 0; k < a.n; k++ {
		if int(a.lens[k]) == len(key) && bytes.Equal(a.keys[k][:len(key)], key) {
			return &a.anchors[k]
		}
	}
	k := a.next
	a.next = (a.next + 1) % len(a.keys)
	a.n = max(a.n, k+1)
	copy(a.keys[k][:], key)
	a.lens[k] = uint8(len(key))
	a.anchors[k] = uptimeAnchor{}
	return &a.anchors[k]
}

// prefixCache maps a log prefix to the verdict it names. Prefixes repeat on
// almost every line, so the last few are remembered.
type prefixCache struct {
	keys    [8][32]byte
	lens    [8]int8
	actions [8]event.Action
	next    int
}

func (c *prefixCache) action(prefix []byte) event.Action {
	if len(prefix) <= 32 {
		for k := range c.keys {
			if int(c.lens[k]) == len(prefix) && bytes.Equal(c.keys[k][:len(prefix)], prefix) {
				return c.actions[k]
			}
		}
	}
	a := prefixAction(prefix)
	if len(prefix) <= 32 {
		k := c.next
		c.next = (c.next + 1) % len(c.keys)
		copy(c.keys[k][:], prefix)
		c.lens[k] = int8(len(prefix))
		c.actions[k] = a
	}
	return a
}

// prefixAction reads the verdict out of a log prefix ("[UFW BLOCK]",
// "filter_IN_public_REJECT:", "IPTABLES-DROP:", "knock-seq"). Audit
// prefixes log packets whatever their fate, so they name no verdict.
func prefixAction(p []byte) event.Action {
	if containsFold(p, "AUDIT") {
		return event.ActionUnknown
	}
	for _, w := range deniedWords {
		if containsFold(p, w) {
			return event.ActionDenied
		}
	}
	for _, w := range allowedWords {
		if containsFold(p, w) {
			return event.ActionAllowed
		}
	}
	return event.ActionUnknown
}

var (
	deniedWords  = []string{"DROP", "REJECT", "BLOCK", "DENY", "DENIED", "INVALID"}
	allowedWords = []string{"ACCEPT", "ALLOW", "PASS"}
)

// containsFold reports whether b contains the upper-case word w, ignoring case.
func containsFold(b []byte, w string) bool {
	n := len(w)
	for i := 0; i+n <= len(b); i++ {
		j := 0
		for j < n {
			c := b[i+j]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			if c != w[j] {
				break
			}
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}
