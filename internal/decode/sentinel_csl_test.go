package decode

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
)

const cslHeader = `TenantId,"TimeGenerated [UTC]",DeviceVendor,DeviceProduct,DeviceEventClassID,Activity,DeviceAction,EventOutcome,EventCount,DestinationPort,DestinationIP,Message,Protocol,ReceiptTime,SourceIP,SourcePort`

// cslRow builds a row for cslHeader.
func cslRow(tg, class, activity, action, outcome, count, dport, dip, msg, proto, rt, sip, sport string) string {
	return strings.Join([]string{"4b2f7c1e-93a5-4d0e-8f61-2c7a9e5b1d30", tg, `"Example Networks"`, "EdgeFW", class, activity, action, outcome, count, dport, dip, msg, proto, rt, sip, sport}, ",")
}

func TestSentinelCSLCSVTable(t *testing.T) {
	knock := wantEvent{time: "2025-11-22T10:15:02.118Z", src: "198.51.100.7", dst: "203.0.113.10", sport: 51514, dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, count: 1}
	with := func(f func(*wantEvent)) []wantEvent {
		w := knock
		f(&w)
		return []wantEvent{w}
	}
	row := func(mod func(c []string)) string {
		c := strings.Split(cslRow(`"11/22/2025, 10:15:03.531 AM"`, "traffic-deny", `"Traffic denied"`, "deny", "", "1", "7000", `"203.0.113.10"`, "", "TCP", "1763806502118", `"198.51.100.7"`, "51514"), ",")
		// c[1] and c[2] are the two halves of the quoted portal time.
		mod(c)
		return strings.Join(c, ",")
	}
	const (
		tg                                                                       = 1 // the portal time spans c[1] and c[2]
		cls, act, action, outcome, count, dport, dip, msg, proto, rt, sip, sport = 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
	)
	cases := []lineCase{
		{name: "ReceiptTime", line: row(func([]string) {}), want: []wantEvent{knock}},
		{name: "TimeGenerated when no ReceiptTime", line: row(func(c []string) { c[rt] = "" }),
			want: with(func(w *wantEvent) { w.time = "2025-11-22T10:15:03.531Z" })},
		{name: "PM", line: row(func(c []string) { c[rt], c[tg+1] = "", ` 1:05:03.531 PM"` }),
			want: with(func(w *wantEvent) { w.time = "2025-11-22T13:05:03.531Z" })},
		{name: "12 AM is midnight", line: row(func(c []string) { c[rt], c[tg+1] = "", ` 12:05:03 AM"` }),
			want: with(func(w *wantEvent) { w.time = "2025-11-22T00:05:03Z" })},
		{name: "ReceiptTime date form", line: row(func(c []string) { c[rt] = `"Nov 22 2025 10:15:02.118 UTC"` }), want: []wantEvent{knock}},
		{name: "quoted fields with commas and quotes", line: row(func(c []string) { c[msg] = `"a, ""quoted"" message, with commas"` }), want: []wantEvent{knock}},
		{name: "quoted port", line: row(func(c []string) { c[dport] = `"7000"` }), want: []wantEvent{knock}},
		{name: "outcome when no action", line: row(func(c []string) { c[action], c[outcome] = "", "Success" }),
			want: with(func(w *wantEvent) { w.action = event.ActionAllowed })},
		{name: "activity word", line: row(func(c []string) { c[action], c[act] = "", `"Connection REJECTED"` }), want: []wantEvent{knock}},
		{name: "class id word", line: row(func(c []string) { c[action], c[act], c[cls] = "", "x", "fw-accept" }),
			want: with(func(w *wantEvent) { w.action = event.ActionAllowed })},
		{name: "no verdict", line: row(func(c []string) { c[action], c[act], c[cls] = "alert", "x", "100" }),
			want: with(func(w *wantEvent) { w.action = event.ActionUnknown })},
		{name: "number protocol, count", line: row(func(c []string) { c[proto], c[count] = "17", "4" }),
			want: with(func(w *wantEvent) { w.proto, w.count = event.ProtoUDP, 4 })},
		{name: "ICMP without ports", line: row(func(c []string) { c[proto], c[dport], c[sport] = "ICMP", "", "" }),
			want: []wantEvent{{time: knock.time, proto: event.ProtoICMP, action: event.ActionDenied}}},
		{name: "no addresses: not traffic", line: row(func(c []string) { c[sip], c[dip] = "", "" })},
		{name: "no destination port: not a port attempt", line: row(func(c []string) { c[dport] = "" })},

		{name: "too few fields", line: row(func([]string) {})[:strings.LastIndexByte(row(func([]string) {}), ',')], err: &wantErr{ReasonTruncated, "", 0}},
		{name: "too many fields", line: row(func([]string) {}) + ",x", err: &wantErr{ReasonMalformed, "", 0}},
		{name: "text after closing quote", line: row(func(c []string) { c[msg] = `"a"b` }), err: &wantErr{ReasonMalformed, "", 153}},
		{name: "bad SourceIP", line: row(func(c []string) { c[sip] = "198.51.100.7.1" }), err: &wantErr{ReasonBadAddr, "SourceIP", 171}},
		{name: "bad DestinationIP", line: row(func(c []string) { c[dip] = `"2001:db8::g"` }), err: &wantErr{ReasonBadAddr, "DestinationIP", 138}},
		{name: "bad port", line: row(func(c []string) { c[sport] = "-1" }), err: &wantErr{ReasonBadPort, "SourcePort", 186}},
		{name: "bad protocol", line: row(func(c []string) { c[proto] = "TCPv4" }), err: &wantErr{ReasonBadProto, "Protocol", 153}},
		{name: "port without protocol", line: row(func(c []string) { c[proto] = "" }), err: &wantErr{ReasonMissingField, "Protocol", 0}},
		{name: "bad count", line: row(func(c []string) { c[count] = "1.5" }), err: &wantErr{ReasonBadField, "EventCount", 130}},
		{name: "bad ReceiptTime", line: row(func(c []string) { c[rt] = "soon" }), err: &wantErr{ReasonBadTime, "ReceiptTime", 157}},
		{name: "bad TimeGenerated", line: row(func(c []string) { c[rt], c[tg+1] = "", ` 25:00:00 AM"` }), err: &wantErr{ReasonBadTime, "TimeGenerated", 39}},
		{name: "no time", line: strings.Replace(row(func(c []string) { c[rt] = "" }), `"11/22/2025, 10:15:03.531 AM"`, "", 1),
			err: &wantErr{ReasonMissingField, "TimeGenerated", 0}},
	}
	runLineCases(t, func() Decoder { return sentinelCSLCSVFormat.New(fixedOpts) }, []string{"\ufeff" + cslHeader}, cases)
}

