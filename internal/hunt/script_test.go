package hunt

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A scenario script describes firewall traffic compactly; render turns it
// into netfilter LOG lines exactly as rsyslog writes them to kern.log
// (formats.md 4.1: field order of nf_log_syslog.c, the [uptime] stamp, the
// traditional RFC 3164 header). Directives, one per line:
//
//	start 2025-11-22T10:15:02Z            time of offset 0 (UTC)
//	at OFFSET SRC > DST:PORT/PROTO [allow] [shape S] [sport N]
//	scan OFFSET SRC > DST ports SPEC [gap SECONDS] [order seq|random] [shape S] [sport N|fixed] [seed N]
//	sweep OFFSET SRC > NET.FIRST-LAST:PORT/PROTO [gap SECONDS] [shape S]
//	repeat N every SECONDS ... end        repeat the block N times
//	expect DETECTOR SEVERITY COUNT         (read by the test, not rendered)
//
// OFFSET is seconds from start (fractions allowed). SPEC is "A-B" or a
// comma list. Shapes: os (a Linux connect(): TCP LEN=60 DF WINDOW=64240;
// UDP is the knock client's one-byte datagram), nmap (44-byte SYN, window
// 1024, no DF, one source port), masscan (40 bytes, window 1024), hping
// (40 bytes, window 64).
type scriptLine struct {
	t     time.Duration
	src   netip.Addr
	dst   netip.Addr
	port  uint16
	proto string
	allow bool
	shape string
	sport int
}

type expectation struct {
	detector string
	minSev   string
	count    int
}

type script struct {
	start  time.Time
	lines  []scriptLine
	expect []expectation
}

func parseScript(text string) (*script, error) {
	s := &script{start: time.Date(2025, 11, 22, 10, 15, 2, 0, time.UTC)}
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	type block struct {
		count int
		every time.Duration
		from  int
	}
	var stack []block
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var err error
		switch f[0] {
		case "start":
			s.start, err = time.Parse(time.RFC3339Nano, f[1])
		case "at":
			err = s.at(f[1:])
		case "scan":
			err = s.scan(f[1:])
		case "sweep":
			err = s.sweep(f[1:])
		case "repeat":
			if len(f) != 4 || f[2] != "every" {
				err = fmt.Errorf("want: repeat N every SECONDS")
				break
			}
			c, e1 := strconv.Atoi(f[1])
			d, e2 := seconds(f[3])
			if e1 != nil || e2 != nil {
				err = fmt.Errorf("bad repeat")
			}
			stack = append(stack, block{count: c, every: d, from: len(s.lines)})
		case "end":
			if len(stack) == 0 {
				err = fmt.Errorf("end without repeat")
				break
			}
			b := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			body := append([]scriptLine(nil), s.lines[b.from:]...)
			for k := 1; k < b.count; k++ {
				for _, l := range body {
					l.t += time.Duration(k) * b.every
					l.sport += k * 7
					s.lines = append(s.lines, l)
				}
			}
		case "expect":
			if len(f) != 4 {
				err = fmt.Errorf("want: expect DETECTOR SEVERITY COUNT")
				break
			}
			c, e := strconv.Atoi(f[3])
			if e != nil {
				err = e
			}
			s.expect = append(s.expect, expectation{detector: f[1], minSev: f[2], count: c})
		default:
			err = fmt.Errorf("unknown directive %q", f[0])
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	return s, nil
}

func seconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(f * float64(time.Second)), nil
}

// options parses trailing "key value" and flag options.
func options(f []string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "allow":
			out["allow"] = "1"
		case "shape", "sport", "gap", "order", "seed", "ports":
			if i+1 >= len(f) {
				return nil, fmt.Errorf("%s needs a value", f[i])
			}
			out[f[i]] = f[i+1]
			i++
		default:
			return nil, fmt.Errorf("unknown option %q", f[i])
		}
	}
	return out, nil
}

func (s *script) at(f []string) error {
	if len(f) < 4 || f[2] != ">" {
		return fmt.Errorf("want: at OFFSET SRC > DST:PORT/PROTO")
	}
	t, err := seconds(f[0])
	if err != nil {
		return err
	}
	src, err := netip.ParseAddr(f[1])
	if err != nil {
		return err
	}
	hostPort, proto, _ := strings.Cut(f[3], "/")
	i := strings.LastIndexByte(hostPort, ':')
	dst, err := netip.ParseAddr(strings.Trim(hostPort[:i], "[]"))
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(hostPort[i+1:])
	if err != nil {
		return err
	}
	o, err := options(f[4:])
	if err != nil {
		return err
	}
	l := scriptLine{t: t, src: src, dst: dst, port: uint16(port), proto: proto, allow: o["allow"] != "", shape: o["shape"], sport: 40000 + len(s.lines)*13%20000}
	if v, ok := o["sport"]; ok {
		l.sport, _ = strconv.Atoi(v)
	}
	s.lines = append(s.lines, l)
	return nil
}

