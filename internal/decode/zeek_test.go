package decode

import (
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
)

// zeekHeader is the ASCII writer's header as formats.md 4.11 shows it.
var zeekHeader = []string{
	`#separator \x09`,
	"#set_separator\t,",
	"#empty_field\t(empty)",
	"#unset_field\t-",
	"#path\tconn",
	"#open\t2025-11-22-10-15-00",
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tip_proto",
	"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tcount",
}

// zeekRow builds a TSV record from the columns that vary.
func zeekRow(ts, oh, op, rh, rp, proto, state, history, pkts, ipBytes, ipProto string) string {
	return strings.Join([]string{ts, "CkF3bT2n9mY1Qx4Hd2", oh, op, rh, rp, proto, "-", "-", "-", "-", state, "F", "T", "0", history, pkts, ipBytes, "0", "0", "-", ipProto}, "\t")
}

func TestZeekTSVTable(t *testing.T) {
	denied, allowed := event.ActionDenied, event.ActionAllowed
	tcp, udp := event.ProtoTCP, event.ProtoUDP
	knock := wantEvent{time: "2025-11-22T10:15:02.118311Z", src: "198.51.100.7", dst: "203.0.113.10", sport: 51514, dport: 7000, proto: tcp, action: denied, count: 1, shape: event.ShapeOSStack}
	with := func(f func(*wantEvent)) []wantEvent {
		w := knock
		f(&w)
		return []wantEvent{w}
	}
	row := func(mod func(c []string)) string {
		c := strings.Split(zeekRow("1763806502.118311", "198.51.100.7", "51514", "203.0.113.10", "7000", "tcp", "S0", "S", "1", "60", "6"), "\t")
		mod(c)
		return strings.Join(c, "\t")
	}
	cases := []lineCase{
		{name: "S0 knock", line: row(func([]string) {}), want: []wantEvent{knock}},
		{name: "REJ", line: row(func(c []string) { c[11], c[15] = "REJ", "Sr" }), want: []wantEvent{knock}},
		{name: "nmap SYN", line: row(func(c []string) { c[17] = "44" }), want: with(func(w *wantEvent) { w.shape = event.ShapeNmap })},
		{name: "masscan SYN", line: row(func(c []string) { c[17] = "40" }), want: with(func(w *wantEvent) { w.shape = event.ShapeMasscan })},
		{name: "SYN retransmitted: no shape", line: row(func(c []string) { c[16], c[17] = "3", "180" }),
			want: with(func(w *wantEvent) { w.count, w.shape = 3, event.ShapeUnknown })},
		{name: "knock UDP", line: row(func(c []string) { c[6], c[15], c[17], c[21] = "udp", "D", "29", "17" }),
			want: with(func(w *wantEvent) { w.proto, w.shape = udp, event.ShapeKnockUDP })},
		{name: "SF", line: row(func(c []string) { c[11], c[15], c[16], c[17] = "SF", "ShADadFf", "21", "3983" }),
			want: with(func(w *wantEvent) { w.action, w.count, w.shape = allowed, 21, event.ShapeUnknown })},
		{name: "RSTO knock to an open port", line: row(func(c []string) { c[11], c[15], c[16], c[17] = "RSTO", "ShR", "2", "100" }),
			want: with(func(w *wantEvent) { w.action, w.count, w.shape = allowed, 2, event.ShapeUnknown })},
		{name: "every closed state", line: row(func(c []string) { c[11] = "RSTRH" }), want: []wantEvent{knock}},
		{name: "OTH", line: row(func(c []string) { c[11] = "OTH" }), want: []wantEvent{knock}},
		{name: "unset state and history", line: row(func(c []string) { c[11], c[15] = "-", "-" }),
			want: with(func(w *wantEvent) { w.action, w.shape = event.ActionUnknown, event.ShapeUnknown })},
		{name: "ICMP type and code", line: row(func(c []string) {
			c[3], c[5], c[6], c[11], c[15], c[17], c[21] = "3", "3", "icmp", "OTH", "-", "56", "1"
		}),
			want: []wantEvent{{time: knock.time, src: "198.51.100.7", proto: event.ProtoICMP, action: denied, count: 1, icmp: [2]uint8{3, 3}}}},
		{name: "IPv6 SYN", line: row(func(c []string) { c[2], c[4], c[17] = "2001:db8::7", "2001:db8::10", "80" }),
			want: with(func(w *wantEvent) { w.src, w.dst = "2001:db8::7", "2001:db8::10" })},
		{name: "unknown transport", line: row(func(c []string) {
			c[3], c[5], c[6], c[11], c[15], c[21] = "0", "0", "unknown_transport", "OTH", "-", "47"
		}),
			want: []wantEvent{{time: knock.time, proto: 47, action: denied, count: 1}}},
		{name: "escaped value elsewhere", line: row(func(c []string) { c[1] = `C\x09x` }), want: []wantEvent{knock}},

		{name: "too few fields", line: strings.Join(strings.Split(row(func([]string) {}), "\t")[:20], "\t"), err: &wantErr{ReasonTruncated, "", 0}},
		{name: "too many fields", line: row(func([]string) {}) + "\textra", err: &wantErr{ReasonMalformed, "", 0}},
		{name: "bad ts", line: row(func(c []string) { c[0] = "1763806502,118311" }), err: &wantErr{ReasonBadTime, "ts", 1}},
		{name: "ts overflow", line: row(func(c []string) { c[0] = "99999999999.5" }), err: &wantErr{ReasonBadTime, "ts", 1}},
		{name: "unset ts", line: row(func(c []string) { c[0] = "-" }), err: &wantErr{ReasonMissingField, "ts", 0}},
		{name: "bad orig_h", line: row(func(c []string) { c[2] = "198.51.100" }), err: &wantErr{ReasonBadAddr, "id.orig_h", 38}},
		{name: "bad resp_h", line: row(func(c []string) { c[4] = "gw01" }), err: &wantErr{ReasonBadAddr, "id.resp_h", 57}},
		{name: "bad port", line: row(func(c []string) { c[5] = "70000" }), err: &wantErr{ReasonBadPort, "id.resp_p", 70}},
		{name: "ICMP type over 255", line: row(func(c []string) { c[3], c[6], c[21] = "300", "icmp", "1" }), err: &wantErr{ReasonBadPort, "id.orig_p", 51}},
		{name: "bad proto", line: row(func(c []string) { c[6] = "sctp" }), err: &wantErr{ReasonBadProto, "proto", 75}},
		{name: "bad ip_proto", line: row(func(c []string) { c[21] = "tcp" }), err: &wantErr{ReasonBadProto, "ip_proto", 109}},
		{name: "bad state", line: row(func(c []string) { c[11] = "S9" }), err: &wantErr{ReasonBadField, "conn_state", 87}},
		{name: "bad orig_pkts", line: row(func(c []string) { c[16] = "one" }), err: &wantErr{ReasonBadField, "orig_pkts", 98}},
		{name: "bad orig_ip_bytes", line: row(func(c []string) { c[17] = "x" }), err: &wantErr{ReasonBadField, "orig_ip_bytes", 100}},
	}
	runLineCases(t, func() Decoder { return zeekConnTSVFormat.New(fixedOpts) }, zeekHeader, cases)
}

