package rules

import (
	"slices"

	"github.com/knockwatch/knockwatch/internal/event"
)

// Prefilter is what a packet source must let through for a Set's rules to
// see it: cheap tests a source runs on every packet before it copies a
// payload or makes an event of a packet that is not an attempt.
type Prefilter struct {
	// Prefixes are payload starts (one or two bytes) per protocol.
	Prefixes []Prefix
	// Any lists protocols (and ICMP types) whose payloads up to MaxLen
	// are all wanted: rules whose payload checks have no fixed start.
	Any []AnyPayload
	// IPIDs, EchoIDs and SeqAckGaps are header values some rule keys on;
	// a packet carrying one is wanted whole.
	IPIDs      []uint16
	EchoIDs    []uint16
	SeqAckGaps []uint32
}

// Prefix is a fixed payload start.
type Prefix struct {
	Proto event.Proto
	Bytes []byte // one or two bytes
}

// AnyPayload wants every payload of a protocol up to MaxLen bytes.
type AnyPayload struct {
	Proto event.Proto
	// ICMPType restricts ICMP rules to one type; -1 means any.
	ICMPType int
	MaxLen   int
}

// Prefilter derives the set's prefilter. Every rule contributes the most
// selective test it allows: a fixed payload start, else a header value,
// else its protocol's payloads up to its maximum length.
func (s *Set) Prefilter() Prefilter {
	var pf Prefilter
	for _, r := range s.Rules {
		m := &r.Match
		switch {
		case m.IPID.Set:
			pf.IPIDs = appendUnique(pf.IPIDs, m.IPID.V)
		case m.EchoID.Set:
			pf.EchoIDs = appendUnique(pf.EchoIDs, m.EchoID.V)
		case m.HasSeqAckGap:
			pf.SeqAckGaps = appendUnique(pf.SeqAckGaps, m.SeqAckGap)
		}
		if len(m.Payload) == 0 || m.IPID.Set || m.EchoID.Set {
			continue // header-only, or wanted whole by its header value
		}
		if c := m.Payload[0]; c.Kind == CheckBytes && c.Offset == 0 && !c.Not {
			pf.Prefixes = append(pf.Prefixes, Prefix{Proto: m.Proto, Bytes: c.Bytes[:min(2, len(c.Bytes))]})
			continue
		}
		if fixed := fixedStart(m.Payload); fixed != nil {
			pf.Prefixes = append(pf.Prefixes, Prefix{Proto: m.Proto, Bytes: fixed})
			continue
		}
		maxLen := 1500
		if m.PayloadMax > 0 {
			maxLen = min(m.PayloadMax, maxLen)
		}
		t := -1
		if m.ICMPType.Set {
			t = int(m.ICMPType.V)
		}
		pf.Any = append(pf.Any, AnyPayload{Proto: m.Proto, ICMPType: t, MaxLen: maxLen})
	}
	return pf
}

// fixedStart finds a bytes check at offset 0 anywhere in the list.
func fixedStart(cs []PayloadCheck) []byte {
	for _, c := range cs {
		if c.Kind == CheckBytes && c.Offset == 0 && !c.Not {
			return c.Bytes[:min(2, len(c.Bytes))]
		}
	}
	return nil
}

func appendUnique[T comparable](s []T, v T) []T {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
