// Package emulate sends the traffic of the techniques knockwatch detects,
// harmlessly, so a detection pipeline can be proven end to end (atomic
// tests): a knock sequence shaped like the knock client's, a datagram
// shaped like fwknop's single-packet authorization (random bytes, no key
// material) and a small port scan.
//
// Everything is bounded: a plan holds at most MaxPackets packets, is sent
// no faster than MaxRate packets per second, and goes to loopback unless
// the caller names a target. Describe prints a plan without sending it.
package emulate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Limits that no flag can raise.
const (
	// MaxPackets caps one run.
	MaxPackets = 1024
	// MaxRate caps the packets sent per second.
	MaxRate = 1000
)

// DefaultTarget is where probes go when no target is given.
var DefaultTarget = netip.MustParseAddr("127.0.0.1")

// Proto is the transport of a probe.
type Proto string

// Transports.
const (
	TCP    Proto = "tcp"
	UDP    Proto = "udp"
	ICMP   Proto = "icmp"
	ICMPv6 Proto = "icmpv6"
)

// Probe is one packet to send.
type Probe struct {
	Proto Proto
	Port  uint16
	// Payload is the UDP datagram's payload (TCP probes carry none: they
	// are a bare connection attempt, one SYN).
	Payload []byte
	// Wait is the pause before this probe.
	Wait time.Duration
	// Note says what the probe stands for.
	Note string
	// Header, if set, holds header values a magic-packet rule keys on:
	// the probe is crafted and sent through a raw socket.
	Header *Header
}

// Plan is what a run sends.
type Plan struct {
	Technique string
	Target    netip.Addr
	Probes    []Probe
}

// Validate checks the plan against the safety limits.
func (p *Plan) Validate() error {
	if !p.Target.IsValid() {
		return errors.New("no target")
	}
	t := p.Target.Unmap()
	if t.IsUnspecified() || t.IsMulticast() || (t.Is4() && t == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return fmt.Errorf("target %s: not a single host", t)
	}
	if len(p.Probes) == 0 {
		return errors.New("nothing to send")
	}
	if len(p.Probes) > MaxPackets {
		return fmt.Errorf("%d packets: more than the limit of %d", len(p.Probes), MaxPackets)
	}
	for i, pr := range p.Probes {
		if pr.Port == 0 && (pr.Proto == TCP || pr.Proto == UDP) {
			return fmt.Errorf("probe %d: port 0", i+1)
		}
		if i > 0 && pr.Wait < MinGap {
			return fmt.Errorf("probe %d: %s after the previous one: faster than %d packets/s", i+1, pr.Wait, MaxRate)
		}
	}
	return nil
}