func TestZeekTSVHeaders(t *testing.T) {
	ok := zeekRow("1763806502.118311", "198.51.100.7", "51514", "203.0.113.10", "7000", "tcp", "S0", "S", "1", "60", "6")
	for _, c := range []struct {
		name   string
		lines  []string
		events int
		errs   []wantErr // in order
	}{
		{"no header", []string{ok}, 0, []wantErr{{ReasonBadHeader, "#fields", 0}}},
		{"header", append(append([]string{}, zeekHeader...), ok, ok), 2, nil},
		{"another log", []string{"#separator \\x09", "#path\tdns", "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery", "1763806502.1\tC1\t192.0.2.1\t5353\t192.0.2.2\t53\tudp\texample.org"}, 0,
			[]wantErr{{ReasonBadHeader, "#path", 7}, {ReasonBadHeader, "#fields", 0}}},
		{"missing column", []string{"#fields\tts\tid.orig_h\tid.resp_h\tid.resp_p\tproto", "1\t192.0.2.1\t192.0.2.2\t1\ttcp"}, 0,
			[]wantErr{{ReasonBadHeader, "#fields", 0}, {ReasonBadHeader, "#fields", 0}}},
		{"column twice", []string{"#fields\tts\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto"}, 0, []wantErr{{ReasonBadHeader, "#fields", 12}}},
		{"empty separator", []string{"#separator "}, 0, []wantErr{{ReasonBadHeader, "#separator", 12}}},
		{"comma separator, own unset marker, reordered columns", []string{
			`#separator \x2c`, "#unset_field,NONE", "#fields,proto,id.resp_p,id.resp_h,id.orig_p,id.orig_h,ts,conn_state,orig_pkts",
			"tcp,7000,203.0.113.10,51514,198.51.100.7,1763806502.118311,S0,NONE"}, 1, nil},
		{"concatenated logs re-read their headers", append(append(append(append([]string{}, zeekHeader...), ok, "#close\t2025-11-22-11-00-00"),
			strings.ReplaceAll(strings.Join(zeekHeader, "\n"), "\tip_proto", "")+"\n"+strings.Join(strings.Split(ok, "\t")[:21], "\t")), ok), 2,
			[]wantErr{{ReasonMalformed, "", 0}}},
	} {
		d := zeekConnTSVFormat.New(fixedOpts)
		var recs []sampleRecord
		for i, l := range strings.Split(strings.Join(c.lines, "\n"), "\n") {
			recs = append(recs, sampleRecord{[]byte(l), uint64(i + 1)})
		}
		evs, errs := decodeRecords(d, recs)
		if len(evs) != c.events {
			t.Errorf("%s: %d events, want %d", c.name, len(evs), c.events)
		}
		if len(errs) != len(c.errs) {
			t.Errorf("%s: errors %v, want %d", c.name, errs, len(c.errs))
			continue
		}
		for i, e := range c.errs {
			matchErr(t, c.name, errs[i], e)
		}
	}
}

