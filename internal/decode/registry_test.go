package decode

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// TestRegistryComplete holds every registered format to the package's
// checklist (decode.go): a testdata/<name>/ folder with a README.md and at
// least one sample, a fuzz target and a benchmark named after the format.
func TestRegistryComplete(t *testing.T) {
	funcs := testFuncNames(t)
	seen := map[string]bool{}
	for _, f := range Formats() {
		if seen[f.Name] {
			t.Errorf("format %q registered twice", f.Name)
		}
		seen[f.Name] = true
		if f.Sniff == nil || f.New == nil || f.Summary == "" {
			t.Errorf("format %q lacks Sniff, New or Summary", f.Name)
		}
		dir := filepath.Join("testdata", f.Name)
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Errorf("format %q: no %s/README.md saying how its samples were made", f.Name, dir)
		}
		if len(samplePaths(t, f.Name)) == 0 {
			t.Errorf("format %q: no sample in %s", f.Name, dir)
		}
		key := strings.ToLower(strings.ReplaceAll(f.Name, "-", ""))
		for _, kind := range []string{"Fuzz", "Benchmark"} {
			if !hasFuncPrefix(funcs, kind, key) {
				t.Errorf("format %q: no %s%s… in the package's tests", f.Name, kind, testFuncStem(f.Name))
			}
		}
	}
}

// testFuncNames lists the top-level functions of the package's _test.go
// files.
func testFuncNames(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, p := range paths {
		file, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil {
				names = append(names, fn.Name.Name)
			}
		}
	}
	return names
}

func hasFuncPrefix(names []string, kind, key string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, kind) && strings.HasPrefix(strings.ToLower(n[len(kind):]), key) {
			return true
		}
	}
	return false
}

// testFuncStem suggests the function name for a format: "zeek-conn-tsv"
// gives "ZeekConnTsv" (any case is accepted).
func testFuncStem(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// TestSniff sniffs every sample of every registered format (the first 32
// non-empty lines, as the opener samples them) and expects its own format;
// then lines built to confuse: another format's text quoted inside a record.
func TestSniff(t *testing.T) {
	for _, f := range Formats() {
		for _, p := range samplePaths(t, f.Name) {
			if strings.HasPrefix(filepath.Base(p), "bad") {
				continue // damaged lines on purpose
			}
			got, ok := Sniff(headLines(t, p, 32))
			if !ok || got.Name != f.Name {
				t.Errorf("%s: sniffed as %q (%v), want %q", p, got.Name, ok, f.Name)
			}
		}
	}
	nf := "Nov 22 10:15:02 gw01 kernel: [ 4821.337104] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0"
	cefNF := "<134>Nov 22 10:15:02 fw01 CEF:0|Example Networks|EdgeFW|9.1.2|traffic-deny|Traffic denied|5|src=198.51.100.7 dst=203.0.113.10 dpt=7000 proto=TCP act=deny msg=IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 PROTO=TCP"
	csvHeader := "TimeGenerated,DeviceVendor,DeviceProduct,DeviceAction,SourceIP,SourcePort,DestinationIP,DestinationPort,Protocol,Message"
	csvRow := `2025-11-22T10:15:03Z,Example Networks,EdgeFW,deny,198.51.100.7,51514,203.0.113.10,7000,TCP,"` + strings.ReplaceAll(nf, `"`, `""`) + `"`
	for _, c := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"netfilter is not CEF", []string{nf, nf}, "syslog"},
		{"CEF quoting netfilter text", []string{cefNF, cefNF}, "cef"},
		{"CEF after other programs' lines", []string{"Nov 22 10:15:01 fw01 sshd[811]: Connection closed", cefNF}, "cef"},
		{"bare CEF", []string{"CEF:0|a|b|1|2|n|5|src=192.0.2.1 dst=192.0.2.2 dpt=1 proto=TCP"}, "cef"},
		{"CSV rows quoting netfilter text", append([]string{csvHeader}, repeat(csvRow, 31)...), "sentinel-csl-csv"},
		{"CSV rows quoting CEF", append([]string{csvHeader}, repeat(strings.ReplaceAll(csvRow, "IN=eth0", "CEF:0|x|y|1|2|n|5|"), 31)...), "sentinel-csl-csv"},
		{"journald entry of a CEF message", []string{`{"__REALTIME_TIMESTAMP":"1763806502118311","MESSAGE":"CEF:0|a|b|1|2|n|5|src=192.0.2.1 dst=192.0.2.2 dpt=1 proto=TCP"}`}, "journald"},
		{"journald entry of netfilter text", []string{`{"MESSAGE":"` + nf + `","__REALTIME_TIMESTAMP":"1763806502118311"}`}, "journald"},
		{"Zeek JSON", []string{`{"ts":1.5,"id.orig_h":"192.0.2.1","id.resp_h":"192.0.2.2","conn_state":"S0"}`}, "zeek-conn-json"},
		{"VPC flow records without header", []string{"2 123456789012 eni-0a1b2c3d4e5f67890 198.51.100.7 10.0.1.25 51514 7000 6 1 60 1763806500 1763806560 REJECT OK"}, "vpcflow"},
	} {
		var lines [][]byte
		for _, l := range c.lines {
			lines = append(lines, []byte(l))
		}
		got, ok := Sniff(lines)
		if !ok || got.Name != c.want {
			t.Errorf("%s: sniffed as %q (%v), want %q", c.name, got.Name, ok, c.want)
		}
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// samplePaths lists the samples of a format: the files of testdata/<name>/
// other than its README and the scripts and inputs that made them.
func samplePaths(t testing.TB, format string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", format))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".md", ".py", ".sh", ".export":
			continue
		}
		if !e.IsDir() {
			out = append(out, filepath.Join("testdata", format, e.Name()))
		}
	}
	return out
}

