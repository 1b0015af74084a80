package decode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
)

const journalNF = "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0 "

// journalEntry builds a kernel entry as journalctl -o json prints it, with
// extra fields appended.
func journalEntry(msgJSON string, extra ...string) string {
	fields := []string{
		`"__CURSOR":"s=f2184cd611704c398b558a4a3416ecfa;i=1;b=8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f;m=11f5fcb78;t=6442c3402eb0f;x=5af49ad56b577298"`,
		`"__REALTIME_TIMESTAMP":"1763806502118311"`, `"_BOOT_ID":"8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"`,
		`"_TRANSPORT":"kernel"`, `"SYSLOG_IDENTIFIER":"kernel"`, `"_HOSTNAME":"gw01"`, `"MESSAGE":` + msgJSON,
	}
	return "{" + strings.Join(append(fields, extra...), ",") + "}"
}

func byteArray(s string) string {
	parts := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		parts[i] = fmt.Sprint(s[i])
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestJournaldTable(t *testing.T) {
	knock := wantEvent{time: "2025-11-22T10:15:02.118311Z", src: "198.51.100.7", dst: "203.0.113.10", sport: 51514, dport: 7000, proto: event.ProtoTCP, action: event.ActionDenied, shape: event.ShapeOSStack}
	at := func(ts string) []wantEvent { w := knock; w.time = ts; return []wantEvent{w} }
	badSrc := strings.Replace(journalNF, "SRC=198.51.100.7", "SRC=198.51.100.777", 1)
	badLine := journalEntry(`"` + badSrc + `"`)
	badCol := strings.Index(badLine, "SRC=198.51.100.777") + 1
	cef := "CEF:0|Example Networks|EdgeFW|9.1.2|traffic-deny|Traffic denied|5|src=198.51.100.7 spt=51514 dst=203.0.113.10 dpt=7000 proto=TCP act=deny"
	cases := []lineCase{
		{name: "kernel line", line: journalEntry(`"` + journalNF + `"`), want: []wantEvent{knock}},
		{name: "printk time from the source monotonic clock", line: journalEntry(`"`+journalNF+`"`, `"__MONOTONIC_TIMESTAMP":"4821339000"`, `"_SOURCE_MONOTONIC_TIMESTAMP":"4821337104"`),
			want: at("2025-11-22T10:15:02.116415Z")},
		{name: "implausible monotonic gap ignored", line: journalEntry(`"`+journalNF+`"`, `"__MONOTONIC_TIMESTAMP":"9821339000"`, `"_SOURCE_MONOTONIC_TIMESTAMP":"4821337104"`),
			want: []wantEvent{knock}},
		{name: "sender's realtime", line: journalEntry(`"`+journalNF+`"`, `"_SOURCE_REALTIME_TIMESTAMP":"1763806502000001"`), want: at("2025-11-22T10:15:02.000001Z")},
		{name: "message as bytes", line: journalEntry(byteArray(strings.Replace(journalNF, "UFW BLOCK", "KNOCK\xb7DROP", 1))), want: []wantEvent{knock}},
		{name: "repeated message", line: journalEntry(`["` + journalNF + `","second"]`), want: []wantEvent{knock}},
		{name: "repeated binary message", line: journalEntry(`[` + byteArray(journalNF) + `,"second"]`), want: []wantEvent{knock}},
		{name: "escaped JSON", line: journalEntry(`"` + strings.Replace(journalNF, "UFW BLOCK", `UFW \"BLOCK\" \u0041`, 1) + `"`), want: []wantEvent{knock}},
		{name: "priority and facility", line: journalEntry(`"`+journalNF+`"`, `"PRIORITY":"4"`, `"SYSLOG_FACILITY":"0"`), want: []wantEvent{knock}},
		{name: "CEF over syslog", line: journalEntry(`"`+cef+`"`, `"SYSLOG_PID":"77"`, `"_PID":"77"`), want: func() []wantEvent { w := knock; w.shape = 0; return []wantEvent{w} }()},
		{name: "unrelated message", line: journalEntry(`"e1000e 0000:00:19.0 eth0: NIC Link is Up"`)},
		{name: "null message", line: journalEntry(`null`)},
		{name: "no message", line: `{"__REALTIME_TIMESTAMP":"1763806502118311","_TRANSPORT":"kernel"}`},

		{name: "not JSON", line: `{"MESSAGE":`, err: &wantErr{ReasonMalformed, "", 0}},
		{name: "not an object", line: `"MESSAGE"`, err: &wantErr{ReasonMalformed, "", 0}},
		{name: "no realtime", line: `{"MESSAGE":"` + journalNF + `"}`, err: &wantErr{ReasonMissingField, "__REALTIME_TIMESTAMP", 0}},
		{name: "bad realtime", line: strings.Replace(journalEntry(`"`+journalNF+`"`), "1763806502118311", "17638065021183119999", 1), err: &wantErr{ReasonBadTime, "__REALTIME_TIMESTAMP", 0}},
		{name: "number realtime", line: strings.Replace(journalEntry(`"`+journalNF+`"`), `"1763806502118311"`, `1763806502118311`, 1), err: &wantErr{ReasonBadField, "__REALTIME_TIMESTAMP", 0}},
		{name: "object hostname", line: strings.Replace(journalEntry(`"`+journalNF+`"`), `"gw01"`, `{"a":1}`, 1), err: &wantErr{ReasonBadField, "_HOSTNAME", 0}},
		{name: "byte over 255", line: journalEntry(`[73,78,256]`), err: &wantErr{ReasonBadField, "MESSAGE", 0}},
		{name: "empty array", line: journalEntry(`[]`), err: &wantErr{ReasonBadField, "MESSAGE", 0}},
		{name: "boolean message", line: journalEntry(`true`), err: &wantErr{ReasonBadField, "MESSAGE", 0}},
		{name: "bad packet text, located in the record", line: badLine, err: &wantErr{ReasonBadAddr, "SRC", badCol}},
		{name: "bad packet text behind an escape: no column", line: journalEntry(`"\u005b` + badSrc[1:] + `"`), err: &wantErr{ReasonBadAddr, "SRC", 0}},
	}
	runLineCases(t, func() Decoder { return journaldFormat.New(fixedOpts) }, nil, cases)
}

// TestJournaldSamples decodes journalctl's own output (see the README).
func TestJournaldSamples(t *testing.T) {
	denied, allowed := event.ActionDenied, event.ActionAllowed
	want := map[string][]wantEvent{
		"kernel.json": {
			{time: "2025-11-22T10:15:02.118311Z", src: "198.51.100.7", dst: "203.0.113.10", dport: 7000, proto: event.ProtoTCP, action: denied, shape: event.ShapeOSStack, index: 1},
			{time: "2025-11-22T10:15:02.402311Z", dport: 8000, action: denied, shape: event.ShapeOSStack},
			{time: "2025-11-22T10:15:02.68802Z", dport: 8284, proto: event.ProtoUDP, action: denied, shape: event.ShapeKnockUDP},
			{time: "2025-11-22T10:15:03.318311Z", dport: 9000, action: denied, shape: event.ShapeOSStack, index: 4},
		},
		"syslog.json": {
			{time: "2025-11-22T10:15:02.12Z", dport: 9000, action: denied, index: 3},
			{time: "2025-11-22T10:15:02.121311Z", dport: 22, action: allowed, index: 4},
		},
	}
	for _, p := range samplePaths(t, "journald") {
		name := p[len("testdata/journald/"):]
		evs, errs := decodeRecords(journaldFormat.New(fixedOpts), sampleRecords(t, p))
		for _, err := range errs {
			t.Errorf("%s: %v", name, err)
		}
		var attempts []event.Event
		for _, ev := range evs {
			if ev.Kind == event.KindAttempt {
				attempts = append(attempts, ev)
			}
		}
		w := want[name]
		if len(attempts) != len(w) {
			t.Errorf("%s: %d attempts, want %d", name, len(attempts), len(w))
			continue
		}
		for i := range w {
			matchEvent(t, name, attempts[i], w[i])
		}
	}
}

func TestJournaldAllocs(t *testing.T) {
	// The three string messages and the byte-array one.
	assertNoAllocs(t, journaldFormat.New(fixedOpts), journaldLines(t, 4)...)
}

// journaldLines returns the first n entries of kernel.json.
func journaldLines(t testing.TB, n int) []string {
	var out []string
	for _, r := range sampleRecords(t, "testdata/journald/kernel.json")[:n] {
		out = append(out, string(r.line))
	}
	return out
}

func BenchmarkJournald(b *testing.B) {
	var lines [][]byte
	for _, l := range journaldLines(b, 3) { // kernel lines, MESSAGE as a string
		lines = append(lines, []byte(l))
	}
	benchDecode(b, journaldFormat.New(fixedOpts), lines)
}

func FuzzJournald(f *testing.F) {
	addLineSeeds(f, "journald")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzStream(t, journaldFormat, data) })
}
