package packet

import (
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/rules"
)

// Interest decides, for every packet, whether its payload is worth keeping
// and whether a packet that is not an attempt should still become an event.
// It is built once from a rule set's prefilter and costs a few loads per
// packet: a bit per possible two-byte payload start per protocol, a length
// window for fwknop's SPA shape, and short lists of header values.
type Interest struct {
	// prefix2[p] has bit b0<<8|b1 set when a payload starting b0 b1 is
	// wanted for protocol class p (tcp, udp, icmp).
	prefix2 [3]*[1024]uint64
	// anyMax[p][t] keeps every ICMP payload of type t up to this length;
	// anyMax[p][256] is for any type and for TCP/UDP.
	anyMax     [3][257]uint16
	hasAny     [3]bool
	ipIDs      []uint16
	echoIDs    []uint16
	seqAckGaps []uint32
	spa        bool
}

const (
	classTCP = iota
	classUDP
	classICMP
	classNone
)

func protoClass(p event.Proto) int {
	switch p {
	case event.ProtoTCP:
		return classTCP
	case event.ProtoUDP:
		return classUDP
	case event.ProtoICMP, event.ProtoICMPv6:
		return classICMP
	}
	return classNone
}

// NewInterest builds the prefilter for a rule set's prefilter; spa also
// keeps payloads shaped like fwknop's single-packet authorization.
func NewInterest(pf rules.Prefilter, spa bool) *Interest {
	in := &Interest{spa: spa, ipIDs: pf.IPIDs, echoIDs: pf.EchoIDs, seqAckGaps: pf.SeqAckGaps}
	for _, p := range pf.Prefixes {
		c := protoClass(p.Proto)
		if c == classNone || len(p.Bytes) == 0 {
			continue
		}
		if in.prefix2[c] == nil {
			in.prefix2[c] = new([1024]uint64)
		}
		if len(p.Bytes) == 1 {
			for b := 0; b < 256; b++ {
				k := int(p.Bytes[0])<<8 | b
				in.prefix2[c][k>>6] |= 1 << (k & 63)
			}
			continue
		}
		k := int(p.Bytes[0])<<8 | int(p.Bytes[1])
		in.prefix2[c][k>>6] |= 1 << (k & 63)
	}
	for _, a := range pf.Any {
		c := protoClass(a.Proto)
		if c == classNone {
			continue
		}
		t := 256
		if a.ICMPType >= 0 && a.ICMPType < 256 && c == classICMP {
			t = a.ICMPType
		}
		in.anyMax[c][t] = max(in.anyMax[c][t], uint16(min(a.MaxLen, 65535)))
		in.hasAny[c] = true
	}
	return in
}

// keepPayload reports whether h's payload could matter to a detector.
func (in *Interest) keepPayload(h *Header) bool {
	p := h.Payload
	if len(p) == 0 || in == nil {
		return false
	}
	c := protoClass(h.Proto)
	if c == classNone {
		return false
	}
	if in.spa && SPAShaped(h.Proto, p) {
		return true
	}
	if len(p) >= 2 {
		if m := in.prefix2[c]; m != nil {
			k := int(p[0])<<8 | int(p[1])
			if m[k>>6]&(1<<(k&63)) != 0 {
				return true
			}
		}
	}
	if in.hasAny[c] {
		n := len(p)
		if n <= int(in.anyMax[c][256]) {
			return true
		}
		if c == classICMP && n <= int(in.anyMax[c][h.ICMPType]) {
			return true
		}
	}
	return in.headerKey(h)
}

// headerKey reports whether a header value some rule keys on is present:
// such a packet becomes an event even when it is not an attempt.
func (in *Interest) headerKey(h *Header) bool {
	if in == nil {
		return false
	}
	if h.Network == 4 {
		for _, id := range in.ipIDs {
			if h.IPID == id {
				return true
			}
		}
	}
	if h.EchoID != 0 {
		for _, id := range in.echoIDs {
			if h.EchoID == id {
				return true
			}
		}
	}
	if h.Proto == event.ProtoTCP && h.TCPFlags&event.FlagSYN != 0 && h.Ack != 0 {
		for _, g := range in.seqAckGaps {
			if h.Seq-h.Ack == g || h.Ack-h.Seq == g {
				return true
			}
		}
	}
	return false
}

// b64 marks the base64 alphabet fwknop uses (standard, no padding).
var b64 = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['+'], t['/'] = true, true
	return t
}()

// SPA payload lengths fwknopd accepts (server/process_packet.c).
const (
	SPAMinLen = 140
	SPAMaxLen = 1500
)

// SPAShaped is the cheap first look for fwknop SPA data: a payload of
// 140–1500 bytes whose first, middle and last bytes are in the base64
// alphabet, or an HTTP GET carrying one (fwknop -P http). The spa detector
// checks the whole shape.
func SPAShaped(proto event.Proto, p []byte) bool {
	n := len(p)
	if n >= SPAMinLen && n <= SPAMaxLen && b64[p[0]] && b64[p[n/2]] && b64[p[n-1]] {
		return true
	}
	return proto == event.ProtoTCP && n >= SPAMinLen && n <= SPAMaxLen+512 && string(p[:5]) == "GET /"
}