func (s *script) scan(f []string) error {
	if len(f) < 4 || f[2] != ">" {
		return fmt.Errorf("want: scan OFFSET SRC > DST ports SPEC ...")
	}
	t, err := seconds(f[0])
	if err != nil {
		return err
	}
	src, err := netip.ParseAddr(f[1])
	if err != nil {
		return err
	}
	dst, err := netip.ParseAddr(f[3])
	if err != nil {
		return err
	}
	o, err := options(f[4:])
	if err != nil {
		return err
	}
	ports, err := portSpec(o["ports"])
	if err != nil {
		return err
	}
	seed, _ := strconv.Atoi(o["seed"])
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	if o["order"] != "seq" {
		rng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	}
	gap := time.Millisecond
	if v, ok := o["gap"]; ok {
		if gap, err = seconds(v); err != nil {
			return err
		}
	}
	fixed := 0
	if v := o["sport"]; v == "fixed" {
		fixed = 40000 + rng.IntN(20000)
	} else if v != "" {
		fixed, _ = strconv.Atoi(v)
	}
	for k, p := range ports {
		sp := fixed
		if sp == 0 {
			sp = 30000 + rng.IntN(30000)
		}
		s.lines = append(s.lines, scriptLine{t: t + time.Duration(k)*gap, src: src, dst: dst, port: p, proto: "tcp", shape: o["shape"], sport: sp})
	}
	return nil
}

func (s *script) sweep(f []string) error {
	if len(f) < 4 || f[2] != ">" {
		return fmt.Errorf("want: sweep OFFSET SRC > A.B.C.FIRST-LAST:PORT/PROTO")
	}
	t, err := seconds(f[0])
	if err != nil {
		return err
	}
	src, err := netip.ParseAddr(f[1])
	if err != nil {
		return err
	}
	rangePart, portPart, _ := strings.Cut(f[3], ":")
	port, proto, _ := strings.Cut(portPart, "/")
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	dot := strings.LastIndexByte(rangePart, '.')
	first, last, _ := strings.Cut(rangePart[dot+1:], "-")
	a, _ := strconv.Atoi(first)
	b, _ := strconv.Atoi(last)
	o, err := options(f[4:])
	if err != nil {
		return err
	}
	gap := 10 * time.Millisecond
	if v, ok := o["gap"]; ok {
		if gap, err = seconds(v); err != nil {
			return err
		}
	}
	for h := a; h <= b; h++ {
		dst, err := netip.ParseAddr(fmt.Sprintf("%s.%d", rangePart[:dot], h))
		if err != nil {
			return err
		}
		s.lines = append(s.lines, scriptLine{t: t + time.Duration(h-a)*gap, src: src, dst: dst, port: uint16(p), proto: proto, shape: o["shape"], sport: 40000 + h})
	}
	return nil
}

func portSpec(spec string) ([]uint16, error) {
	var out []uint16
	for _, part := range strings.Split(spec, ",") {
		if a, b, ok := strings.Cut(part, "-"); ok {
			x, e1 := strconv.Atoi(a)
			y, e2 := strconv.Atoi(b)
			if e1 != nil || e2 != nil || x > y {
				return nil, fmt.Errorf("bad port range %q", part)
			}
			for p := x; p <= y; p++ {
				out = append(out, uint16(p))
			}
			continue
		}
		p, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("bad port %q", part)
		}
		out = append(out, uint16(p))
	}
	return out, nil
}

// render writes the lines, in time order, as kern.log.
func (s *script) render() string {
	lines := append([]scriptLine(nil), s.lines...)
	// stable: equal times keep script order
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && lines[j].t < lines[j-1].t; j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
	var b strings.Builder
	const boot = 4821.0
	for k, l := range lines {
		at := s.start.Add(l.t)
		up := boot + l.t.Seconds()
		prefix := "KNOCK-DROP "
		if l.allow {
			prefix = "ACCEPT "
		}
		ipid := (k*7919 + 40211) % 65536
		var ipPart, l4 string
		v4 := l.src.Is4()
		mac := "52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00"
		if !v4 {
			mac = "52:54:00:aa:bb:cc:52:54:00:11:22:33:86:dd"
		}
		switch l.proto {
		case "udp":
			size := 29
			if !v4 {
				size = 49
			}
			if v4 {
				ipPart = fmt.Sprintf("LEN=%d TOS=0x00 PREC=0x00 TTL=52 ID=%d DF", size, ipid)
			} else {
				ipPart = fmt.Sprintf("LEN=%d TC=0 HOPLIMIT=57 FLOWLBL=%d", size, ipid)
			}
			l4 = fmt.Sprintf("PROTO=UDP SPT=%d DPT=%d LEN=9", l.sport, l.port)
		default:
			size, win, df := 60, 64240, " DF"
			switch l.shape {
			case "nmap":
				size, win, df = 44, 1024, ""
			case "masscan":
				size, win, df = 40, 1024, ""
			case "hping":
				size, win, df = 40, 64, ""
			}
			if !v4 {
				size += 20
			}
			if v4 {
				ipPart = fmt.Sprintf("LEN=%d TOS=0x00 PREC=0x00 TTL=52 ID=%d%s", size, ipid, df)
			} else {
				ipPart = fmt.Sprintf("LEN=%d TC=0 HOPLIMIT=57 FLOWLBL=%d", size, ipid)
			}
			l4 = fmt.Sprintf("PROTO=TCP SPT=%d DPT=%d WINDOW=%d RES=0x00 SYN URGP=0", l.sport, l.port, win)
		}
		src, dst := l.src.String(), l.dst.String()
		if !v4 {
			src, dst = fullIPv6(l.src), fullIPv6(l.dst)
		}
		fmt.Fprintf(&b, "%s gw01 kernel: [%12.6f] %sIN=eth0 OUT= MAC=%s SRC=%s DST=%s %s %s\n",
			at.Format(time.Stamp), up, prefix, mac, src, dst, ipPart, l4)
	}
	return b.String()
}

// fullIPv6 prints an address as the kernel's %pI6 does.
func fullIPv6(a netip.Addr) string {
	b := a.As16()
	var parts []string
	for i := 0; i < 16; i += 2 {
		parts = append(parts, fmt.Sprintf("%02x%02x", b[i], b[i+1]))
	}
	return strings.Join(parts, ":")
}