// sampleRecord is a line as the text reader hands it to a decoder: without
// its line ending, with its 1-based line number; blank lines are skipped.
type sampleRecord struct {
	line  []byte
	index uint64
}

func recordsOf(data []byte) []sampleRecord {
	var out []sampleRecord
	for i, l := range bytes.Split(data, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) > 0 {
			out = append(out, sampleRecord{l, uint64(i + 1)})
		}
	}
	return out
}

func sampleRecords(t testing.TB, path string) []sampleRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return recordsOf(data)
}

func headLines(t testing.TB, path string, n int) [][]byte {
	var out [][]byte
	for _, r := range sampleRecords(t, path) {
		if len(out) == n {
			break
		}
		if len(bytes.TrimSpace(r.line)) > 0 {
			out = append(out, r.line)
		}
	}
	return out
}

// fixedOpts are decoder options with the year and zone pinned, so expected
// times do not depend on the machine.
var fixedOpts = Options{Year: 2025, Location: time.UTC, Reference: time.Date(2025, 11, 23, 0, 0, 0, 0, time.UTC)}

// decodeRecords runs one decoder over records in order, as a stream does,
// and returns the events and the errors (with their line numbers).
func decodeRecords(d Decoder, recs []sampleRecord) ([]event.Event, []error) {
	var evs []event.Event
	var errs []error
	for _, r := range recs {
		var err error
		evs, err = d.Decode(r.line, event.Origin{Input: 1, Index: r.index}, evs)
		if err != nil {
			var de *Error
			if errors.As(err, &de) {
				de.Index = r.index
			}
			errs = append(errs, err)
		}
	}
	if f, ok := d.(Flusher); ok {
		evs = f.Flush(evs)
	}
	return evs, errs
}

// maxEventTime is the latest time a decoder may produce.
const maxEventTime = int64(maxEpochSec) * int64(time.Second)