// Describe writes the plan, one line per packet, as a dry run shows it.
func (p *Plan) Describe(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "emulate %s: %d packet(s) to %s (dry run: nothing sent)\n", p.Technique, len(p.Probes), p.Target)
	var at time.Duration
	for i, pr := range p.Probes {
		at += pr.Wait
		if pr.Proto == ICMP || pr.Proto == ICMPv6 {
			fmt.Fprintf(&b, "  %3d  +%-9s %s %s", i+1, at.Round(time.Millisecond), strings.ToUpper(string(pr.Proto)), p.Target)
		} else {
			fmt.Fprintf(&b, "  %3d  +%-9s %s %s:%d", i+1, at.Round(time.Millisecond), strings.ToUpper(string(pr.Proto)), p.Target, pr.Port)
		}
		if h := pr.Header; h != nil {
			b.WriteString("  " + h.describe())
		}
		switch {
		case pr.Header != nil:
			if len(pr.Payload) > 0 {
				fmt.Fprintf(&b, "  payload %d bytes %s", len(pr.Payload), preview(pr.Payload))
			}
		case pr.Proto == TCP:
			b.WriteString("  SYN (connect, then close at once)")
		case len(pr.Payload) > 0:
			fmt.Fprintf(&b, "  payload %d bytes %s", len(pr.Payload), preview(pr.Payload))
		}
		if pr.Note != "" {
			b.WriteString("  # " + pr.Note)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func preview(p []byte) string {
	printable := true
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	if !printable {
		return fmt.Sprintf("% x", p[:min(len(p), 16)])
	}
	if len(p) > 24 {
		return fmt.Sprintf("%q…", p[:24])
	}
	return fmt.Sprintf("%q", p)
}

// Sent reports one probe that went out.
type Sent struct {
	Probe Probe
	Time  time.Time
	// Err is set when the probe could not be sent; the run goes on.
	Err error
}

// Send sends the plan's probes in order, pausing as planned, and calls
// report after each. It stops early when ctx is done.
func Send(ctx context.Context, p *Plan, report func(Sent)) error {
	if err := p.Validate(); err != nil {
		return err
	}
	target := p.Target.Unmap()
	for _, pr := range p.Probes {
		if pr.Wait > 0 {
			t := time.NewTimer(pr.Wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		switch {
		case pr.Header != nil:
			err = sendRaw(target, pr)
		case pr.Proto == TCP:
			err = synOnly(target, pr.Port)
		case pr.Proto == UDP:
			err = datagram(target, pr.Port, pr.Payload)
		default:
			err = fmt.Errorf("unknown transport %q", pr.Proto)
		}
		if report != nil {
			report(Sent{Probe: pr, Time: time.Now(), Err: err})
		}
	}
	return nil
}

// synOnly sends exactly one SYN the way the knock client does: a
// non-blocking connect() followed at once by close(). Closing a socket in
// SYN-SENT sends nothing more, so the target sees one SYN per port and no
// retransmissions. net.Dial cannot do this: it waits for the handshake and
// the kernel retransmits the SYN meanwhile.
func synOnly(target netip.Addr, port uint16) error {
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if target.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(port), Addr: target.As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(port), Addr: target.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("tcp %s: socket: %w", netip.AddrPortFrom(target, port), err)
	}
	defer syscall.Close(fd)
	if err := syscall.Connect(fd, sa); err != nil && !errors.Is(err, syscall.EINPROGRESS) {
		return fmt.Errorf("tcp %s: connect: %w", netip.AddrPortFrom(target, port), err)
	}
	return nil
}

// datagram sends one UDP datagram from a new socket (so, like the knock
// client, from a new source port each time).
func datagram(target netip.Addr, port uint16, payload []byte) error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(target, port)))
	if err != nil {
		return fmt.Errorf("udp %s: %w", netip.AddrPortFrom(target, port), err)
	}
	defer c.Close()
	if _, err := c.Write(payload); err != nil {
		return fmt.Errorf("udp %s: %w", netip.AddrPortFrom(target, port), err)
	}
	return nil
}

// ParsePorts reads a knock sequence: "7000,8000,9000/udp" or knockd's
// "7000:tcp,8000:udp". A port without a protocol is TCP.
func ParsePorts(s string) ([]Probe, error) {
	var out []Probe
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		num, proto := f, "tcp"
		if i := strings.IndexAny(f, "/:"); i >= 0 {
			num, proto = f[:i], strings.ToLower(f[i+1:])
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("port %q: want 1-65535", f)
		}
		switch proto {
		case "tcp":
			out = append(out, Probe{Proto: TCP, Port: uint16(n)})
		case "udp":
			// The knock client's UDP hit: one NUL byte.
			out = append(out, Probe{Proto: UDP, Port: uint16(n), Payload: []byte{0}})
		default:
			return nil, fmt.Errorf("port %q: protocol must be tcp or udp", f)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no ports")
	}
	return out, nil
}

// MinGap is the shortest pause between two packets (MaxRate).
const MinGap = time.Second / MaxRate

