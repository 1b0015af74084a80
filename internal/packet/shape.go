package packet

import "github.com/knockwatch/knockwatch/internal/event"

// Shape recognises the tool that built a packet from its header, for the
// sequence detector's scan-likeness: scanners craft their SYNs by hand and
// it shows.
//
//   - nmap's raw SYN (-sS): 44 bytes, one option (MSS), window 1024 (also
//     2048, 3072 or 4096 in some versions), no DF;
//   - masscan: 40 bytes, no options, window 1024, no DF;
//   - zmap: IP ID 54321, no DF;
//   - hping3 -S: 40 bytes, no options, window 64;
//   - a full TCP stack's connect() (the knock client, ssh, nc): MSS and
//     further options (Linux sends MSS, SACK-permitted, timestamps, window
//     scale: 20 bytes) and DF on IPv4;
//   - the knock client's UDP hit: one NUL byte of payload.
//
// The same facts, seen through a firewall log's LEN, WINDOW and ID, drive
// the netfilter decoder's shape; here the options themselves are visible.
func Shape(h *Header) event.Shape {
	switch h.Proto {
	case event.ProtoTCP:
		if h.TCPFlags&event.FlagSYN == 0 || h.TCPFlags&event.FlagACK != 0 {
			return event.ShapeUnknown
		}
		if h.Network == 4 && h.IPID == 54321 && !h.DF {
			return event.ShapeZmap
		}
		o := &h.TCPOpts
		switch {
		case o.Len == 4 && o.MSS != 0 && !h.DF && h.Window%1024 == 0 && h.Window > 0 && h.Window <= 4096:
			return event.ShapeNmap
		case o.Len == 0 && h.Window == 1024 && !h.DF:
			return event.ShapeMasscan
		case o.Len == 0 && h.Window == 64:
			return event.ShapeHping
		case o.Len >= 8 && o.MSS != 0 && (h.DF || h.Network == 6):
			return event.ShapeOSStack
		}
	case event.ProtoUDP:
		if h.PayloadLen == 1 && len(h.Payload) == 1 && h.Payload[0] == 0 {
			return event.ShapeKnockUDP
		}
	}
	return event.ShapeUnknown
}