// checkDecoded asserts what any decoder owes any input: an error is a
// *Error with a reason and a column within the record; an event is a
// well-formed attempt (valid, unmapped addresses, a protocol, no ports on
// ICMP, a time between 1970 and 2200, known enums) from this input, at or
// before this record.
func checkDecoded(t *testing.T, rec []byte, origin event.Origin, evs []event.Event, err error) {
	t.Helper()
	if err != nil {
		var de *Error
		if !errors.As(err, &de) {
			t.Fatalf("error is not a *decode.Error: %#v", err)
		}
		if de.Reason == 0 || de.Reason >= reasonCount {
			t.Fatalf("error without a valid reason: %v", err)
		}
		if de.Column < 0 || de.Column > len(rec)+1 {
			t.Fatalf("error column %d outside the %d-byte record: %v", de.Column, len(rec), err)
		}
	}
	for i := range evs {
		ev := &evs[i]
		if ev.Origin.Input != origin.Input || ev.Origin.Index == 0 || ev.Origin.Index > origin.Index {
			t.Fatalf("event %d has origin %+v, record is %+v", i, ev.Origin, origin)
		}
		if ev.Time < 0 || ev.Time >= maxEventTime {
			t.Fatalf("event %d time %d outside 1970..2200: %+v", i, ev.Time, ev)
		}
		switch ev.Kind {
		case event.KindAttempt:
		case event.KindDaemon:
			if ev.Daemon == nil {
				t.Fatalf("daemon event %d without its record", i)
			}
			continue
		case event.KindProcess:
			if ev.Process == nil || ev.Process.Operation == "" {
				t.Fatalf("process event %d without its record or operation", i)
			}
			continue
		default:
			t.Fatalf("event %d of kind %v", i, ev.Kind)
		}
		if !ev.Src.IsValid() || !ev.Dst.IsValid() || ev.Src.Is4In6() || ev.Dst.Is4In6() {
			t.Fatalf("event %d with an invalid or mapped address: %+v", i, ev)
		}
		if ev.Proto == 0 {
			t.Fatalf("event %d without a protocol: %+v", i, ev)
		}
		if (ev.Proto == event.ProtoICMP || ev.Proto == event.ProtoICMPv6) && (ev.SrcPort != 0 || ev.DstPort != 0) {
			t.Fatalf("ICMP event %d with ports: %+v", i, ev)
		}
		if ev.Flags&event.FlagNoTCPFlags != 0 && (ev.Proto != event.ProtoTCP || ev.TCPFlags != 0) {
			t.Fatalf("event %d says its TCP flags are unknown, yet: %+v", i, ev)
		}
		if ev.Action > event.ActionAllowed || ev.Shape > event.ShapeKnockUDP {
			t.Fatalf("event %d with an unknown action or shape: %+v", i, ev)
		}
	}
}

// fuzzStream feeds a fuzz input to a fresh decoder as a stream of lines and
// checks every result. Stateful formats (headers, records over several
// lines) are fuzzed as whole files this way; line formats see one line.
func fuzzStream(t *testing.T, f Format, data []byte) {
	if len(data) > 64<<10 {
		return
	}
	d := f.New(fixedOpts)
	var evs []event.Event
	for _, r := range recordsOf(data) {
		origin := event.Origin{Input: 1, Index: r.index}
		n := len(evs)
		var err error
		evs, err = d.Decode(r.line, origin, evs)
		if len(evs) < n {
			t.Fatalf("line %d: Decode dropped events it was given", r.index)
		}
		checkDecoded(t, r.line, origin, evs[n:], err)
	}
}

// addLineSeeds adds every line of every sample of a line format to a fuzz
// corpus. Lines rather than whole files keep the inputs small, which the
// fuzzer's minimization of new inputs needs (on a 5 KB input it stalls for
// minutes).
func addLineSeeds(f *testing.F, format string) {
	for _, p := range samplePaths(f, format) {
		for _, r := range sampleRecords(f, p) {
			f.Add(r.line)
		}
	}
}

