package decode

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
)

const vpcKnock = "2 123456789012 eni-0a1b2c3d4e5f67890 198.51.100.7 10.0.1.25 51514 7000 6 1 60 1763806500 1763806560 REJECT OK"

// vpcKnockCase is the event of the knock records, vpcKnock and
// vpcCustomKnock. vpcVariants returns field, which sets field i of record
// to v, and with, which changes a copy of that event.
var vpcKnockCase = wantEvent{time: "2025-11-22T10:15:00Z", src: "198.51.100.7", dst: "10.0.1.25", sport: 51514, dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, count: 1, shape: event.ShapeOSStack, flags: event.FlagUnordered}

func vpcVariants(record string) (field func(i int, v string) string, with func(func(*wantEvent)) []wantEvent) {
	field = func(i int, v string) string {
		f := strings.Fields(record)
		f[i] = v
		return strings.Join(f, " ")
	}
	with = func(f func(*wantEvent)) []wantEvent {
		w := vpcKnockCase
		f(&w)
		return []wantEvent{w}
	}
	return field, with
}

func TestVPCFlowTable(t *testing.T) {
	un := event.FlagUnordered
	knock := vpcKnockCase
	field, with := vpcVariants(vpcKnock)
	cases := []lineCase{
		{name: "spec knock", line: vpcKnock, want: []wantEvent{knock}},
		{name: "accepted, many packets: no shape", line: "2 123456789012 eni-0a1b2c3d4e5f67890 198.51.100.7 10.0.1.25 51520 22 6 24 5342 1763806500 1763806560 ACCEPT OK",
			want: []wantEvent{{time: knock.time, sport: 51520, dport: 22, proto: event.ProtoTCP, action: event.ActionAllowed, count: 24, flags: un}}},
		{name: "nmap-sized", line: field(9, "44"), want: with(func(w *wantEvent) { w.shape = event.ShapeNmap })},
		{name: "accepted single packet: no shape assumed", line: field(12, "ACCEPT"),
			want: with(func(w *wantEvent) { w.action, w.shape = event.ActionAllowed, event.ShapeUnknown })},
		{name: "knock UDP", line: strings.Replace(strings.Replace(vpcKnock, " 6 1 60 ", " 17 1 29 ", 1), "7000", "8284", 1),
			want: with(func(w *wantEvent) { w.proto, w.dport, w.shape = event.ProtoUDP, 8284, event.ShapeKnockUDP })},
		{name: "ICMP: no ports", line: field(7, "1"), want: []wantEvent{{time: knock.time, proto: event.ProtoICMP, action: event.ActionDenied, count: 1, flags: un}}},
		{name: "IPv6: 60 bytes is a bare 20-byte TCP header", line: field(3, "2001:db8::7"), want: with(func(w *wantEvent) { w.src, w.shape = "2001:db8::7", event.ShapeMasscan })},
		{name: "packets over 32 bits", line: field(8, "99999999999"), want: with(func(w *wantEvent) { w.count, w.shape = 1<<32-1, event.ShapeUnknown })},
		{name: "header", line: string(vpcFlowHeader)},
		{name: "NODATA", line: "2 123456789012 eni-0f9e8d7c6b5a43210 - - - - - - - 1763806500 1763806560 - NODATA"},
		{name: "SKIPDATA", line: "2 123456789012 eni-0f9e8d7c6b5a43210 - - - - - - - 1763806500 1763806560 - SKIPDATA"},

		{name: "custom format header: use vpcflow-custom", line: "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags", err: &wantErr{ReasonBadHeader, "", 0}},
		{name: "version 5", line: field(0, "5"), err: &wantErr{ReasonBadField, "version", 1}},
		{name: "truncated", line: vpcKnock[:strings.LastIndexByte(vpcKnock, ' ')], err: &wantErr{ReasonTruncated, "log-status", 0}},
		{name: "too many fields", line: vpcKnock + " 2", err: &wantErr{ReasonMalformed, "", 0}},
		{name: "double space", line: strings.Replace(vpcKnock, " ", "  ", 1), err: &wantErr{ReasonMalformed, "", 0}},
		{name: "bad srcaddr", line: field(3, "-"), err: &wantErr{ReasonBadAddr, "srcaddr", 38}},
		{name: "bad dstaddr", line: field(4, "10.0.1"), err: &wantErr{ReasonBadAddr, "dstaddr", 51}},
		{name: "bad srcport", line: field(5, "65536"), err: &wantErr{ReasonBadPort, "srcport", 61}},
		{name: "bad dstport", line: field(6, "x"), err: &wantErr{ReasonBadPort, "dstport", 67}},
		{name: "bad protocol", line: field(7, "tcp"), err: &wantErr{ReasonBadProto, "protocol", 72}},
		{name: "bad packets", line: field(8, "-1"), err: &wantErr{ReasonBadField, "packets", 74}},
		{name: "bad bytes", line: field(9, ""), err: &wantErr{ReasonBadField, "bytes", 76}},
		{name: "bad start", line: field(10, "17638065000000"), err: &wantErr{ReasonBadTime, "start", 79}},
		{name: "end before start", line: field(11, "1763806499"), err: &wantErr{ReasonBadTime, "end", 90}},
		{name: "bad action", line: field(12, "DROP"), err: &wantErr{ReasonBadField, "action", 101}},
		{name: "bad status", line: field(13, "FAIL"), err: &wantErr{ReasonBadField, "log-status", 108}},
	}
	runLineCases(t, func() Decoder { return vpcFlowFormat.New(fixedOpts) }, nil, cases)
}

