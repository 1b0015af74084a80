package decode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// refTime is the reference (file modification) time used by the tests:
// shortly after the examples of formats.md (2025-11-22 10:15:02 UTC).
var refTime = time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC)

func newTestSyslog() *syslogDecoder {
	return newSyslogDecoder(Options{Reference: refTime, Location: time.UTC})
}

func decodeOne(t *testing.T, d Decoder, line string) ([]event.Event, error) {
	t.Helper()
	return d.Decode([]byte(line), event.Origin{Input: 1, Index: 7}, nil)
}

const knockLine = "Nov 22 10:15:02 gw01 kernel: [ 4821.337104] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0"

func TestNetfilterFields(t *testing.T) {
	base := time.Date(2025, 11, 22, 10, 15, 2, 0, time.UTC).UnixNano()
	tests := []struct {
		name string
		line string
		want event.Event
	}{
		{
			name: "rsyslog with uptime stamp, knock client SYN",
			line: knockLine,
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), SrcPort: 51514, DstPort: 7000,
				Proto: event.ProtoTCP, Action: event.ActionDenied, TCPFlags: event.FlagSYN, Shape: event.ShapeOSStack,
				TTL: 52, IPLen: 60, IPID: 40211, Window: 64240},
		},
		{
			name: "knock -u UDP hit",
			line: "Nov 22 10:15:02 gw01 kernel: KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=29 TOS=0x00 PREC=0x00 TTL=52 ID=17733 DF PROTO=UDP SPT=40622 DPT=8284 LEN=9",
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), SrcPort: 40622, DstPort: 8284,
				Proto: event.ProtoUDP, Action: event.ActionDenied, Shape: event.ShapeKnockUDP, TTL: 52, IPLen: 29, IPID: 17733, PayloadLen: 1},
		},
		{
			name: "ICMP echo keeps the IP ID, not the echo ID",
			line: "Nov 22 10:15:02 gw01 kernel: ICMP-IN IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=84 TOS=0x00 PREC=0x00 TTL=52 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=4711 SEQ=1",
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), Proto: event.ProtoICMP, ICMPType: 8, TTL: 52, IPLen: 84},
		},
		{
			name: "IPv6 full form normalised",
			line: "Nov 22 10:15:02 gw01 kernel: KNOCK6 IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:86:dd SRC=2001:0db8:0000:0000:0000:0000:0000:0007 DST=2001:0db8:0000:0000:0000:0000:0000:0010 LEN=80 TC=0 HOPLIMIT=57 FLOWLBL=372214 PROTO=TCP SPT=51516 DPT=7000 WINDOW=64800 RES=0x00 SYN URGP=0",
			want: event.Event{Src: ip("2001:db8::7"), Dst: ip("2001:db8::10"), SrcPort: 51516, DstPort: 7000,
				Proto: event.ProtoTCP, TCPFlags: event.FlagSYN, Shape: event.ShapeOSStack, TTL: 57, IPLen: 80, Window: 64800},
		},
		{
			name: "UFW ALLOW is allowed",
			line: "Nov 22 10:15:02 gw01 kernel: [UFW ALLOW] IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=1 DF PROTO=TCP SPT=51520 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0",
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), SrcPort: 51520, DstPort: 22,
				Proto: event.ProtoTCP, Action: event.ActionAllowed, TCPFlags: event.FlagSYN, Shape: event.ShapeOSStack, TTL: 52, IPLen: 60, IPID: 1, Window: 64240},
		},
		{
			name: "UFW AUDIT names no verdict",
			line: "Nov 22 10:15:02 gw01 kernel: [UFW AUDIT] IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=1 DF PROTO=TCP SPT=51520 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0",
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), SrcPort: 51520, DstPort: 22,
				Proto: event.ProtoTCP, TCPFlags: event.FlagSYN, Shape: event.ShapeOSStack, TTL: 52, IPLen: 60, IPID: 1, Window: 64240},
		},
		{
			name: "prefix without trailing space",
			line: "Nov 22 10:15:02 gw01 kernel: KNOCKDROPIN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=44 TOS=0x00 PREC=0x00 TTL=40 ID=9496 PROTO=TCP SPT=56247 DPT=1083 WINDOW=1024 RES=0x00 SYN URGP=0 OPT (020405B4)",
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), SrcPort: 56247, DstPort: 1083,
				Proto: event.ProtoTCP, Action: event.ActionDenied, TCPFlags: event.FlagSYN, Shape: event.ShapeNmap, TTL: 40, IPLen: 44, IPID: 9496, Window: 1024},
		},
		{
			name: "dmesg --time-format iso: the prefix is not a host",
			line: "2025-11-22T10:15:02,000000+0000 KNOCK-DROP IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=1 DF PROTO=TCP SPT=51520 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0",
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), SrcPort: 51520, DstPort: 7000,
				Proto: event.ProtoTCP, Action: event.ActionDenied, TCPFlags: event.FlagSYN, Shape: event.ShapeOSStack, TTL: 52, IPLen: 60, IPID: 1, Window: 64240},
		},
		{
			name: "ulogd2 LOGEMU: prefix in place of a tag",
			line: "Nov 22 10:15:02 gw01 DROP: IN=eth0 OUT= MAC= SRC=198.51.100.7 DST=203.0.113.10 LEN=40 TOS=00 PREC=0x00 TTL=52 ID=54321 PROTO=TCP SPT=51514 DPT=7001 SEQ=2187654321 ACK=0 WINDOW=65535 SYN URGP=0 ",
			want: event.Event{Src: ip("198.51.100.7"), Dst: ip("203.0.113.10"), SrcPort: 51514, DstPort: 7001,
				Proto: event.ProtoTCP, Action: event.ActionDenied, TCPFlags: event.FlagSYN, Shape: event.ShapeZmap, TTL: 52, IPLen: 40, IPID: 54321, Window: 65535},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := decodeOne(t, newTestSyslog(), tc.line)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1", len(evs))
			}
			got := evs[0]
			if got.Time/int64(time.Second) != base/int64(time.Second) {
				t.Errorf("time = %v, want second %v", time.Unix(0, got.Time).UTC(), time.Unix(0, base).UTC())
			}
			want := tc.want
			want.Time = got.Time
			want.Kind = event.KindAttempt
			want.Origin = event.Origin{Input: 1, Index: 7}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("event mismatch\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestNetfilterTimes(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		want  string
		flags event.Flags
	}{
		{"RFC 3164 local time in UTC (one line: the middle of the second it names)", knockLine, "2025-11-22T10:15:02.5Z", 0},
		{"RFC 3339 with offset", "2025-11-22T11:15:02.402177+01:00 gw01 kernel: k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0", "2025-11-22T10:15:02.402177Z", 0},
		{"RFC 5424", "<4>1 2025-11-22T10:15:02.118311Z gw01 kernel - - - k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0", "2025-11-22T10:15:02.118311Z", 0},
		// Relayed by rsyslog (RSYSLOG_SyslogProtocol23Format) from an RFC 3164
		// sender: a whole second, and the kernel stamp after two spaces.
		{"RFC 5424 relayed from RFC 3164", "<12>1 2025-11-22T10:15:02+00:00 gw01 kernel - - -  [ 4821.000000] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0", "2025-11-22T10:15:02.5Z", 0},
		{"dmesg --time-format iso", "2025-11-22T10:15:02,118311+0000 k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0", "2025-11-22T10:15:02.118311Z", 0},
		{"dmesg -T", "[Sat Nov 22 10:15:02 2025] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0", "2025-11-22T10:15:02Z", 0},
		{"dmesg uptime only", "[ 4821.337104] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0", "1970-01-01T01:20:21.337104Z", event.FlagRelativeTime},
		{"December line in a January file is last year", "Dec 31 23:59:59 gw01 kernel: k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0", "2024-12-31T23:59:59Z", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := refTime
			if strings.HasPrefix(tc.line, "Dec") {
				ref = time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
			}
			d := newSyslogDecoder(Options{Reference: ref, Location: time.UTC})
			evs, err := decodeOne(t, d, tc.line)
			if err != nil || len(evs) != 1 {
				t.Fatalf("Decode: %v, %d events", err, len(evs))
			}
			got := time.Unix(0, evs[0].Time).UTC().Format(time.RFC3339Nano)
			if got != tc.want {
				t.Errorf("time = %s, want %s", got, tc.want)
			}
			if evs[0].Flags != tc.flags {
				t.Errorf("flags = %v, want %v", evs[0].Flags, tc.flags)
			}
		})
	}
}

