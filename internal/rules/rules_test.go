package rules_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/rules"
	embedded "github.com/knockwatch/knockwatch/rules"
)

func TestBuiltin(t *testing.T) {
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bpfdoor-udp", "bpfdoor-tcp", "bpfdoor-icmp", "reptile-tcp", "reptile-icmp", "reptile-udp",
		"cd00r-sequence", "synful-knock-trigger", "synful-knock-reply", "prism-icmp", "icmp-token-knock",
		"icmpv6-token-knock", "wake-on-lan"}
	if len(rs.Rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rs.Rules), len(want))
	}
	for i, r := range rs.Rules {
		if r.Name != want[i] {
			t.Errorf("rule %d is %s, want %s", i, r.Name, want[i])
		}
		if r.Source == "" || len(r.References) == 0 || r.Line == 0 || r.File != embedded.MagicName {
			t.Errorf("rule %s lacks provenance: %+v", r.Name, r)
		}
		if !strings.HasPrefix(r.Technique, "T1205") {
			t.Errorf("rule %s: technique %s", r.Name, r.Technique)
		}
	}
	if len(rs.Sequences()) != 1 || len(rs.ForProto(event.ProtoUDP)) != 3 {
		t.Errorf("index: %d sequences, %d udp rules", len(rs.Sequences()), len(rs.ForProto(event.ProtoUDP)))
	}
}

const good = `version: 1
rules:
  - name: lab-knock
    summary: lab knock word
    technique: T1205.001
    severity: low
    confidence: 0.5
    source: lab
    match:
      proto: udp
      payload:
        - {bytes: "6b 6e"}
`