func TestSentinelCSLCSVRecords(t *testing.T) {
	row := cslRow(`"11/22/2025, 10:15:03.531 AM"`, "traffic-deny", `"Traffic denied"`, "deny", "", "1", "7000", `"203.0.113.10"`, "", "TCP", "1763806502118", `"198.51.100.7"`, "51514")
	split := strings.Replace(row, `"Traffic denied"`, "\"Traffic\n\ndenied\nover lines\"", 1)
	// A quote opened in the last field runs into the next row, whose first
	// quote closes it with text after it: a stray quote, not a field.
	stray := strings.TrimSuffix(row, "51514") + `"51514`
	// One opened and never closed in the lines after it.
	open := strings.TrimSuffix(row, "51514") + `"51514`
	plain := strings.NewReplacer(`"`, "", ", ", " ").Replace(row)
	var many []string
	for i := 0; i < cslMaxRecordLines+3; i++ {
		many = append(many, plain)
	}
	for _, c := range []struct {
		name   string
		text   string
		events []uint64 // origin line of each event
		errs   []wantErr
	}{
		{"header then rows", cslHeader + "\n" + row + "\n" + row, []uint64{2, 3}, nil},
		{"no header", row, nil, []wantErr{{ReasonBadHeader, "SourceIP", 0}}},
		{"header without addresses", "TimeGenerated,DeviceAction\n" + row, nil, []wantErr{{ReasonBadHeader, "SourceIP", 0}, {ReasonBadHeader, "SourceIP", 0}}},
		{"header without times", "SourceIP,DestinationIP,DeviceAction\n1,2,3", nil, []wantErr{{ReasonBadHeader, "TimeGenerated", 0}, {ReasonBadHeader, "SourceIP", 0}}},
		{"column twice", "SourceIP,SourceIP,DestinationIP,TimeGenerated", nil, []wantErr{{ReasonBadHeader, "SourceIP", 10}}},
		{"record over lines, with a blank line in it", cslHeader + "\n" + split + "\n" + row, []uint64{2, 6}, nil},
		{"stray quote closed by the next row's quote", cslHeader + "\n" + stray + "\n" + row + "\n" + row, []uint64{3, 4}, []wantErr{{ReasonMalformed, "", 0}}},
		{"stray quote never closed: bounded", cslHeader + "\n" + open + "\n" + strings.Join(many, "\n"), seq(3, uint64(len(many))+2), []wantErr{{ReasonMalformed, "", 0}}},
		{"second header re-reads columns", cslHeader + "\n" + row + "\nTimeGenerated,SourceIP,DestinationIP,DestinationPort,Protocol,DeviceAction\n2025-11-22T10:15:02Z,192.0.2.1,192.0.2.2,22,TCP,allow",
			[]uint64{2, 4}, nil},
	} {
		var recs []sampleRecord
		for i, l := range strings.Split(c.text, "\n") {
			if l != "" {
				recs = append(recs, sampleRecord{[]byte(l), uint64(i + 1)})
			}
		}
		evs, errs := decodeRecords(sentinelCSLCSVFormat.New(fixedOpts), recs)
		var lines []uint64
		for _, ev := range evs {
			lines = append(lines, ev.Origin.Index)
		}
		if fmt.Sprint(lines) != fmt.Sprint(c.events) {
			t.Errorf("%s: events from lines %v, want %v", c.name, lines, c.events)
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

func seq(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

const cslJSONRow = `{"TenantId":"4b2f7c1e-93a5-4d0e-8f61-2c7a9e5b1d30","TimeGenerated":"2025-11-22T10:15:03.5318203Z","DeviceVendor":"Example Networks","DeviceProduct":"EdgeFW","DeviceEventClassID":"traffic-deny","Activity":"Traffic denied","DeviceAction":"deny","EventCount":1,"DestinationPort":7000,"DestinationIP":"203.0.113.10","Message":"","Protocol":"TCP","ReceiptTime":"1763806502118","SourceIP":"198.51.100.7","SourcePort":51514,"StartTime":null}`

func TestSentinelCSLJSONTable(t *testing.T) {
	knock := wantEvent{time: "2025-11-22T10:15:02.118Z", src: "198.51.100.7", dst: "203.0.113.10", sport: 51514, dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, count: 1}
	sub := func(old, new string) string { return strings.Replace(cslJSONRow, old, new, 1) }
	two := []wantEvent{knock, knock}
	cases := []lineCase{
		{name: "row", line: cslJSONRow, want: []wantEvent{knock}},
		{name: "TimeGenerated", line: sub(`"1763806502118"`, `""`), want: func() []wantEvent { w := knock; w.time = "2025-11-22T10:15:03.5318203Z"; return []wantEvent{w} }()},
		{name: "strings for numbers", line: sub(`7000`, `"7000"`), want: []wantEvent{knock}},
		{name: "array on one line", line: "[" + cslJSONRow + "," + cslJSONRow + "]", want: two},
		{name: "objects and commas", line: cslJSONRow + ", " + cslJSONRow + ",", want: two},
		{name: "array punctuation alone", line: "],["},
		{name: "braces inside strings", line: sub(`"Message":""`, `"Message":"{[\"}\\"`), want: []wantEvent{knock}},
		{name: "not traffic", line: sub(`"SourceIP":"198.51.100.7"`, `"SourceIP":null`)},

		{name: "text outside objects", line: "hello", err: &wantErr{ReasonMalformed, "", 1}},
		{name: "bad object, next one kept", line: `{"SourceIP":}` + cslJSONRow, want: []wantEvent{knock}, err: &wantErr{ReasonMalformed, "", 0}},
		{name: "bad port", line: sub(`7000`, `70000`), err: &wantErr{ReasonBadPort, "DestinationPort", 0}},
		{name: "bool address", line: sub(`"198.51.100.7"`, `true`), err: &wantErr{ReasonBadField, "SourceIP", 0}},
		{name: "bad TimeGenerated", line: strings.Replace(sub(`"1763806502118"`, `""`), "2025-11-22T10:15:03.5318203Z", "22/11/2025 10:15", 1),
			err: &wantErr{ReasonBadTime, "TimeGenerated", 0}},
	}
	for _, c := range cases {
		if c.err != nil && c.want != nil {
			// A line holding a good and a bad object: both outcomes.
			d := sentinelCSLJSONFormat.New(fixedOpts)
			origin := event.Origin{Input: 1, Index: 1}
			evs, err := d.Decode([]byte(c.line), origin, nil)
			checkDecoded(t, []byte(c.line), origin, evs, err)
			matchErr(t, c.name, err, *c.err)
			if len(evs) != len(c.want) {
				t.Errorf("%s: %d events, want %d", c.name, len(evs), len(c.want))
			}
			continue
		}
		runLineCases(t, func() Decoder { return sentinelCSLJSONFormat.New(fixedOpts) }, nil, []lineCase{c})
	}
}

func TestSentinelCSLJSONLayouts(t *testing.T) {
	pretty := "[\n  {\n" + strings.ReplaceAll(strings.ReplaceAll(cslJSONRow[1:len(cslJSONRow)-1], `,"`, ",\n    \""), `":`, `": `) + "\n  },\n  {\n    \"SourceIP\": \"192.0.2.1\",\n    \"nested\": {\"a\": [1, {\"b\": \"}\"}]},\n    \"DestinationIP\": \"192.0.2.2\", \"DestinationPort\": 22, \"Protocol\": \"TCP\", \"TimeGenerated\": \"2025-11-22T10:15:05Z\"\n  }\n]"
	var huge strings.Builder
	huge.WriteString("{\n")
	for i := 0; i < cslMaxObjectLines+1; i++ {
		huge.WriteString(`"k":1,` + "\n")
	}
	for _, c := range []struct {
		name   string
		text   string
		events []uint64
		errs   int
	}{
		{"pretty-printed array", pretty, []uint64{2, 20}, 0},
		{"pretty object broken inside, then good rows", "{\n\"SourceIP\": \"x\",\n\"a\": }\n" + cslJSONRow, []uint64{4}, 1},
		{"one-line object cut short, then good rows", cslJSONRow[:100] + "\n" + cslJSONRow + "\n" + cslJSONRow, []uint64{2, 3}, 1},
		{"an object too long to be a row", huge.String() + "}\n" + cslJSONRow, []uint64{cslMaxObjectLines + 4}, 1},
	} {
		var recs []sampleRecord
		for i, l := range strings.Split(c.text, "\n") {
			recs = append(recs, sampleRecord{[]byte(l), uint64(i + 1)})
		}
		evs, errs := decodeRecords(sentinelCSLJSONFormat.New(fixedOpts), recs)
		var lines []uint64
		for _, ev := range evs {
			lines = append(lines, ev.Origin.Index)
		}
		if fmt.Sprint(lines) != fmt.Sprint(c.events) || len(errs) != c.errs {
			t.Errorf("%s: events from lines %v, errors %v; want %v and %d errors", c.name, lines, errs, c.events, c.errs)
		}
	}
}

func TestSentinelCSLSamples(t *testing.T) {
	denied, allowed, unknown := event.ActionDenied, event.ActionAllowed, event.ActionUnknown
	knock := []wantEvent{
		{time: "2025-11-22T10:15:02.118Z", src: "198.51.100.7", dst: "203.0.113.10", dport: 7000, proto: event.ProtoTCP, action: denied, count: 1},
		{time: "2025-11-22T10:15:02.402Z", dport: 8000, action: denied},
		{time: "2025-11-22T10:15:02.688Z", dport: 8284, proto: event.ProtoUDP, action: denied},
	}
	want := map[string][]wantEvent{
		"sentinel-csl-csv/portal.csv": append(knock[:3:3],
			wantEvent{time: "2025-11-22T10:15:05.004Z", dport: 22, action: allowed, index: 5},
			wantEvent{time: "2025-11-22T12:00:01.25Z", dport: 9000, proto: event.ProtoTCP, action: denied, count: 3, index: 8}),
		"sentinel-csl-csv/kql.csv": {
			{time: "2025-11-22T10:15:02.118Z", dport: 7000, action: denied},
			{time: "2025-11-22T10:15:03.5318207Z", src: "2001:db8::7", dport: 8000, action: denied},
			{time: "2025-11-22T10:15:05.0041Z", proto: event.ProtoICMP, action: unknown},
			{time: "2025-11-22T10:15:06Z", dport: 22, action: allowed, index: 6},
		},
		"sentinel-csl-json/rows.jsonl":  append(knock[:3:3], wantEvent{time: "2025-11-22T10:15:05.0041Z", dport: 22, action: allowed}),
		"sentinel-csl-json/az-cli.json": {{time: knock[0].time, dport: 7000, action: denied, index: 2}, {time: knock[1].time, dport: 8000, action: denied, index: 27}},
		"sentinel-csl-json/array.json":  append(knock[:3:3], wantEvent{dport: 22, action: allowed, index: 4}),
	}
	for _, f := range []Format{sentinelCSLCSVFormat, sentinelCSLJSONFormat} {
		for _, p := range samplePaths(t, f.Name) {
			name := p[len("testdata/"):]
			evs, errs := decodeRecords(f.New(fixedOpts), sampleRecords(t, p))
			assertFlagsUnknown(t, "samples", evs)
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

func TestSentinelCSLAllocs(t *testing.T) {
	d := sentinelCSLCSVFormat.New(fixedOpts)
	recs := sampleRecords(t, "testdata/sentinel-csl-csv/portal.csv")
	if _, err := d.Decode(recs[0].line, event.Origin{Input: 1, Index: 1}, nil); err != nil {
		t.Fatal(err)
	}
	assertNoAllocs(t, d, string(recs[1].line), string(recs[2].line))
	assertNoAllocs(t, sentinelCSLJSONFormat.New(fixedOpts), cslJSONRow)
}

func BenchmarkSentinelCSLCSV(b *testing.B) {
	recs := sampleRecords(b, "testdata/sentinel-csl-csv/portal.csv")
	d := sentinelCSLCSVFormat.New(fixedOpts)
	d.Decode(recs[0].line, event.Origin{Input: 1, Index: 1}, nil)
	benchDecode(b, d, [][]byte{recs[1].line, recs[2].line, recs[3].line})
}

// BenchmarkSentinelCSLCSVEncodingCSV measures the alternative the decoder
// does not use: encoding/csv over one row at a time (records are lines
// here, and a row may continue on the next), reusing its record.
func BenchmarkSentinelCSLCSVEncodingCSV(b *testing.B) {
	recs := sampleRecords(b, "testdata/sentinel-csl-csv/portal.csv")
	lines := [][]byte{recs[1].line, recs[2].line, recs[3].line}
	var br bytes.Reader
	b.ReportAllocs()
	b.SetBytes(int64(len(lines[0]) + 1))
	i := 0
	for b.Loop() {
		br.Reset(lines[i%len(lines)])
		r := csv.NewReader(&br)
		r.ReuseRecord = true
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSentinelCSLJSON(b *testing.B) {
	var lines [][]byte
	for _, r := range sampleRecords(b, "testdata/sentinel-csl-json/rows.jsonl") {
		lines = append(lines, r.line)
	}
	benchDecode(b, sentinelCSLJSONFormat.New(fixedOpts), lines)
}

func FuzzSentinelCSLCSV(f *testing.F) {
	addSeeds(f, "sentinel-csl-csv")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, sentinelCSLCSVFormat, data) })
}

func FuzzSentinelCSLJSON(f *testing.F) {
	addSeeds(f, "sentinel-csl-json")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, sentinelCSLJSONFormat, data) })
}