// TestUptimeRefinesSeconds: knocks logged within one syslog second keep
// their microsecond spacing from the kernel stamp.
func TestUptimeRefinesSeconds(t *testing.T) {
	d := newTestSyslog()
	lines := []string{
		"Nov 22 10:15:02 gw01 kernel: [ 4821.337104] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=7000 SYN URGP=0",
		"Nov 22 10:15:02 gw01 kernel: [ 4821.337461] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=2 DPT=8000 SYN URGP=0",
		"Nov 22 10:15:03 gw01 kernel: [ 4822.001200] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=3 DPT=9000 SYN URGP=0",
	}
	var times []int64
	for _, l := range lines {
		evs, err := decodeOne(t, d, l)
		if err != nil || len(evs) != 1 {
			t.Fatalf("Decode(%q): %v", l, err)
		}
		times = append(times, evs[0].Time)
	}
	if gap := time.Duration(times[1] - times[0]); gap != 357*time.Microsecond {
		t.Errorf("gap 1-2 = %v, want 357µs", gap)
	}
	if times[2] <= times[1] {
		t.Errorf("third knock not after the second")
	}
}

// TestUptimePerHost: a central log file or a syslog listener interleaves
// the lines of several kernels, each with its own boot time; each host's
// knocks keep their spacing.
func TestUptimePerHost(t *testing.T) {
	d := newTestSyslog()
	lines := []string{
		"Nov 22 10:15:02 gw01 kernel: [ 4821.337104] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=7000 SYN URGP=0",
		"Nov 22 10:15:02 gw02 kernel: [90210.100000] k IN=eth0 OUT= SRC=198.51.100.8 DST=203.0.113.20 LEN=60 PROTO=TCP SPT=1 DPT=7000 SYN URGP=0",
		"Nov 22 10:15:02 gw01 kernel: [ 4821.337461] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=2 DPT=8000 SYN URGP=0",
		"Nov 22 10:15:02 gw02 kernel: [90210.300000] k IN=eth0 OUT= SRC=198.51.100.8 DST=203.0.113.20 LEN=60 PROTO=TCP SPT=2 DPT=8000 SYN URGP=0",
		"Nov 22 10:15:02 gw01 kernel: [ 4821.537104] k IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=3 DPT=9000 SYN URGP=0",
	}
	var times []int64
	for _, l := range lines {
		evs, err := decodeOne(t, d, l)
		if err != nil || len(evs) != 1 {
			t.Fatalf("Decode(%q): %v", l, err)
		}
		times = append(times, evs[0].Time)
	}
	for _, c := range []struct {
		a, b int
		want time.Duration
	}{{0, 2, 357 * time.Microsecond}, {2, 4, 199643 * time.Microsecond}, {1, 3, 200 * time.Millisecond}} {
		if gap := time.Duration(times[c.b] - times[c.a]); gap != c.want {
			t.Errorf("gap between lines %d and %d = %v, want %v", c.a+1, c.b+1, gap, c.want)
		}
	}
}