func TestZeekJSONTable(t *testing.T) {
	knock := wantEvent{time: "2025-11-22T10:15:02.118311Z", src: "198.51.100.7", dst: "203.0.113.10", sport: 51514, dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, count: 1, shape: event.ShapeOSStack}
	spec := `{"ts":1763806502.118311,"uid":"CkF3bT2n9mY1Qx4Hd2","id.orig_h":"198.51.100.7","id.orig_p":51514,"id.resp_h":"203.0.113.10","id.resp_p":7000,"proto":"tcp","conn_state":"S0","local_orig":false,"local_resp":true,"missed_bytes":0,"history":"S","orig_pkts":1,"orig_ip_bytes":60,"resp_pkts":0,"resp_ip_bytes":0,"ip_proto":6}`
	sub := func(old, new string) string { return strings.Replace(spec, old, new, 1) }
	at := func(ts string) []wantEvent { w := knock; w.time = ts; return []wantEvent{w} }
	cases := []lineCase{
		{name: "spec", line: spec, want: []wantEvent{knock}},
		{name: "ISO 8601 ts", line: sub(`1763806502.118311`, `"2025-11-22T10:15:02.118311Z"`), want: []wantEvent{knock}},
		{name: "millisecond ts", line: sub(`1763806502.118311`, `1763806502118`), want: at("2025-11-22T10:15:02.118Z")},
		{name: "integral seconds", line: sub(`1763806502.118311`, `1763806502`), want: at("2025-11-22T10:15:02Z")},
		{name: "ports as strings", line: sub(`51514`, `"51514"`), want: []wantEvent{knock}},
		{name: "escaped key text", line: sub(`"conn_state"`, `"conn\u005fstate"`), want: []wantEvent{knock}},
		{name: "other log on the stream", line: `{"_path":"dns","ts":1763806502.1,"id.orig_h":"192.0.2.1","id.orig_p":5353,"id.resp_h":"192.0.2.2","id.resp_p":53,"proto":"udp"}`},
		{name: "conn _path", line: sub(`{"ts"`, `{"_path":"conn","ts"`), want: []wantEvent{knock}},
		{name: "null field", line: sub(`"history":"S"`, `"history":null`), want: func() []wantEvent { w := knock; w.shape = 0; return []wantEvent{w} }()},

		{name: "not JSON", line: `{"ts":`, err: &wantErr{ReasonMalformed, "", 0}},
		{name: "array", line: `[1,2]`, err: &wantErr{ReasonMalformed, "", 0}},
		{name: "object in a field", line: sub(`"proto":"tcp"`, `"proto":{"x":1}`), err: &wantErr{ReasonBadField, "proto", 0}},
		{name: "missing resp_h", line: sub(`"id.resp_h":"203.0.113.10",`, ``), err: &wantErr{ReasonMissingField, "id.resp_h", 0}},
		{name: "missing resp_p", line: sub(`"id.resp_p":7000,`, ``), err: &wantErr{ReasonMissingField, "id.resp_p", 0}},
		{name: "negative port", line: sub(`7000`, `-7000`), err: &wantErr{ReasonBadPort, "id.resp_p", 0}},
		{name: "float port", line: sub(`7000`, `7000.5`), err: &wantErr{ReasonBadPort, "id.resp_p", 0}},
		{name: "NaN ts", line: sub(`1763806502.118311`, `NaN`), err: &wantErr{ReasonBadTime, "ts", 0}},
		{name: "exponent ts", line: sub(`1763806502.118311`, `1.7e9`), err: &wantErr{ReasonBadTime, "ts", 0}},
		{name: "ts before 1970", line: sub(`1763806502.118311`, `"1969-12-31T23:59:59Z"`), err: &wantErr{ReasonBadTime, "ts", 0}},
	}
	runLineCases(t, func() Decoder { return zeekConnJSONFormat.New(fixedOpts) }, nil, cases)
}

