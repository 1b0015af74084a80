package rules

import (
	"bytes"
	"math"

	"github.com/knockwatch/knockwatch/internal/event"
)

// Matches reports whether ev satisfies every per-packet condition of r (for
// a sequence rule: everything but the order of ports, and the destination
// port being one of the sequence's). Checks run cheapest first, so the
// common miss costs a few comparisons and no allocation.
func (r *Rule) Matches(ev *event.Event) bool {
	m := &r.Match
	if ev.Proto != m.Proto {
		return false
	}
	if m.FlagsSet|m.FlagsUnset != 0 && (ev.TCPFlags&m.FlagsSet != m.FlagsSet || ev.TCPFlags&m.FlagsUnset != 0) {
		return false
	}
	if m.IPID.Set && (ev.IPID != m.IPID.V || !ev.Src.Is4()) {
		return false
	}
	if m.Window.Set && ev.Window != m.Window.V {
		return false
	}
	if m.ICMPType.Set && ev.ICMPType != m.ICMPType.V {
		return false
	}
	if m.ICMPCode.Set && ev.ICMPCode != m.ICMPCode.V {
		return false
	}
	if m.EchoID.Set && ev.EchoID != m.EchoID.V {
		return false
	}
	if m.EchoSeq.Set && ev.EchoSeq != m.EchoSeq.V {
		return false
	}
	if m.HasSeqAckGap {
		if ev.Ack == 0 || ev.Flags&event.FlagPacket == 0 {
			return false
		}
		if ev.Seq-ev.Ack != m.SeqAckGap && !(m.EitherWay && ev.Ack-ev.Seq == m.SeqAckGap) {
			return false
		}
	}
	if len(m.SrcPorts) > 0 && !inRanges(ev.SrcPort, m.SrcPorts) {
		return false
	}
	if len(m.DstPorts) > 0 && !inRanges(ev.DstPort, m.DstPorts) {
		return false
	}
	if m.Sequence != nil && !inPorts(ev.DstPort, m.Sequence.Ports) {
		return false
	}
	if m.PayloadMax > 0 || m.PayloadMin > 0 {
		n := int(ev.PayloadLen)
		if ev.Payload != nil {
			n = max(n, len(ev.Payload))
		}
		if n < m.PayloadMin || n > m.PayloadMax {
			return false
		}
	}
	if len(m.Payload) > 0 {
		if ev.Payload == nil {
			return false
		}
		for i := range m.Payload {
			if !m.Payload[i].test(ev.Payload) {
				return false
			}
		}
	}
	return true
}

// NeedsPayload reports whether the rule can only match with the payload.
func (r *Rule) NeedsPayload() bool { return len(r.Match.Payload) > 0 }

func inRanges(p uint16, rs []PortRange) bool {
	for _, r := range rs {
		if p >= r.Lo && p <= r.Hi {
			return true
		}
	}
	return false
}

func inPorts(p uint16, ports []uint16) bool {
	for _, q := range ports {
		if p == q {
			return true
		}
	}
	return false
}

func (c *PayloadCheck) test(p []byte) bool {
	return c.eval(p) != c.Not
}

func (c *PayloadCheck) eval(p []byte) bool {
	if c.Offset > len(p) {
		return false
	}
	p = p[c.Offset:]
	switch c.Kind {
	case CheckBytes:
		return bytes.HasPrefix(p, c.Bytes)
	case CheckPrintable:
		n := c.Length
		if n == 0 {
			n = len(p)
			if n == 0 {
				return false
			}
		}
		if len(p) < n {
			return false
		}
		for _, b := range p[:n] {
			if b < 0x20 || b >= 0x7f {
				return false
			}
		}
		return true
	case CheckRegex:
		return c.Regex.Match(p)
	case CheckRepeat:
		unit := c.Length
		if len(p) < unit*c.Count {
			return false
		}
		for k := 1; k < c.Count; k++ {
			if !bytes.Equal(p[:unit], p[k*unit:(k+1)*unit]) {
				return false
			}
		}
		return true
	case CheckEntropy:
		return Entropy(p) >= c.MinEntropy
	}
	return false
}

// Entropy is the Shannon entropy of p in bits per byte.
func Entropy(p []byte) float64 {
	if len(p) == 0 {
		return 0
	}
	var counts [256]uint32
	for _, b := range p {
		counts[b]++
	}
	n := float64(len(p))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			f := float64(c) / n
			h -= f * math.Log2(f)
		}
	}
	return h
}
