package decode

import (
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

const cefHead = "CEF:0|Example Networks|EdgeFW|9.1.2|traffic-deny|Traffic denied|5|"

func TestCEFTable(t *testing.T) {
	denied, allowed, unknown := event.ActionDenied, event.ActionAllowed, event.ActionUnknown
	tcp, udp := event.ProtoTCP, event.ProtoUDP
	knock := wantEvent{time: "2025-11-22T10:15:02.118Z", src: "198.51.100.7", dst: "203.0.113.10", sport: 51514, dport: 7000, proto: tcp, action: denied}
	at := func(w wantEvent, time string, action event.Action) wantEvent {
		w.time, w.action = time, action
		return w
	}
	ext := "src=198.51.100.7 spt=51514 dst=203.0.113.10 dpt=7000 proto=TCP"
	cases := []lineCase{
		{name: "spec example", line: "<134>Nov 22 10:15:02 fw01 " + cefHead + "rt=1763806502118 deviceExternalId=FW01-SN-0042 dvchost=fw01 deviceInboundInterface=port1 src=198.51.100.7 spt=51514 dst=203.0.113.10 dpt=7000 proto=TCP act=deny cs1Label=policy cs1=default-deny",
			want: []wantEvent{knock}},
		{name: "bare, header time absent, rt", line: cefHead + "rt=1763806502118 " + ext + " act=deny", want: []wantEvent{knock}},
		{name: "rsyslog, header time", line: "Nov 22 10:15:02 fw01 " + cefHead + ext + " act=deny",
			want: []wantEvent{at(knock, "2025-11-22T10:15:02Z", denied)}},
		{name: "RFC 3339 header", line: "2025-11-22T10:15:02.402177+01:00 fw01 " + cefHead + ext + " act=deny",
			want: []wantEvent{at(knock, "2025-11-22T09:15:02.402177Z", denied)}},
		{name: "RFC 5424 with structured data", line: `<134>1 2025-11-22T10:15:02.5Z fw01 edgefw 77 traffic [x@1 a="]"] ` + cefHead + ext + " act=deny",
			want: []wantEvent{at(knock, "2025-11-22T10:15:02.5Z", denied)}},
		{name: "program tag before CEF", line: "Nov 22 10:15:02 fw01 edgefw[77]: " + cefHead + ext + " act=deny",
			want: []wantEvent{at(knock, "2025-11-22T10:15:02Z", denied)}},
		{name: "rt date with millis and zone", line: cefHead + "rt=Nov 22 2025 11:15:02.118 +0100 " + ext, want: []wantEvent{knock}},
		{name: "rt date with GMT offset", line: cefHead + "rt=Nov 22 2025 05:15:02.118 GMT-05:00 " + ext, want: []wantEvent{knock}},
		{name: "rt date, no zone, stream zone", line: cefHead + "rt=Nov 22 2025 10:15:02.118 " + ext, want: []wantEvent{knock}},
		{name: "rt year-less", line: cefHead + "rt=Nov 22 10:15:02.118 UTC " + ext, want: []wantEvent{knock}},
		{name: "rt US form", line: cefHead + "rt=11/22/2025 10:15:02.118 AM " + ext, want: []wantEvent{knock}},
		{name: "rt seconds", line: cefHead + "rt=1763806502 " + ext, want: []wantEvent{at(knock, "2025-11-22T10:15:02Z", denied)}},
		{name: "start when no rt", line: cefHead + "start=1763806502118 end=1763806509000 " + ext, want: []wantEvent{knock}},
		{name: "end alone", line: cefHead + "end=1763806502118 " + ext, want: []wantEvent{knock}},
		{name: "act wins over name", line: cefHead + "rt=1763806502118 " + ext + " act=accept", want: []wantEvent{at(knock, knock.time, allowed)}},
		{name: "outcome when act unknown", line: cefHead + "rt=1763806502118 " + ext + " act=alert outcome=Success", want: []wantEvent{at(knock, knock.time, allowed)}},
		{name: "name word", line: "CEF:0|V|P|1|100|Inbound connection BLOCKED|5|rt=1763806502118 " + ext, want: []wantEvent{knock}},
		{name: "class id word", line: "CEF:0|V|P|1|fw-permit|Traffic|5|rt=1763806502118 " + ext, want: []wantEvent{at(knock, knock.time, allowed)}},
		{name: "no verdict anywhere", line: "CEF:0|V|P|1|knock-seq|Port knock sequence|8|rt=1763806502118 " + ext + " act=alert", want: []wantEvent{at(knock, knock.time, unknown)}},
		{name: "reset-both", line: cefHead + "rt=1763806502118 " + ext + " act=reset-both", want: []wantEvent{knock}},
		{name: "escapes and spaces in values", line: `CEF:0|Example Networks|Edge\|FW|9.1\\2|traffic-deny|Traffic denied|5|msg=ports\=7000 src\=x path C:\\fw\\ spt=1 ` + "rt=1763806502118 src=198.51.100.7 spt=51514 dst=203.0.113.10 dpt=7000 proto=TCP act=deny",
			want: []wantEvent{knock}},
		{name: "escaped newline in a value, tab separator", line: cefHead + "msg=line one\\nline two\trt=1763806502118 " + ext, want: []wantEvent{knock}},
		{name: "leading blank and trailing spaces", line: cefHead + "  rt=1763806502118 " + ext + "   ", want: []wantEvent{knock}},
		{name: "udp, number proto, count", line: cefHead + "rt=1763806502118 src=198.51.100.7 spt=40622 dst=203.0.113.10 dpt=8284 proto=17 cnt=3 act=drop",
			want: []wantEvent{{time: knock.time, src: "198.51.100.7", dst: "203.0.113.10", sport: 40622, dport: 8284, proto: udp, action: denied, count: 3}}},
		{name: "ICMPv6", line: cefHead + "rt=1763806502118 src=2001:db8::7 dst=2001:db8::10 proto=ICMP act=deny deviceDirection=0",
			want: []wantEvent{{time: knock.time, src: "2001:db8::7", dst: "2001:db8::10", proto: event.ProtoICMPv6, action: denied}}},
		{name: "IPv4-mapped address unmapped", line: cefHead + "rt=1763806502118 src=::ffff:198.51.100.7 spt=51514 dst=203.0.113.10 dpt=7000 proto=TCP act=deny", want: []wantEvent{knock}},
		{name: "not traffic", line: "CEF:0|V|P|1|login|Login failed|5|rt=1763806502118 suser=admin src=198.51.100.7"},
		{name: "no destination port", line: "CEF:0|V|P|1|ids|Alert|5|rt=1763806502118 src=198.51.100.7 dst=203.0.113.10 proto=TCP"},
		{name: "no extension", line: "CEF:0|V|P|1|c|n|5|"},
		{name: "not CEF", line: "Nov 22 10:15:02 fw01 sshd[1]: CEF: is not a record here"},

		{name: "header cut", line: "CEF:0|V|P|1|c|n", err: &wantErr{ReasonTruncated, "Name", 16}},
		{name: "header cut after escape", line: `CEF:0|V|P\|1|c|n|5`, err: &wantErr{ReasonTruncated, "Name", 19}},
		{name: "extension without key", line: cefHead + "=x src=1", err: &wantErr{ReasonMalformed, "extension", 67}},
		{name: "extension junk", line: cefHead + "hello world", err: &wantErr{ReasonMalformed, "extension", 67}},
		{name: "bad src", line: cefHead + "rt=1763806502118 src=198.51.100.777 dst=203.0.113.10 dpt=7000 proto=TCP", err: &wantErr{ReasonBadAddr, "src", 88}},
		{name: "bad dst", line: cefHead + "rt=1 src=198.51.100.7 dst=fw01 dpt=7000 proto=TCP", err: &wantErr{ReasonBadAddr, "dst", 93}},
		{name: "bad dpt", line: cefHead + "rt=1763806502118 src=198.51.100.7 dst=203.0.113.10 dpt=70000 proto=TCP", err: &wantErr{ReasonBadPort, "dpt", 122}},
		{name: "bad spt", line: cefHead + "rt=1763806502118 src=198.51.100.7 spt=-1 dst=203.0.113.10 dpt=7000 proto=TCP", err: &wantErr{ReasonBadPort, "spt", 105}},
		{name: "bad proto", line: cefHead + "rt=1763806502118 src=198.51.100.7 dst=203.0.113.10 dpt=7000 proto=TCPX", err: &wantErr{ReasonBadProto, "proto", 133}},
		{name: "missing proto", line: cefHead + "rt=1763806502118 src=198.51.100.7 dst=203.0.113.10 dpt=7000", err: &wantErr{ReasonMissingField, "proto", 0}},
		{name: "bad rt", line: cefHead + "rt=yesterday " + ext, err: &wantErr{ReasonBadTime, "rt", 70}},
		{name: "rt year out of range", line: cefHead + "rt=Nov 22 2300 10:15:02 " + ext, err: &wantErr{ReasonBadTime, "rt", 70}},
		{name: "rt unknown zone", line: cefHead + "rt=Nov 22 2025 10:15:02 IST " + ext, err: &wantErr{ReasonBadTime, "rt", 70}},
		{name: "rt ms overflow", line: cefHead + "rt=99999999999999 " + ext, err: &wantErr{ReasonBadTime, "rt", 70}},
		{name: "no time at all", line: cefHead + ext, err: &wantErr{ReasonBadTime, "rt", 0}},
		{name: "bad count", line: cefHead + "rt=1763806502118 " + ext + " cnt=many", err: &wantErr{ReasonBadField, "cnt", 151}},
		{name: "bad direction", line: cefHead + "rt=1763806502118 " + ext + " deviceDirection=in", err: &wantErr{ReasonBadField, "deviceDirection", 163}},
		{name: "bad start", line: "<134>Nov 22 10:15:02 fw01 " + cefHead + "start=Nov 99 2025 10:15:02 " + ext, err: &wantErr{ReasonBadTime, "start", 99}},
	}
	runLineCases(t, func() Decoder { return cefFormat.New(fixedOpts) }, nil, cases)
}

func TestActionWord(t *testing.T) {
	for _, w := range strings.Fields("deny denied drop dropped block blocked reject rejected reset reset-both reset-client reset-server discard prevent failure DENY Drop BLOCKED Reset-Both") {
		if got := actionWord([]byte(w)); got != event.ActionDenied {
			t.Errorf("%q: %v, want denied", w, got)
		}
	}
	for _, w := range strings.Fields("allow allowed accept accepted permit permitted pass passed success established ACCEPT Permit Success") {
		if got := actionWord([]byte(w)); got != event.ActionAllowed {
			t.Errorf("%q: %v, want allowed", w, got)
		}
	}
	for w, want := range map[string]event.Action{
		"": event.ActionUnknown, "alert": event.ActionUnknown, "close": event.ActionUnknown, "timeout": event.ActionUnknown,
		"Traffic denied": event.ActionDenied, "traffic-deny": event.ActionDenied, "drop-icmp": event.ActionDenied,
		"Connection accepted by rule 4": event.ActionAllowed, " deny ": event.ActionDenied, "undeniable": event.ActionUnknown,
		"passthrough": event.ActionUnknown, "a-very-long-word-that-is-no-verdict": event.ActionUnknown,
	} {
		if got := actionWord([]byte(w)); got != want {
			t.Errorf("%q: %v, want %v", w, got, want)
		}
	}
}

func TestParseCEFTime(t *testing.T) {
	c := newClock(Options{Year: 2025, Location: time.FixedZone("X", 3600)})
	want := time.Date(2025, 11, 22, 10, 15, 2, 118e6, time.UTC).UnixNano()
	for _, s := range []string{
		"1763806502118", "1763806502.118", "Nov 22 2025 10:15:02.118 UTC", "Nov 22 2025 10:15:02.118 GMT",
		"Nov 22 2025 11:15:02.118", "Nov 22 11:15:02.118", "Nov 22 2025 05:15:02.118 EST", "Nov 22 2025 12:15:02.118 +02:00",
		"Nov 22 2025 10:15:02.118 Z", "2025-11-22T10:15:02.118Z", "11/22/2025 11:15:02.118 AM", "11/22/2025, 11:15:02.118",
		"Nov 22 2025 02:15:02.118 PST", "Nov 22 2025 11:15:02.118 CET",
	} {
		got, ok := parseCEFTime([]byte(s), &c)
		if !ok || got != want {
			t.Errorf("%q: %v %v, want %v", s, time.Unix(0, got).UTC(), ok, time.Unix(0, want).UTC())
		}
	}
	for _, s := range []string{
		"", "0", "yesterday", "Nov 22 2025", "Nov 22 2025 10:15", "Nov 32 2025 10:15:02", "Nov 22 2025 24:15:02",
		"Nov 22 2025 10:15:02 IST", "Nov 22 2025 10:15:02.118UTC", "Nov 22 2025 10:15:02,118", "99999999999999999",
		"1763806502.", "12/22/2025 13:15:02 PM", "13/22/2025 10:15:02", "Nov 22 2025 10:15:02 +1", "Nov 22 1969 10:15:02",
		"Nov 22 2025 10:15:02 +0100x",
	} {
		if got, ok := parseCEFTime([]byte(s), &c); ok {
			t.Errorf("%q: accepted as %v", s, time.Unix(0, got).UTC())
		}
	}
}

// TestCEFSamples decodes the samples: every line decodes without error
// into the events its README describes.
func TestCEFSamples(t *testing.T) {
	denied, allowed := event.ActionDenied, event.ActionAllowed
	want := map[string][]wantEvent{
		"syslog.log": {
			{time: "2025-11-22T10:15:02.118Z", src: "198.51.100.7", dst: "203.0.113.10", dport: 7000, proto: event.ProtoTCP, action: denied, index: 1},
			{time: "2025-11-22T10:15:02.402Z", dport: 8000, action: denied, index: 2},
			{time: "2025-11-22T10:15:02.688Z", dport: 8284, proto: event.ProtoUDP, action: denied, index: 3},
			{time: "2025-11-22T10:15:04.012Z", dport: 22, action: allowed, index: 4},
		},
		"rsyslog.log": {
			{time: "2025-11-22T10:15:02Z", dport: 7000, action: denied, index: 1},
			{time: "2025-11-22T10:15:02.402177Z", dport: 8000, action: denied, index: 2},
			{time: "2025-11-22T10:15:04.012Z", dport: 22, action: allowed, index: 4},
		},
		"rfc5424.log": {
			{time: "2025-11-22T10:15:02.118311Z", dport: 7000, action: denied},
			{time: "2025-11-22T10:15:02.402177Z", dport: 8000, action: denied},
		},
		"bare.cef": {
			{time: "2025-11-22T10:15:02.118Z", dport: 7000, proto: event.ProtoTCP, action: denied, index: 2},
			{time: "2025-11-22T10:15:02.402Z", dport: 8000, action: denied, count: 3, index: 3},
			{time: "2025-11-22T09:15:02Z", src: "2001:db8::7", proto: event.ProtoICMPv6, action: allowed, index: 4},
			{time: "2025-11-22T10:15:02Z", dport: 8284, proto: event.ProtoUDP, action: denied, index: 5},
		},
	}
	for _, p := range samplePaths(t, "cef") {
		name := p[len("testdata/cef/"):]
		evs, errs := decodeRecords(cefFormat.New(fixedOpts), sampleRecords(t, p))
		assertFlagsUnknown(t, "samples", evs)
		for _, err := range errs {
			t.Errorf("%s: %v", name, err)
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: no expectations", name)
			continue
		}
		if len(evs) != len(w) {
			t.Errorf("%s: %d events, want %d", name, len(evs), len(w))
			continue
		}
		for i := range w {
			matchEvent(t, name, evs[i], w[i])
		}
	}
}

func TestCEFAllocs(t *testing.T) {
	assertNoAllocs(t, cefFormat.New(fixedOpts), cefBenchLines()...)
}

func cefBenchLines() []string {
	return []string{
		"<134>Nov 22 10:15:02 fw01 " + cefHead + "rt=1763806502118 deviceExternalId=FW01-SN-0042 dvchost=fw01 deviceInboundInterface=port1 src=198.51.100.7 spt=51514 dst=203.0.113.10 dpt=7000 proto=TCP act=deny cs1Label=policy cs1=default-deny",
		"Nov 22 10:15:02 fw01 " + cefHead + "rt=Nov 22 2025 10:15:02.402 UTC src=198.51.100.7 spt=51515 dst=203.0.113.10 dpt=8000 proto=TCP act=reset-both msg=policy default-deny matched",
		cefHead + "rt=1763806502688 src=2001:db8::7 spt=40622 dst=2001:db8::10 dpt=8284 proto=UDP cnt=1 act=drop",
	}
}

func BenchmarkCEF(b *testing.B) {
	var lines [][]byte
	for _, l := range cefBenchLines() {
		lines = append(lines, []byte(l))
	}
	benchDecode(b, cefFormat.New(fixedOpts), lines)
}

// FuzzCEF feeds CEF files (bare and behind every syslog header) through
// the decoder the cef format makes.
func FuzzCEF(f *testing.F) {
	addLineSeeds(f, "cef")
	for _, l := range cefBenchLines() {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, cefFormat, data) })
}