// Knock plans a knock sequence with delay between hits. A delay below
// MinGap is raised to it: the knock client's default is no delay at all,
// and 1 ms apart still looks exactly like it to a detector.
func Knock(target netip.Addr, ports []Probe, delay time.Duration) *Plan {
	delay = max(delay, MinGap)
	p := &Plan{Technique: "knock", Target: target}
	for i, pr := range ports {
		if i > 0 {
			pr.Wait = delay
		}
		pr.Note = fmt.Sprintf("knock %d of %d", i+1, len(ports))
		p.Probes = append(p.Probes, pr)
	}
	return p
}

// SPA sizes: the ciphertext of a typical access request (one port, short
// user name) is 128 bytes, which gives fwknop's usual 225-byte payload.
const (
	DefaultSPAPort   = 62201
	spaCipherBlocks  = 8
	spaHMACBase64Len = 43 // base64 of HMAC-SHA256, padding removed
	spaStripped      = 10 // fwknop drops the base64 of "Salted__"
)

// SPAPayload builds a datagram payload with the shape of an fwknop SPA
// packet in Rijndael mode with an HMAC-SHA256 (formats.md §2.2): the base64
// (no padding) of "Salted__" + salt + ciphertext with its first 10
// characters removed, followed by a 43-character base64 HMAC. Salt,
// ciphertext and HMAC are random bytes: the packet carries no key material
// and nothing a server could accept.
func SPAPayload(blocks int) ([]byte, error) {
	if blocks < 2 || blocks > 80 {
		return nil, fmt.Errorf("SPA size: %d cipher blocks, want 2..80", blocks)
	}
	raw := make([]byte, 16+16*blocks)
	copy(raw, "Salted__")
	if _, err := rand.Read(raw[8:]); err != nil {
		return nil, err
	}
	var mac [32]byte
	if _, err := rand.Read(mac[:]); err != nil {
		return nil, err
	}
	enc := base64.RawStdEncoding
	body := enc.EncodeToString(raw)[spaStripped:]
	return []byte(body + enc.EncodeToString(mac[:])), nil
}

// SPA plans one SPA-shaped datagram to port.
func SPA(target netip.Addr, port uint16) (*Plan, error) {
	payload, err := SPAPayload(spaCipherBlocks)
	if err != nil {
		return nil, err
	}
	return &Plan{Technique: "spa", Target: target, Probes: []Probe{{
		Proto: UDP, Port: port, Payload: payload,
		Note: "random bytes in fwknop's SPA shape, no key material",
	}}}, nil
}

// ParseRange reads a port list for a scan: "1-100", "22,80,443", "1-10,8080".
func ParseRange(s string) ([]uint16, error) {
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("port %q: want 1-65535", f)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("range %q: want LOW-HIGH within 1-65535", f)
			}
		}
		if len(out)+int(b-a+1) > MaxPackets {
			return nil, fmt.Errorf("%s: more than %d ports", s, MaxPackets)
		}
		for p := a; p <= b; p++ {
			out = append(out, uint16(p))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no ports")
	}
	return out, nil
}

// Scan plans a SYN to each port, in order, at rate packets per second.
func Scan(target netip.Addr, ports []uint16, rate int) (*Plan, error) {
	if rate < 1 || rate > MaxRate {
		return nil, fmt.Errorf("rate %d: want 1..%d packets/s", rate, MaxRate)
	}
	p := &Plan{Technique: "scan", Target: target}
	gap := time.Second / time.Duration(rate)
	for i, port := range ports {
		pr := Probe{Proto: TCP, Port: port}
		if i > 0 {
			pr.Wait = gap
		}
		p.Probes = append(p.Probes, pr)
	}
	return p, nil
}

// Resolve turns --target into one address: an IP literal as is, a name by
// lookup (the first address). Empty means DefaultTarget.
func Resolve(ctx context.Context, target string) (netip.Addr, error) {
	if target == "" {
		return DefaultTarget, nil
	}
	if a, err := netip.ParseAddr(target); err == nil {
		return a.Unmap(), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", target)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--target %q: %w", target, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("--target %q: no address", target)
	}
	return addrs[0].Unmap(), nil
}