func TestVPCFlowSamples(t *testing.T) {
	evs, errs := decodeRecords(vpcFlowFormat.New(fixedOpts), sampleRecords(t, "testdata/vpcflow/flow.log"))
	assertFlagsUnknown(t, "samples", evs)
	for _, err := range errs {
		t.Error(err)
	}
	un := event.FlagUnordered
	want := []wantEvent{
		{time: "2025-11-22T10:15:00Z", src: "198.51.100.7", dst: "10.0.1.25", dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un, index: 2},
		{dport: 8000, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un},
		{dport: 9000, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un},
		{dport: 22, action: event.ActionAllowed, count: 24, flags: un},
		{src: "10.0.1.25", dport: 51520, action: event.ActionAllowed, count: 19, flags: un},
		{dport: 8284, proto: event.ProtoUDP, action: event.ActionDenied, shape: event.ShapeKnockUDP, flags: un},
		{dport: 443, action: event.ActionDenied, shape: event.ShapeNmap, flags: un},
		{proto: event.ProtoICMP, action: event.ActionAllowed, count: 4, flags: un},
		{src: "2001:db8::7", dport: 7000, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un, index: 10},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i := range want {
		matchEvent(t, fmt.Sprint("flow.log event ", i), evs[i], want[i])
	}
}

// TestVPCFlowRoundTrip writes decoded events back as records and decodes
// them again: the same events come out.
func TestVPCFlowRoundTrip(t *testing.T) {
	d := vpcFlowFormat.New(fixedOpts)
	evs, _ := decodeRecords(d, sampleRecords(t, "testdata/vpcflow/flow.log"))
	for i, ev := range evs {
		action := "REJECT"
		if ev.Action == event.ActionAllowed {
			action = "ACCEPT"
		}
		ipBytes := uint64(ev.IPLen)
		if ev.Count != 1 {
			ipBytes = 1000
		}
		sec := ev.Time / 1e9
		line := fmt.Sprintf("2 123456789012 eni-0a1b2c3d4e5f67890 %s %s %d %d %d %d %d %d %d %s OK", ev.Src, ev.Dst, ev.SrcPort, ev.DstPort, ev.Proto, ev.Count, ipBytes, sec, sec+60, action)
		again, err := d.Decode([]byte(line), ev.Origin, nil)
		if err != nil || len(again) != 1 {
			t.Fatalf("%d: %q: %v", i, line, err)
		}
		if ev.Count != 1 {
			again[0].IPLen = ev.IPLen
		}
		if !reflect.DeepEqual(again[0], ev) {
			t.Errorf("%d: %+v, want %+v", i, again[0], ev)
		}
	}
}

func TestVPCFlowAllocs(t *testing.T) {
	assertNoAllocs(t, vpcFlowFormat.New(fixedOpts), vpcBenchLines()...)
}

func vpcBenchLines() []string {
	return []string{
		vpcKnock,
		"2 123456789012 eni-0a1b2c3d4e5f67890 198.51.100.7 10.0.1.25 51520 22 6 24 5342 1763806500 1763806560 ACCEPT OK",
		"2 123456789012 eni-0a1b2c3d4e5f67890 2001:db8::7 2001:db8:1::25 51530 7000 6 1 80 1763806500 1763806560 REJECT OK",
	}
}

func BenchmarkVPCFlow(b *testing.B) {
	var lines [][]byte
	for _, l := range vpcBenchLines() {
		lines = append(lines, []byte(l))
	}
	benchDecode(b, vpcFlowFormat.New(fixedOpts), lines)
}

func FuzzVPCFlow(f *testing.F) {
	addLineSeeds(f, "vpcflow")
	for _, l := range vpcBenchLines() {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, vpcFlowFormat, data) })
}