func TestNetfilterErrors(t *testing.T) {
	lines := readLines(t, "testdata/syslog/bad.log")
	want := []struct {
		reason Reason
		field  string
	}{
		{ReasonBadAddr, "SRC"},
		{ReasonBadPort, "DPT"},
		{ReasonMissingField, "DPT"},
		{ReasonBadProto, "PROTO"},
		{ReasonMissingField, "SRC"},
		{ReasonMissingField, "PROTO"},
		{ReasonBadTime, ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("bad.log has %d lines, the table %d", len(lines), len(want))
	}
	d := newTestSyslog()
	for i, l := range lines {
		evs, err := d.Decode(l, event.Origin{Index: uint64(i + 1)}, nil)
		var de *Error
		if !errors.As(err, &de) {
			t.Errorf("line %d: got %d events and error %v, want a *decode.Error", i+1, len(evs), err)
			continue
		}
		if de.Reason != want[i].reason || de.Field != want[i].field {
			t.Errorf("line %d: got %s %q (%v), want %s %q", i+1, de.Reason, de.Field, de, want[i].reason, want[i].field)
		}
		if len(evs) != 0 {
			t.Errorf("line %d: bad line yielded %d events", i+1, len(evs))
		}
	}
}

// TestSamples decodes every testdata sample: each good line yields exactly
// one event (or none, for lines that are not netfilter text).
func TestSamples(t *testing.T) {
	want := map[string]int{"kern.log": 8, "rfc3339.log": 2, "forwarded.log": 3, "dmesg.log": 3, "ulogd.log": 3}
	for file, n := range want {
		d := newTestSyslog()
		got := 0
		for i, l := range readLines(t, filepath.Join("testdata/syslog", file)) {
			evs, err := d.Decode(l, event.Origin{Index: uint64(i + 1)}, nil)
			if err != nil {
				t.Errorf("%s:%d: %v", file, i+1, err)
			}
			got += len(evs)
		}
		if got != n {
			t.Errorf("%s: %d events, want %d", file, got, n)
		}
	}
}

// TestPeerData decodes the psad and CrowdSec test lines in place: every
// well-formed line decodes, the two malformed CrowdSec lines are located
// errors, and nothing around them is lost.
func TestPeerData(t *testing.T) {
	root := "../../../shared/peer-data"
	if _, err := os.Stat(root); err != nil {
		t.Skipf("peer data not beside the checkout: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "psad-scans/iptables/*"))
	files = append(files, filepath.Join(root, "crowdsec-hub/iptables-logs.log"))
	var lines, events, errs int
	for _, f := range files {
		d := newTestSyslog()
		for i, l := range readLines(t, f) {
			lines++
			evs, err := d.Decode(l, event.Origin{Index: uint64(i + 1)}, nil)
			if err != nil {
				errs++
				if !strings.HasSuffix(f, "iptables-logs.log") || (i+1 != 2 && i+1 != 3) {
					t.Errorf("%s:%d: unexpected error %v", f, i+1, err)
				}
				continue
			}
			events += len(evs)
			// Truncated packets and IPv6 hop-by-hop (PROTO=0) carry nothing to count.
			if len(evs) == 0 && !bytes.Contains(l, []byte("INCOMPLETE")) && !bytes.Contains(l, []byte("PROTO=0 ")) {
				t.Errorf("%s:%d: well-formed line yielded no event", f, i+1)
			}
		}
	}
	if errs != 2 {
		t.Errorf("%d decode errors, want the 2 malformed CrowdSec lines", errs)
	}
	t.Logf("%d lines, %d events, %d errors", lines, events, errs)
}

func readLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

func TestNetfilterAllocs(t *testing.T) {
	d := newTestSyslog()
	line := []byte(knockLine)
	dst := make([]event.Event, 0, 4)
	n := testing.AllocsPerRun(1000, func() {
		dst, _ = d.Decode(line, event.Origin{Index: 1}, dst[:0])
	})
	if n != 0 {
		t.Errorf("Decode allocates %.1f times per line, want 0", n)
	}
	v6 := []byte("Nov 22 10:15:02 gw01 kernel: KNOCK6 IN=eth0 OUT= SRC=2001:0db8:0000:0000:0000:0000:0000:0007 DST=2001:0db8:0000:0000:0000:0000:0000:0010 LEN=80 TC=0 HOPLIMIT=57 FLOWLBL=372214 PROTO=TCP SPT=51516 DPT=7000 WINDOW=64800 RES=0x00 SYN URGP=0")
	if n := testing.AllocsPerRun(1000, func() { dst, _ = d.Decode(v6, event.Origin{Index: 1}, dst[:0]) }); n != 0 {
		t.Errorf("Decode allocates %.1f times per IPv6 line, want 0", n)
	}
}

// benchLines is a kern.log as a busy firewall writes it: one prefix, many
// sources, ports and both protocols.
func benchLines() [][]byte {
	var out [][]byte
	for i := 0; i < 64; i++ {
		var l string
		if i%4 == 3 {
			l = fmt.Sprintf("Nov 22 10:15:%02d gw01 kernel: [ 4821.%06d] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.%d.%d DST=203.0.113.10 LEN=29 TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO=UDP SPT=%d DPT=%d LEN=9", i%60, i*1000, i%200, i+1, 17000+i, 40000+i, 8000+i*7)
		} else {
			l = fmt.Sprintf("Nov 22 10:15:%02d gw01 kernel: [ 4821.%06d] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.%d.%d DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=%d DF PROTO=TCP SPT=%d DPT=%d WINDOW=64240 RES=0x00 SYN URGP=0", i%60, i*1000, i%200, i+1, 40000+i, 50000+i, 7000+i*13)
		}
		out = append(out, []byte(l))
	}
	return out
}

func BenchmarkSyslogNetfilter(b *testing.B) {
	lines := benchLines()
	var size int
	for _, l := range lines {
		size += len(l) + 1
	}
	d := newTestSyslog()
	dst := make([]event.Event, 0, 8)
	b.ReportAllocs()
	b.SetBytes(int64(size / len(lines)))
	i := 0
	for b.Loop() {
		dst, _ = d.Decode(lines[i%len(lines)], event.Origin{Index: 1}, dst[:0])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// FuzzSyslog checks that any line either decodes into valid events or
// fails with a *decode.Error carrying a reason, and never panics.
func FuzzSyslog(f *testing.F) {
	files, _ := filepath.Glob("testdata/syslog/*.log")
	for _, file := range files {
		for _, l := range readLines(f, file) {
			f.Add(l)
		}
	}
	d := newTestSyslog()
	var dst []event.Event
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > 10240 {
			return
		}
		var err error
		dst, err = d.Decode(line, event.Origin{Index: 1}, dst[:0])
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == 0 {
				t.Fatalf("error without a reason: %v", err)
			}
			if len(dst) != 0 {
				t.Fatalf("error with %d events", len(dst))
			}
			return
		}
		for _, ev := range dst {
			if !ev.Src.IsValid() || !ev.Dst.IsValid() {
				t.Fatalf("event with invalid address: %+v", ev)
			}
			if ev.Src.Is4In6() || ev.Dst.Is4In6() {
				t.Fatalf("address not unmapped: %+v", ev)
			}
			if ev.Proto == 0 {
				t.Fatalf("event without protocol: %+v", ev)
			}
		}
	})
}
