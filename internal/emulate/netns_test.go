package emulate_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/knockwatch/knockwatch/internal/cli"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

// These tests run `knockwatch emulate` (the real command, in process) from
// a network namespace the test creates, capture what reaches a second
// namespace with tcpdump, and check every packet.

const (
	senderIP  = "192.0.2.7"
	targetIP  = "192.0.2.10"
	senderIP6 = "2001:db8::7"
	targetIP6 = "2001:db8::10"
)

type lab struct {
	sender, target string
	dir            string
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newLab makes two namespaces joined by a veth pair: sender 192.0.2.7 and
// target 192.0.2.10, with no route anywhere else.
func newLab(t *testing.T) *lab {
	testutil.Require(t, "root")
	testutil.RequireTool(t, "ip")
	testutil.RequireTool(t, "tcpdump")
	l := &lab{sender: testutil.UniqueName("kw"), target: testutil.UniqueName("kw"), dir: t.TempDir()}
	for _, ns := range []string{l.sender, l.target} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "link", "add", "eth0", "netns", l.sender, "type", "veth", "peer", "name", "eth0", "netns", l.target)
	run(t, "ip", "-n", l.sender, "addr", "add", senderIP+"/24", "dev", "eth0")
	run(t, "ip", "-n", l.target, "addr", "add", targetIP+"/24", "dev", "eth0")
	run(t, "ip", "-n", l.sender, "addr", "add", senderIP6+"/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", l.target, "addr", "add", targetIP6+"/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", l.sender, "link", "set", "eth0", "up")
	run(t, "ip", "-n", l.target, "link", "set", "eth0", "up")
	// Resolve the target's link address up front (a permanent neighbour
	// entry), so no packet waits for ARP or neighbour discovery while a
	// capture is running, and wait until the link is up.
	mac, err := exec.Command("ip", "netns", "exec", l.target, "cat", "/sys/class/net/eth0/address").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{targetIP, targetIP6} {
		run(t, "ip", "-n", l.sender, "neigh", "replace", a, "lladdr", strings.TrimSpace(string(mac)), "dev", "eth0", "nud", "permanent")
	}
	for i := 0; ; i++ {
		out, _ := exec.Command("ip", "-n", l.sender, "link", "show", "eth0").Output()
		if strings.Contains(string(out), "state UP") {
			break
		}
		if i == 50 {
			t.Fatalf("veth did not come up: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return l
}

// capture starts tcpdump in ns on iface and returns a function that stops
// it and returns every packet it saw. Immediate mode matters: otherwise
// libpcap hands packets over a block at a time, and a capture stopped
// within its buffer timeout loses them all.
func (l *lab) capture(t *testing.T, ns, iface string) func() []gopacket.Packet {
	t.Helper()
	path := filepath.Join(l.dir, ns+iface+".pcap")
	cmd := exec.Command("ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-n", "--immediate-mode", "-U", "-Z", "root", "-w", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGINT)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- nil
				_, _ = io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- errors.New("tcpdump ended before listening")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start")
	}
	return func() []gopacket.Packet {
		time.Sleep(200 * time.Millisecond) // let the last packets reach the file
		stop()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var pkts []gopacket.Packet
		for {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			pkts = append(pkts, gopacket.NewPacket(data, r.LinkType(), gopacket.Default))
		}
		return pkts
	}
}

// inNetns runs the knockwatch command line with args from inside ns: the
// goroutine's thread joins the namespace, so the sockets emulate opens
// belong to it. The thread is never unlocked, so the runtime retires it.
func inNetns(t *testing.T, ns string, args ...string) string {
	t.Helper()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer f.Close()
		if e := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); e != nil {
			done <- result{err: fmt.Errorf("setns: %w", e)}
			return
		}
		var out, errb bytes.Buffer
		root := cli.NewRoot(cli.Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		root.SetArgs(args)
		err = root.Execute()
		if err != nil {
			err = fmt.Errorf("%w (stderr: %s)", err, errb.String())
		}
		done <- result{out: out.String(), err: err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("knockwatch %s: %v\n%s", strings.Join(args, " "), r.err, r.out)
	}
	return r.out
}

type seen struct {
	proto   string
	port    uint16
	sport   uint16
	flags   string
	payload []byte
}

// arrivals lists the TCP SYNs and UDP datagrams from the sender, in order.
func arrivals(pkts []gopacket.Packet) []seen {
	var out []seen
	for _, p := range pkts {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil || ip.SrcIP.String() != senderIP && !ip.SrcIP.IsLoopback() {
			continue
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			if !tcp.SYN || tcp.ACK {
				continue
			}
			out = append(out, seen{proto: "tcp", port: uint16(tcp.DstPort), sport: uint16(tcp.SrcPort), flags: "S"})
		}
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			out = append(out, seen{proto: "udp", port: uint16(udp.DstPort), sport: uint16(udp.SrcPort), payload: udp.Payload})
		}
	}
	return out
}

func TestEmulateKnockArrives(t *testing.T) {
	l := newLab(t)
	stop := l.capture(t, l.target, "eth0")
	out := inNetns(t, l.sender, "emulate", "knock", "--target", targetIP, "--ports", "7000,8000,9000/udp", "--delay", "50ms")
	got := arrivals(stop())
	if len(got) != 3 {
		t.Fatalf("%d packets arrived, want 3 (one per knock, no retransmission): %+v\noutput:\n%s", len(got), got, out)
	}
	want := []struct {
		proto string
		port  uint16
	}{{"tcp", 7000}, {"tcp", 8000}, {"udp", 9000}}
	sports := map[uint16]bool{}
	for i, w := range want {
		if got[i].proto != w.proto || got[i].port != w.port {
			t.Errorf("packet %d: %s/%d, want %s/%d", i+1, got[i].proto, got[i].port, w.proto, w.port)
		}
		sports[got[i].sport] = true
	}
	if !bytes.Equal(got[2].payload, []byte{0}) {
		t.Errorf("UDP knock payload % x, want one NUL byte", got[2].payload)
	}
	if len(sports) != 3 {
		t.Errorf("source ports %v: the knock client uses a new socket, so a new port, per hit", sports)
	}
}

func TestEmulateSPAArrives(t *testing.T) {
	l := newLab(t)
	stop := l.capture(t, l.target, "eth0")
	inNetns(t, l.sender, "emulate", "spa", "--target", targetIP)
	got := arrivals(stop())
	if len(got) != 1 || got[0].proto != "udp" || got[0].port != 62201 {
		t.Fatalf("arrived %+v, want one UDP datagram to 62201", got)
	}
	p := got[0].payload
	if len(p) != 225 || !strings.ContainsRune("89+/", rune(p[0])) || bytes.ContainsAny(p, "=\n\x00") {
		t.Fatalf("payload %q does not have fwknop's SPA shape", p)
	}
}

func TestEmulateScanArrives(t *testing.T) {
	l := newLab(t)
	stop := l.capture(t, l.target, "eth0")
	inNetns(t, l.sender, "emulate", "scan", "--target", targetIP, "--ports", "1-20", "--rate", "500")
	got := arrivals(stop())
	if len(got) != 20 {
		t.Fatalf("%d SYNs arrived, want 20", len(got))
	}
	for i, s := range got {
		if s.proto != "tcp" || s.port != uint16(i+1) {
			t.Fatalf("packet %d: %s/%d, want tcp/%d", i+1, s.proto, s.port, i+1)
		}
	}
}

// TestEmulateDefaultsToLoopback: without --target nothing leaves the host.
func TestEmulateDefaultsToLoopback(t *testing.T) {
	l := newLab(t)
	wire := l.capture(t, l.sender, "eth0")
	lo := l.capture(t, l.sender, "lo")
	inNetns(t, l.sender, "emulate", "knock", "--ports", "7000,8000")
	onLo := arrivals(lo())
	if len(onLo) != 2 {
		t.Fatalf("%d knocks on loopback, want 2: %+v", len(onLo), onLo)
	}
	for _, p := range wire() {
		if p.Layer(layers.LayerTypeTCP) != nil || p.Layer(layers.LayerTypeUDP) != nil {
			t.Fatalf("a packet left on eth0 without --target: %v", p)
		}
	}
}

// TestEmulateDryRunSendsNothing: --dry-run prints the plan and sends nothing.
func TestEmulateDryRunSendsNothing(t *testing.T) {
	l := newLab(t)
	stop := l.capture(t, l.target, "eth0")
	out := inNetns(t, l.sender, "emulate", "scan", "--target", targetIP, "--ports", "1-5", "--dry-run")
	if !strings.Contains(out, "5 packet(s) to "+targetIP+" (dry run: nothing sent)") {
		t.Fatalf("dry run output:\n%s", out)
	}
	for _, p := range stop() {
		if ev, ok := packetEvent(p); ok && ev.Proto != event.ProtoICMPv6 {
			t.Fatalf("dry run sent a packet: %v", p)
		}
	}
}

// packetEvent is what a packet source would make of a captured packet:
// enough for a magic-packet rule to test it.
func packetEvent(p gopacket.Packet) (*event.Event, bool) {
	ev := &event.Event{Kind: event.KindAttempt, Flags: event.FlagPacket}
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.SrcIP.String() != senderIP {
			return nil, false
		}
		ev.IPID = ip.Id
		ev.Src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		ev.Dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		if ip.SrcIP.String() != senderIP6 {
			return nil, false
		}
		ev.Src, _ = netip.AddrFromSlice(ip.SrcIP)
		ev.Dst, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		return nil, false
	}
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		ev.Proto, ev.SrcPort, ev.DstPort, ev.Window, ev.Seq, ev.Ack = event.ProtoTCP, uint16(l.SrcPort), uint16(l.DstPort), l.Window, l.Seq, l.Ack
		for _, f := range []struct {
			on bool
			f  event.TCPFlags
		}{{l.FIN, event.FlagFIN}, {l.SYN, event.FlagSYN}, {l.RST, event.FlagRST}, {l.PSH, event.FlagPSH}, {l.ACK, event.FlagACK}, {l.URG, event.FlagURG}} {
			if f.on {
				ev.TCPFlags |= f.f
			}
		}
		ev.Payload = l.Payload
	case *layers.UDP:
		ev.Proto, ev.SrcPort, ev.DstPort, ev.Payload = event.ProtoUDP, uint16(l.SrcPort), uint16(l.DstPort), l.Payload
	}
	if ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		ev.Proto, ev.ICMPType, ev.ICMPCode, ev.EchoID, ev.EchoSeq, ev.Payload = event.ProtoICMP, ic.TypeCode.Type(), ic.TypeCode.Code(), ic.Id, ic.Seq, ic.Payload
	}
	if ic, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		ev.Proto, ev.ICMPType, ev.ICMPCode = event.ProtoICMPv6, ic.TypeCode.Type(), ic.TypeCode.Code()
		if echo, ok := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); ok {
			ev.EchoID, ev.EchoSeq, ev.Payload = echo.Identifier, echo.SeqNumber, echo.Payload
		}
	}
	if ev.Proto == 0 {
		return nil, false
	}
	ev.PayloadLen = uint16(len(ev.Payload))
	return ev, true
}