// vpcCustomHeader is the header of testdata/vpcflow-custom/flow.log.
const vpcCustomHeader = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction"

const vpcCustomKnock = "5 vpc-0a1b2c3d4e5f67890 subnet-0f9e8d7c6b5a43210 i-0123456789abcdef0 eni-0a1b2c3d4e5f67890 123456789012 IPv4 198.51.100.7 10.0.1.25 51514 7000 198.51.100.7 10.0.1.25 6 60 1 1763806500 1763806560 REJECT 2 OK ingress"

func TestVPCFlowCustomTable(t *testing.T) {
	knock := vpcKnockCase
	field, with := vpcVariants(vpcCustomKnock)
	cases := []lineCase{
		{name: "knock", line: vpcCustomKnock, want: []wantEvent{knock}},
		{name: "NAT gateway: the packet's own source", line: field(7, "10.0.0.5"), want: []wantEvent{knock}},
		{name: "no packet-level source", line: field(11, "-"), want: []wantEvent{knock}},
		{name: "lone RST: no SYN, no shape", line: field(19, "4"), want: with(func(w *wantEvent) { w.shape = event.ShapeUnknown })},
		{name: "UDP: tcp-flags 0 is no information", line: field(13, "17"), want: with(func(w *wantEvent) { w.proto, w.shape = event.ProtoUDP, event.ShapeUnknown })},
		{name: "egress", line: field(21, "egress"), want: []wantEvent{knock}},
		{name: "a second header changes the layout", line: "srcaddr dstaddr srcport dstport protocol start action"},
		{name: "NODATA", line: "5 vpc-0a1b2c3d4e5f67890 subnet-0f9e8d7c6b5a43210 i-0123456789abcdef0 eni-0a1b2c3d4e5f67890 123456789012 - - - - - - - - - - 1763806500 1763806560 - - NODATA -"},

		{name: "bad tcp-flags", line: field(19, "SYN"), err: &wantErr{ReasonBadField, "tcp-flags", 203}},
		{name: "bad pkt-srcaddr", line: field(11, "x"), err: &wantErr{ReasonBadAddr, "pkt-srcaddr", 144}},
		{name: "truncated", line: vpcCustomKnock[:strings.LastIndexByte(vpcCustomKnock, ' ')], err: &wantErr{ReasonTruncated, "flow-direction", 0}},
		{name: "too many fields", line: vpcCustomKnock + " x", err: &wantErr{ReasonMalformed, "", 0}},
	}
	runLineCases(t, func() Decoder { return vpcFlowCustomFormat.New(fixedOpts) }, []string{vpcCustomHeader}, cases)
}

// TestVPCFlowCustomLayouts: any order and subset of fields that holds
// what a knock needs; a header that lacks one, or is not a header, is
// refused with the field named.
func TestVPCFlowCustomLayouts(t *testing.T) {
	d := vpcFlowCustomFormat.New(fixedOpts)
	if _, err := d.Decode([]byte("action start protocol dstport srcport dstaddr srcaddr"), event.Origin{Index: 1}, nil); err != nil {
		t.Fatal(err)
	}
	evs, err := d.Decode([]byte("REJECT 1763806500 6 7000 51514 10.0.1.25 198.51.100.7"), event.Origin{Index: 2}, nil)
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v, %d events", err, len(evs))
	}
	matchEvent(t, "minimal layout", evs[0], wantEvent{time: "2025-11-22T10:15:00Z", src: "198.51.100.7", dst: "10.0.1.25", sport: 51514, dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, count: 1, flags: event.FlagUnordered})
	if evs[0].Flags&event.FlagNoTCPFlags == 0 {
		t.Error("a format without tcp-flags: the event does not say its TCP flags are unknown")
	}

	// Records of a format that starts with vpc-id start with a letter.
	if _, err := d.Decode([]byte("vpc-id srcaddr dstaddr srcport dstport protocol start action"), event.Origin{Index: 3}, nil); err != nil {
		t.Fatal(err)
	}
	evs, err = d.Decode([]byte("vpc-0a1b2c3d4e5f67890 198.51.100.7 10.0.1.25 51514 7000 6 1763806500 REJECT"), event.Origin{Index: 4}, nil)
	if err != nil || len(evs) != 1 || evs[0].DstPort != 7000 {
		t.Fatalf("a record that starts with vpc-id: %v, %+v", err, evs)
	}

	for _, c := range []struct {
		name, header string
		err          wantErr
	}{
		{"lacks dstport", "srcaddr dstaddr srcport protocol start action", wantErr{ReasonBadHeader, "dstport", 0}},
		{"a field twice", "srcaddr dstaddr srcport dstport protocol start action srcaddr", wantErr{ReasonBadHeader, "srcaddr", 55}},
		{"not a field name", "srcaddr dstaddr srcport dstport protocol start action Bytes", wantErr{ReasonBadHeader, "", 55}},
	} {
		_, err := vpcFlowCustomFormat.New(fixedOpts).Decode([]byte(c.header), event.Origin{Index: 1}, nil)
		matchErr(t, c.name, err, c.err)
	}
	_, err = vpcFlowCustomFormat.New(fixedOpts).Decode([]byte(vpcCustomKnock), event.Origin{Index: 1}, nil)
	matchErr(t, "a record before the header", err, wantErr{ReasonBadHeader, "", 0})
}