// addSeeds adds every sample of a format to a fuzz corpus, whole: for
// formats whose lines depend on earlier ones (a header, a record over
// several lines).
func addSeeds(f *testing.F, format string) {
	for _, p := range samplePaths(f, format) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// wantEvent is what a table test expects of an attempt. Zero fields are not
// checked, except where noted.
type wantEvent struct {
	time     string // RFC 3339 with fraction, UTC
	src, dst string
	sport    uint16
	dport    uint16 // checked always
	proto    event.Proto
	action   event.Action // checked always
	count    uint32
	shape    event.Shape // checked always
	icmp     [2]uint8    // type, code; checked for ICMP
	index    uint64
	flags    event.Flags // checked always
}

func matchEvent(t *testing.T, where string, got event.Event, want wantEvent) {
	t.Helper()
	if want.time != "" {
		wt, err := time.Parse(time.RFC3339Nano, want.time)
		if err != nil {
			t.Fatalf("%s: bad want time %q", where, want.time)
		}
		if got.Time != wt.UnixNano() {
			t.Errorf("%s: time %s, want %s", where, time.Unix(0, got.Time).UTC().Format(time.RFC3339Nano), want.time)
		}
	}
	if want.src != "" && got.Src != netip.MustParseAddr(want.src) {
		t.Errorf("%s: src %v, want %s", where, got.Src, want.src)
	}
	if want.dst != "" && got.Dst != netip.MustParseAddr(want.dst) {
		t.Errorf("%s: dst %v, want %s", where, got.Dst, want.dst)
	}
	if want.sport != 0 && got.SrcPort != want.sport {
		t.Errorf("%s: src port %d, want %d", where, got.SrcPort, want.sport)
	}
	if got.DstPort != want.dport {
		t.Errorf("%s: dst port %d, want %d", where, got.DstPort, want.dport)
	}
	if want.proto != 0 && got.Proto != want.proto {
		t.Errorf("%s: proto %v, want %v", where, got.Proto, want.proto)
	}
	if got.Action != want.action {
		t.Errorf("%s: action %v, want %v", where, got.Action, want.action)
	}
	if want.count != 0 && got.Count != want.count {
		t.Errorf("%s: count %d, want %d", where, got.Count, want.count)
	}
	if got.Shape != want.shape {
		t.Errorf("%s: shape %v, want %v", where, got.Shape, want.shape)
	}
	if got.Proto == event.ProtoICMP || got.Proto == event.ProtoICMPv6 {
		if got.ICMPType != want.icmp[0] || got.ICMPCode != want.icmp[1] {
			t.Errorf("%s: ICMP %d/%d, want %d/%d", where, got.ICMPType, got.ICMPCode, want.icmp[0], want.icmp[1])
		}
	}
	if want.index != 0 && got.Origin.Index != want.index {
		t.Errorf("%s: origin line %d, want %d", where, got.Origin.Index, want.index)
	}
	// FlagNoTCPFlags is checked by assertFlagsUnknown.
	if got.Flags&^event.FlagNoTCPFlags != want.flags {
		t.Errorf("%s: flags %b, want %b", where, got.Flags, want.flags)
	}
	if got.Kind != event.KindAttempt {
		t.Errorf("%s: kind %v, want attempt", where, got.Kind)
	}
}

// assertFlagsUnknown checks that the TCP events of a format that shows no
// TCP flags say so, so that detectors do not take them for NULL probes.
func assertFlagsUnknown(t *testing.T, where string, evs []event.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Proto == event.ProtoTCP && ev.Flags&event.FlagNoTCPFlags == 0 {
			t.Errorf("%s: TCP event %d without FlagNoTCPFlags: %+v", where, i, ev)
		}
	}
}

// wantErr is the error a table test expects: its reason, field and column
// (0: no column).
type wantErr struct {
	reason Reason
	field  string
	column int
}

func matchErr(t *testing.T, where string, err error, want wantErr) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) {
		t.Errorf("%s: error %v, want %s %q at column %d", where, err, want.reason, want.field, want.column)
		return
	}
	if de.Reason != want.reason || de.Field != want.field || de.Column != want.column {
		t.Errorf("%s: got %s %q at column %d (%v), want %s %q at column %d", where, de.Reason, de.Field, de.Column, de, want.reason, want.field, want.column)
	}
}

// lineCase is one row of a table test over single lines: the events it
// yields, or its error.
type lineCase struct {
	name string
	line string
	want []wantEvent
	err  *wantErr
}

