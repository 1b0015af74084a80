package decode

import (
	"net/netip"
	"unsafe"
)

// parseAddr parses an IPv4 or IPv6 address from bytes without allocating.
// IPv4 dotted quads and the kernel's fully expanded IPv6 form (%pI6, eight
// groups of four hex digits) are parsed by hand; anything else goes to
// netip.ParseAddr through an unsafe string view, which is sound because
// ParseAddr keeps no reference to its argument (zones are copied by
// unique.Make). IPv4-mapped IPv6 addresses are unmapped, so one host has one
// key everywhere.
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	if len(b) == 39 {
		if a, ok := parseIPv6Full(b); ok {
			return a.Unmap(), true
		}
	}
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// scanIPv4 reads a dotted quad at the start of b and returns it with the
// bytes consumed, 0 if b does not start with one.
func scanIPv4(b []byte) (netip.Addr, int) {
	var ip [4]byte
	i := 0
	for part := 0; part < 4; part++ {
		if part > 0 {
			if i >= len(b) || b[i] != '.' {
				return netip.Addr{}, 0
			}
			i++
		}
		start := i
		v := 0
		for i < len(b) && i-start < 3 && b[i] >= '0' && b[i] <= '9' {
			v = v*10 + int(b[i]-'0')
			i++
		}
		if i == start || v > 255 || (b[start] == '0' && i-start > 1) {
			return netip.Addr{}, 0
		}
		ip[part] = byte(v)
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		return netip.Addr{}, 0
	}
	return netip.AddrFrom4(ip), i
}

func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	n, part, digits := 0, 0, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case digit(c):
			if digits > 0 && part == 0 { // no leading zeros, as netip
				return netip.Addr{}, false
			}
			part = part*10 + int(c-'0')
			digits++
			if part > 255 {
				return netip.Addr{}, false
			}
		case c == '.':
			if digits == 0 || n == 3 {
				return netip.Addr{}, false
			}
			ip[n] = byte(part)
			n++
			part, digits = 0, 0
		default:
			return netip.Addr{}, false
		}
	}
	if n != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(part)
	return netip.AddrFrom4(ip), true
}

func parseIPv6Full(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	for g := 0; g < 8; g++ {
		o := g * 5
		if g < 7 && b[o+4] != ':' {
			return netip.Addr{}, false
		}
		var v uint16
		for k := 0; k < 4; k++ {
			h, ok := unhex(b[o+k])
			if !ok {
				return netip.Addr{}, false
			}
			v = v<<4 | uint16(h)
		}
		ip[2*g] = byte(v >> 8)
		ip[2*g+1] = byte(v)
	}
	return netip.AddrFrom16(ip), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