func TestZeekSamples(t *testing.T) {
	denied, allowed := event.ActionDenied, event.ActionAllowed
	want := map[string][]wantEvent{
		"zeek-conn-tsv/conn.log": {
			{time: "2025-11-22T10:15:02.118311Z", src: "198.51.100.7", dst: "203.0.113.10", dport: 7000, proto: event.ProtoTCP, action: denied, count: 1, shape: event.ShapeOSStack, index: 9},
			{time: "2025-11-22T10:15:02.402177Z", dport: 8000, action: denied, count: 1, shape: event.ShapeOSStack},
			{time: "2025-11-22T10:15:02.68802Z", dport: 8284, proto: event.ProtoUDP, action: denied, shape: event.ShapeKnockUDP},
			{time: "2025-11-22T10:15:04.012907Z", dport: 22, action: allowed, count: 21},
			{dport: 443, action: denied, shape: event.ShapeNmap},
			{dport: 444, action: denied, shape: event.ShapeMasscan},
			{proto: event.ProtoICMP, action: denied, icmp: [2]uint8{8, 0}},
			{src: "2001:db8::7", dport: 7000, action: denied, shape: event.ShapeOSStack},
			{dport: 9000, action: allowed, count: 2},
		},
		"zeek-conn-tsv/conn-no-ip-proto.log": {
			{dport: 7000, proto: event.ProtoTCP, action: denied, shape: event.ShapeOSStack},
			{dport: 8000, action: denied, shape: event.ShapeOSStack},
			{src: "2001:db8::7", proto: event.ProtoICMPv6, action: denied, icmp: [2]uint8{128, 0}},
		},
		"zeek-conn-json/conn.json": {
			{time: "2025-11-22T10:15:02.118311Z", dport: 7000, action: denied, shape: event.ShapeOSStack, index: 1},
			{dport: 8000, action: denied, shape: event.ShapeOSStack},
			{time: "2025-11-22T10:15:02.68802Z", dport: 8284, proto: event.ProtoUDP, action: denied, shape: event.ShapeKnockUDP},
			{dport: 22, action: allowed, count: 21},
			{time: "2025-11-22T10:15:11Z", proto: event.ProtoICMP, action: denied, icmp: [2]uint8{8, 0}},
		},
		"zeek-conn-json/conn-iso8601.json": {
			{time: "2025-11-22T10:15:02.118311Z", dport: 7000, action: denied, shape: event.ShapeNmap},
			{src: "2001:db8::7", dport: 8000, action: denied, shape: event.ShapeOSStack},
			{dport: 9000, action: denied, count: 2},
		},
	}
	for _, format := range []Format{zeekConnTSVFormat, zeekConnJSONFormat} {
		for _, p := range samplePaths(t, format.Name) {
			name := p[len("testdata/"):]
			evs, errs := decodeRecords(format.New(fixedOpts), sampleRecords(t, p))
			for _, err := range errs {
				t.Errorf("%s: %v", name, err)
			}
			w := want[name]
			if len(evs) != len(w) {
				t.Errorf("%s: %d events, want %d", name, len(evs), len(w))
				continue
			}
			for i := range w {
				matchEvent(t, name, evs[i], w[i])
			}
		}
	}
}