// runLineCases decodes each case with a decoder from newDec (a fresh one per
// case, after feeding it prefix lines, such as a header) and checks the
// outcome.
func runLineCases(t *testing.T, newDec func() Decoder, prefix []string, cases []lineCase) {
	t.Helper()
	for _, c := range cases {
		d := newDec()
		for i, p := range prefix {
			if _, err := d.Decode([]byte(p), event.Origin{Input: 1, Index: uint64(i + 1)}, nil); err != nil {
				t.Fatalf("%s: prefix line %d: %v", c.name, i+1, err)
			}
		}
		origin := event.Origin{Input: 1, Index: uint64(len(prefix) + 1)}
		evs, err := d.Decode([]byte(c.line), origin, nil)
		checkDecoded(t, []byte(c.line), origin, evs, err)
		if c.err != nil {
			matchErr(t, c.name, err, *c.err)
			if len(evs) != 0 {
				t.Errorf("%s: bad line yielded %d events", c.name, len(evs))
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: unexpected error %v", c.name, err)
			continue
		}
		if len(evs) != len(c.want) {
			t.Errorf("%s: %d events, want %d: %+v", c.name, len(evs), len(c.want), evs)
			continue
		}
		for i, w := range c.want {
			matchEvent(t, c.name, evs[i], w)
		}
	}
}

// assertNoAllocs checks that decoding each line again allocates nothing
// once the decoder is warm.
func assertNoAllocs(t *testing.T, d Decoder, lines ...string) {
	t.Helper()
	dst := make([]event.Event, 0, 16)
	for _, l := range lines {
		line := []byte(l)
		var err error
		if dst, err = d.Decode(line, event.Origin{Input: 1, Index: 2}, dst[:0]); err != nil || len(dst) == 0 {
			t.Fatalf("warm-up of %q: %d events, %v", l, len(dst), err)
		}
		n := testing.AllocsPerRun(200, func() {
			dst, _ = d.Decode(line, event.Origin{Input: 1, Index: 2}, dst[:0])
		})
		if n != 0 {
			t.Errorf("Decode allocates %.1f times per record, want 0: %q", n, l)
		}
	}
}

// benchDecode measures a decoder over records, cycling through them.
func benchDecode(b *testing.B, d Decoder, lines [][]byte) {
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	dst := make([]event.Event, 0, 16)
	b.ReportAllocs()
	b.SetBytes(int64(size / len(lines)))
	i := 0
	for b.Loop() {
		dst, _ = d.Decode(lines[i%len(lines)], event.Origin{Input: 1, Index: 1}, dst[:0])
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "records/s")
}

// TestJunkBetweenRecords interleaves the samples of each format with the
// damage files suffer (a 1 MB line, binary bytes, a record cut in half, an
// empty JSON object, a lone quote): every good record still yields its
// events, no event comes from a junk line, and junk is reported (formats
// carried by syslog excepted: there, text that is not a record is another
// program's line and is skipped).
func TestJunkBetweenRecords(t *testing.T) {
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(255 - i%128) // no NUL or newline: those never reach a decoder
	}
	for _, name := range []string{"cef", "journald", "zeek-conn-tsv", "zeek-conn-json", "vpcflow", "sentinel-csl-csv", "sentinel-csl-json"} {
		f, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range samplePaths(t, name) {
			if strings.HasSuffix(p, "portal.csv") || strings.HasSuffix(p, "az-cli.json") {
				continue // records span lines: no line boundary to put junk at
			}
			recs := sampleRecords(t, p)
			clean, errs := decodeRecords(f.New(fixedOpts), recs)
			if len(errs) > 0 {
				t.Fatalf("%s: %v", p, errs)
			}
			good := map[uint64]bool{}
			var mixed []sampleRecord
			junkIndex := uint64(1 << 20)
			for _, r := range recs {
				good[r.index] = true
				mixed = append(mixed, r)
				if r.line[0] == '#' {
					continue // Zeek header lines come as a block
				}
				junk := [][]byte{bytes.Repeat([]byte("A"), 1<<20), bin, []byte("{}"), []byte(`"`)}
				if r.line[0] != '[' { // half an array line may hold whole records
					junk = append(junk, r.line[:len(r.line)/2])
				}
				for _, j := range junk {
					junkIndex++
					mixed = append(mixed, sampleRecord{j, junkIndex})
				}
			}
			d := f.New(fixedOpts)
			var evs []event.Event
			junkErrs := 0
			for _, r := range mixed {
				origin := event.Origin{Input: 1, Index: r.index}
				n := len(evs)
				evs, err = d.Decode(r.line, origin, evs)
				if err != nil {
					if good[r.index] && name != "sentinel-csl-csv" { // CSV: a lone quote may pull good rows into its error
						t.Errorf("%s:%d: good record failed after junk: %v", p, r.index, err)
					}
					junkErrs++
				}
				for _, ev := range evs[n:] {
					if !good[ev.Origin.Index] {
						t.Errorf("%s: event from junk line %d: %+v", p, ev.Origin.Index, ev)
					}
				}
			}
			if len(evs) != len(clean) {
				t.Errorf("%s: %d events with junk between the records, %d without", p, len(evs), len(clean))
			}
			if junkErrs == 0 && name != "cef" {
				t.Errorf("%s: no junk line was reported", p)
			}
		}
	}
}