func TestVPCFlowCustomSamples(t *testing.T) {
	recs := sampleRecords(t, "testdata/vpcflow-custom/flow.log")
	if f, ok := Sniff([][]byte{recs[0].line, recs[1].line}); !ok || f.Name != "vpcflow-custom" {
		t.Errorf("sniffed %q, want vpcflow-custom", f.Name)
	}
	evs, errs := decodeRecords(vpcFlowCustomFormat.New(fixedOpts), recs)
	for _, err := range errs {
		t.Error(err)
	}
	un := event.FlagUnordered
	want := []wantEvent{
		{time: "2025-11-22T10:15:00Z", src: "198.51.100.7", dst: "10.0.1.25", dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un, index: 2},
		{dport: 8000, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un},
		{dport: 9000, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un},
		{dport: 22, action: event.ActionAllowed, count: 24, flags: un},
		{src: "10.0.1.25", dport: 51520, action: event.ActionAllowed, count: 19, flags: un},
		{src: "198.51.100.9", dport: 7000, action: event.ActionDenied, shape: event.ShapeOSStack, flags: un},
		{src: "192.0.2.66", dport: 443, action: event.ActionDenied, flags: un},
		{dport: 8284, proto: event.ProtoUDP, action: event.ActionDenied, shape: event.ShapeKnockUDP, flags: un},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i := range want {
		matchEvent(t, fmt.Sprint("flow.log event ", i), evs[i], want[i])
	}
	flags := []event.TCPFlags{event.FlagSYN, event.FlagSYN, event.FlagSYN, event.FlagSYN | event.FlagFIN, event.FlagSYN | event.FlagACK | event.FlagFIN, event.FlagSYN, event.FlagRST, 0}
	for i, f := range flags {
		if evs[i].TCPFlags != f {
			t.Errorf("event %d: TCP flags %v, want %v", i, evs[i].TCPFlags, f)
		}
		if evs[i].Flags&event.FlagNoTCPFlags != 0 {
			t.Errorf("event %d: flags marked unknown, but the format has tcp-flags", i)
		}
	}
}

func TestVPCFlowCustomAllocs(t *testing.T) {
	d := vpcFlowCustomFormat.New(fixedOpts)
	if _, err := d.Decode([]byte(vpcCustomHeader), event.Origin{Index: 1}, nil); err != nil {
		t.Fatal(err)
	}
	assertNoAllocs(t, d, vpcCustomKnock)
}

func BenchmarkVPCFlowCustom(b *testing.B) {
	d := vpcFlowCustomFormat.New(fixedOpts)
	if _, err := d.Decode([]byte(vpcCustomHeader), event.Origin{Index: 1}, nil); err != nil {
		b.Fatal(err)
	}
	benchDecode(b, d, [][]byte{[]byte(vpcCustomKnock)})
}

func FuzzVPCFlowCustom(f *testing.F) {
	addSeeds(f, "vpcflow-custom")
	f.Add([]byte("action start protocol dstport srcport dstaddr srcaddr\nREJECT 1763806500 6 7000 51514 10.0.1.25 198.51.100.7\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, vpcFlowCustomFormat, data) })
}