// TestParseErrors: each bad file is rejected with the rule, its line and
// the field at fault.
func TestParseErrors(t *testing.T) {
	rule := func(match string) string {
		return "version: 1\nrules:\n  - name: bad-rule\n    summary: s\n    technique: T1205.001\n    severity: high\n    confidence: 0.5\n    source: src\n    match:\n" + match
	}
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"empty", "", []string{"empty file"}},
		{"version", "version: 2\nrules: []\n", []string{"version: 2: want 1"}},
		{"unknown top key", "version: 1\nrulez: []\n", []string{"rulez"}},
		{"unknown rule key", strings.Replace(good, "    source: lab\n", "    source: lab\n    sevrity: high\n", 1), []string{`rule[0]`, "line 3", "sevrity"}},
		{"bad name", strings.Replace(good, "lab-knock", "Lab Knock", 1), []string{"name:", `"Lab Knock"`}},
		{"duplicate name", good + strings.SplitN(good, "rules:\n", 2)[1], []string{`rule[1] "lab-knock"`, "already defined at line 3"}},
		{"technique", strings.Replace(good, "T1205.001", "T1059", 1), []string{`"lab-knock"`, "technique", "T1059"}},
		{"severity", strings.Replace(good, "severity: low", "severity: urgent", 1), []string{"severity", "urgent"}},
		{"confidence", strings.Replace(good, "confidence: 0.5", "confidence: 1.5", 1), []string{"confidence: 1.5"}},
		{"no source", strings.Replace(good, "    source: lab\n", "", 1), []string{"source: required"}},
		{"proto", rule("      proto: sctp\n      ip_id: 1\n"), []string{`"bad-rule"`, "line 3", "match.proto", "sctp"}},
		{"no condition", rule("      proto: tcp\n"), []string{"match: no condition"}},
		{"flags on udp", rule("      proto: udp\n      tcp_flags: {set: S}\n"), []string{"match.tcp_flags: only for proto tcp"}},
		{"bad flag", rule("      proto: tcp\n      tcp_flags: {set: SX}\n"), []string{"match.tcp_flags.set", "unknown flag"}},
		{"flag set and unset", rule("      proto: tcp\n      tcp_flags: {set: S, unset: S}\n"), []string{"both set and unset"}},
		{"ports on icmp", rule("      proto: icmp\n      dst_port: [\"80\"]\n"), []string{"match.dst_port: ICMP has no ports"}},
		{"bad port range", rule("      proto: tcp\n      dst_port: [\"90-80\"]\n"), []string{"match.dst_port[0]", "90-80"}},
		{"port too big", rule("      proto: tcp\n      dst_port: [\"70000\"]\n"), []string{"match.dst_port[0]"}},
		{"window on udp", rule("      proto: udp\n      window: 9965\n"), []string{"match.window: not a field of proto udp"}},
		{"icmp type on tcp", rule("      proto: tcp\n      icmp_type: 8\n"), []string{"match.icmp_type: only for proto icmp"}},
		{"gap without value", rule("      proto: tcp\n      seq_ack_gap: {either_way: true}\n"), []string{"match.seq_ack_gap.value: required"}},
		{"payload_len", rule("      proto: udp\n      payload_len: {min: 10, max: 5}\n"), []string{"match.payload_len"}},
		{"odd hex", rule("      proto: udp\n      payload:\n        - {bytes: \"72 5\"}\n"), []string{"match.payload[0].bytes", "odd number of hex digits"}},
		{"bad hex", rule("      proto: udp\n      payload:\n        - {bytes: \"7g 55\"}\n"), []string{"match.payload[0].bytes", `"7g"`}},
		{"two checks", rule("      proto: udp\n      payload:\n        - {bytes: \"72\", regex: \"x\"}\n"), []string{"match.payload[0].check: want exactly one"}},
		{"no check", rule("      proto: udp\n      payload:\n        - {offset: 3}\n"), []string{"match.payload[0].check"}},
		{"bad regex", rule("      proto: udp\n      payload:\n        - {regex: \"(\"}\n"), []string{"match.payload[0].regex"}},
		{"offset", rule("      proto: udp\n      payload:\n        - {offset: 5000, bytes: \"72\"}\n"), []string{"match.payload[0].offset: 5000"}},
		{"repeat", rule("      proto: udp\n      payload:\n        - {repeat: {length: 6, count: 1}}\n"), []string{"match.payload[0].repeat"}},
		{"entropy", rule("      proto: udp\n      payload:\n        - {min_entropy: 9}\n"), []string{"match.payload[0].min_entropy"}},
		{"sequence one port", rule("      proto: tcp\n      sequence: {ports: [200]}\n"), []string{"match.sequence.ports: 1 ports"}},
		{"sequence within", rule("      proto: tcp\n      sequence: {ports: [200, 80], within: forever}\n"), []string{"match.sequence.within"}},
		{"sequence icmp", rule("      proto: icmp\n      sequence: {ports: [200, 80]}\n"), []string{"match.sequence: needs ports"}},
		{"extract type", strings.Replace(good, "        - {bytes: \"6b 6e\"}\n", "        - {bytes: \"6b 6e\"}\n    extract:\n      - {name: x, offset: 0, type: float}\n", 1), []string{"extract[0]", "type", "float"}},
		{"reference", strings.Replace(good, "    source: lab\n", "    source: lab\n    references: [notaurl]\n", 1), []string{"references[0]", "notaurl"}},
		{"two errors both reported", rule("      proto: tcp\n") + "  - name: other\n    summary: s\n", []string{`rule[0] "bad-rule"`, `rule[1] "other"`}},
		{"not yaml", "version: 1\nrules: [\n", []string{"rules: site.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rules.Parse("site.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "rules: site.yaml") {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestLoadAndMerge(t *testing.T) {
	dir := t.TempDir()
	extra := filepath.Join(dir, "extra.yaml")
	replace := filepath.Join(dir, "replace.yaml")
	if err := os.WriteFile(extra, []byte(good+"  - name: wake-on-lan\n    disabled: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(replace, []byte(strings.Replace(good, "version: 1\n", "version: 1\nreplace_builtin: true\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load([]string{extra}, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rules.Builtin()
	if len(rs.Rules) != len(b.Rules) || rs.Lookup("wake-on-lan") != nil || rs.Lookup("lab-knock") == nil {
		t.Fatalf("extended set: %d rules", len(rs.Rules))
	}
	rs, err = rules.Load([]string{replace}, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1 || rs.Rules[0].Name != "lab-knock" || rs.Rules[0].Index != 0 {
		t.Fatalf("replaced set: %v", rs.Rules)
	}
	// Same name replaces the built-in rule in place.
	over := strings.Replace(good, "lab-knock", "bpfdoor-udp", 1)
	f, err := rules.Parse("over.yaml", []byte(over))
	if err != nil {
		t.Fatal(err)
	}
	rs, err = rules.Merge(b, f)
	if err != nil {
		t.Fatal(err)
	}
	if r := rs.Lookup("bpfdoor-udp"); r == nil || r.File != "over.yaml" || r.Index != 0 {
		t.Fatalf("override: %+v", r)
	}
	if _, err := rules.Load([]string{filepath.Join(dir, "missing.yaml")}, os.ReadFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestPrefilter(t *testing.T) {
	rs, _ := rules.Builtin()
	pf := rs.Prefilter()
	has := func(p event.Proto, b ...byte) bool {
		for _, x := range pf.Prefixes {
			if x.Proto == p && string(x.Bytes) == string(b) {
				return true
			}
		}
		return false
	}
	if !has(event.ProtoUDP, 0x72, 0x55) || !has(event.ProtoTCP, 0x52, 0x93) || !has(event.ProtoICMP, 0x72, 0x55) || !has(event.ProtoUDP, 0xff, 0xff) {
		t.Errorf("prefixes %v", pf.Prefixes)
	}
	if len(pf.IPIDs) != 1 || pf.IPIDs[0] != 3429 || len(pf.SeqAckGaps) != 2 {
		t.Errorf("header keys %v %v", pf.IPIDs, pf.SeqAckGaps)
	}
	if len(pf.Any) == 0 {
		t.Errorf("no any-payload entries for the ICMP token rules")
	}
}

// FuzzParse: no input makes the loader panic; what it accepts is valid and
// can be merged and applied.
func FuzzParse(f *testing.F) {
	f.Add(embedded.Magic)
	f.Add([]byte(good))
	f.Add([]byte("version: 1\nreplace_builtin: true\nrules:\n  - name: x\n    disabled: true\n"))
	f.Add([]byte("version: 1\nrules:\n  - name: s\n    summary: s\n    technique: T1205\n    severity: info\n    confidence: 0.1\n    source: s\n    match:\n      proto: tcp\n      sequence: {ports: [1, 2], within: 1s}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		file, err := rules.Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "rules: fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		rs, err := rules.Merge(nil, file)
		if err != nil {
			return // too many sequence rules
		}
		for _, r := range rs.Rules {
			if r.Name == "" || r.Summary == "" || r.Source == "" || r.Confidence <= 0 || r.Confidence >= 1 || r.Match.Proto == 0 {
				t.Fatalf("invalid rule accepted: %+v", r)
			}
			ev := event.Event{Proto: r.Match.Proto, Payload: data, PayloadLen: uint16(min(len(data), 65535)), Flags: event.FlagPacket}
			_ = r.Matches(&ev)
			_ = r.Values(data)
		}
		_ = rs.Prefilter()
	})
}