// TestZeekTCPFlags checks the flags of a record's opening packet.
func TestZeekTCPFlags(t *testing.T) {
	for history, want := range map[string]event.TCPFlags{
		"S": event.FlagSYN, "Sr": event.FlagSYN, "ShADadFf": event.FlagSYN, "ShR": event.FlagSYN,
		"^hADad": event.FlagACK, "H": event.FlagSYN | event.FlagACK, "DdA": event.FlagACK, "aD": event.FlagACK, "F": event.FlagFIN, "R": event.FlagRST, "Q": event.FlagSYN | event.FlagFIN,
		"-": 0,
	} {
		line := zeekRow("1763806502.118311", "198.51.100.7", "51514", "203.0.113.10", "7000", "tcp", "SF", history, "3", "180", "6")
		d := zeekConnTSVFormat.New(fixedOpts)
		var evs []event.Event
		var err error
		for _, l := range append(append([]string{}, zeekHeader...), line) {
			evs, err = d.Decode([]byte(l), event.Origin{Input: 1, Index: 1}, nil)
		}
		if err != nil || len(evs) != 1 {
			t.Fatalf("%q: %v", history, err)
		}
		if evs[0].TCPFlags != want {
			t.Errorf("history %q: flags %v, want %v", history, evs[0].TCPFlags, want)
		}
		if unknown := evs[0].Flags&event.FlagNoTCPFlags != 0; unknown != (history == "-") {
			t.Errorf("history %q: FlagNoTCPFlags %v", history, unknown)
		}
	}
}

func TestZeekAllocs(t *testing.T) {
	d := zeekConnTSVFormat.New(fixedOpts)
	for _, h := range zeekHeader {
		if _, err := d.Decode([]byte(h), event.Origin{Input: 1, Index: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	assertNoAllocs(t, d, zeekTSVBenchLines()...)
	assertNoAllocs(t, zeekConnJSONFormat.New(fixedOpts), zeekJSONBenchLines()...)
}

func zeekTSVBenchLines() []string {
	return []string{
		zeekRow("1763806502.118311", "198.51.100.7", "51514", "203.0.113.10", "7000", "tcp", "S0", "S", "1", "60", "6"),
		zeekRow("1763806502.402177", "198.51.100.7", "51515", "203.0.113.10", "8000", "tcp", "REJ", "Sr", "1", "60", "6"),
		zeekRow("1763806504.012907", "2001:db8::7", "51520", "2001:db8::10", "22", "tcp", "SF", "ShADadFf", "21", "3983", "6"),
	}
}

func zeekJSONBenchLines() []string {
	return []string{
		`{"ts":1763806502.118311,"uid":"CkF3bT2n9mY1Qx4Hd2","id.orig_h":"198.51.100.7","id.orig_p":51514,"id.resp_h":"203.0.113.10","id.resp_p":7000,"proto":"tcp","conn_state":"S0","local_orig":false,"local_resp":true,"missed_bytes":0,"history":"S","orig_pkts":1,"orig_ip_bytes":60,"resp_pkts":0,"resp_ip_bytes":0,"ip_proto":6}`,
		`{"ts":"2025-11-22T10:15:04.012907Z","uid":"CsT5mP1aZr8Kq2Lx44","id.orig_h":"2001:db8::7","id.orig_p":51520,"id.resp_h":"2001:db8::10","id.resp_p":22,"proto":"tcp","service":"ssh","duration":12.730551,"orig_bytes":2871,"resp_bytes":3924,"conn_state":"SF","local_orig":false,"local_resp":true,"missed_bytes":0,"history":"ShADadFf","orig_pkts":21,"orig_ip_bytes":3983,"resp_pkts":19,"resp_ip_bytes":4926,"ip_proto":6}`,
	}
}

func BenchmarkZeekConnTSV(b *testing.B) {
	d := zeekConnTSVFormat.New(fixedOpts)
	for _, h := range zeekHeader {
		d.Decode([]byte(h), event.Origin{Input: 1, Index: 1}, nil)
	}
	var lines [][]byte
	for _, l := range zeekTSVBenchLines() {
		lines = append(lines, []byte(l))
	}
	benchDecode(b, d, lines)
}

func BenchmarkZeekConnJSON(b *testing.B) {
	var lines [][]byte
	for _, l := range zeekJSONBenchLines() {
		lines = append(lines, []byte(l))
	}
	benchDecode(b, zeekConnJSONFormat.New(fixedOpts), lines)
}

// FuzzZeekConnTSV fuzzes whole files, so the header state is exercised.
func FuzzZeekConnTSV(f *testing.F) {
	addSeeds(f, "zeek-conn-tsv")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, zeekConnTSVFormat, data) })
}

func FuzzZeekConnJSON(f *testing.F) {
	addLineSeeds(f, "zeek-conn-json")
	for _, l := range zeekJSONBenchLines() {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, zeekConnJSONFormat, data) })
}