// TestEmulateMagicArrives sends every built-in magic-packet rule's packet
// and checks, with the rule itself, that what arrived matches it.
func TestEmulateMagicArrives(t *testing.T) {
	set, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t)
	for _, r := range set.Rules {
		t.Run(r.Name, func(t *testing.T) {
			target := targetIP
			if r.Match.Proto == event.ProtoICMPv6 {
				target = targetIP6
			}
			stop := l.capture(t, l.target, "eth0")
			inNetns(t, l.sender, "emulate", "magic", "--rule", r.Name, "--target", target)
			want := 1
			if r.Match.Sequence != nil {
				want = len(r.Match.Sequence.Ports)
			}
			var got []*event.Event
			for _, p := range stop() {
				ev, ok := packetEvent(p)
				if !ok || ev.Proto != r.Match.Proto {
					continue
				}
				if (ev.Proto == event.ProtoICMP || ev.Proto == event.ProtoICMPv6) && ev.ICMPType != r.Match.ICMPType.V {
					continue // neighbour discovery and the like
				}
				got = append(got, ev)
			}
			if len(got) != want {
				t.Fatalf("%d %s packet(s) arrived, want %d", len(got), r.Match.Proto, want)
			}
			for i, ev := range got {
				if !r.Matches(ev) {
					t.Errorf("packet %d as it arrived does not match the rule: %+v", i+1, *ev)
				}
				if r.Match.Sequence != nil && ev.DstPort != r.Match.Sequence.Ports[i] {
					t.Errorf("packet %d to port %d, want %d (the sequence in order)", i+1, ev.DstPort, r.Match.Sequence.Ports[i])
				}
			}
		})
	}
}
