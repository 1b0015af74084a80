package packet

import "net/netip"

// slabSize is the size of one arena slab. Payloads above a quarter of it get
// their own allocation, so a slab is never mostly wasted.
const slabSize = 64 << 10

// arena hands out copies of payloads carved from slabs. A slab is filled
// once and then dropped, never reused: an event keeps its payload alive for
// as long as anyone holds the event, and the garbage collector frees a slab
// when the last event into it is gone. One allocation serves hundreds of
// payloads.
type arena struct{ buf []byte }

func (a *arena) copy(p []byte) []byte {
	n := len(p)
	if n == 0 {
		return []byte{}
	}
	if n > slabSize/4 {
		return append([]byte(nil), p...)
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, slabSize)
	}
	off := len(a.buf)
	a.buf = append(a.buf, p...)
	// The capacity limit keeps an append by a consumer from writing over
	// the next payload.
	return a.buf[off : off+n : off+n]
}

func netipAddr4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

// netipFrom16 undoes flowKey's 16-byte form.
func netipFrom16(b [16]byte) netip.Addr { return netip.AddrFrom16(b).Unmap() }
