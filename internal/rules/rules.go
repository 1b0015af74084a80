// Package rules loads, validates and applies magic-packet signatures: the
// built-in set embedded from rules/magic.yaml, extended or replaced by user
// files in the same format (`--rules FILE`). A rule is data: header values,
// payload checks and, for cd00r-style triggers, an ordered port sequence.
// The detector "magic" (package detect) applies a Set to events; packet
// sources ask the Set for its Prefilter, so they keep exactly the payloads
// some rule could match.
//
// Loading is strict: an unknown key, a bad value or a rule with no
// condition is an error naming the file, the rule, its line and the field.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/event"
	embedded "github.com/knockwatch/knockwatch/rules"
)

// Limits that keep a rule cheap to apply to every packet.
const (
	MaxRules         = 256
	MaxPayloadChecks = 16
	MaxSequenceRules = 8
	MaxSequencePorts = 16
	MaxOffset        = 1500
)

// Set is a validated list of rules, ready to apply. It is immutable and safe
// for concurrent use.
type Set struct {
	Rules []*Rule
	// byProto indexes the single-packet rules by protocol.
	byProto [256][]*Rule
	// sequences are the rules with a port sequence, at most
	// MaxSequenceRules, in order.
	sequences []*Rule
}

// Rule is one validated signature.
type Rule struct {
	Name       string
	Summary    string
	Technique  string
	Severity   alert.Severity
	Confidence float64
	Source     string
	References []string
	// File and Line locate the rule's definition.
	File string
	Line int

	Match   Match
	Extract []Extract
	// Index is the rule's position in its Set.
	Index int
}

// Match holds a rule's conditions; a zero field is no condition.
type Match struct {
	Proto                   event.Proto
	FlagsSet, FlagsUnset    event.TCPFlags
	SrcPorts, DstPorts      []PortRange
	IPID, Window            optU16
	ICMPType, ICMPCode      optU8
	EchoID, EchoSeq         optU16
	SeqAckGap               uint32
	HasSeqAckGap, EitherWay bool
	PayloadMin, PayloadMax  int
	Payload                 []PayloadCheck
	Sequence                *Sequence
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

type optU16 struct {
	V   uint16
	Set bool
}

type optU8 struct {
	V   uint8
	Set bool
}

// CheckKind is what a payload check tests.
type CheckKind uint8

// Payload check kinds.
const (
	CheckBytes CheckKind = iota + 1
	CheckPrintable
	CheckRegex
	CheckRepeat
	CheckEntropy
)

// PayloadCheck is one test on the payload at Offset.
type PayloadCheck struct {
	Kind   CheckKind
	Offset int
	Bytes  []byte
	// Length is the printable run (0: to the end) or the repeated unit.
	Length     int
	Count      int
	Regex      *regexp.Regexp
	MinEntropy float64
	Not        bool
}

// Sequence is an ordered run of destination ports from one source to one
// host.
type Sequence struct {
	Ports        []uint16
	Within       time.Duration
	ResetOnWrong bool
}

// Extract copies a payload field into the alert.
type Extract struct {
	Name   string
	Offset int
	// Type is ipv4, u16, u32 (big-endian), word (the printable run up to a
	// space), text (up to a NUL, escaped) or hex.
	Type   string
	Length int
}

// ruleFile is the YAML document.
type ruleFile struct {
	Version        int         `yaml:"version"`
	ReplaceBuiltin bool        `yaml:"replace_builtin"`
	Rules          []yaml.Node `yaml:"rules"`
}

type ruleSpec struct {
	Name       string        `yaml:"name"`
	Summary    string        `yaml:"summary"`
	Technique  string        `yaml:"technique"`
	Severity   string        `yaml:"severity"`
	Confidence float64       `yaml:"confidence"`
	Source     string        `yaml:"source"`
	References []string      `yaml:"references"`
	Disabled   bool          `yaml:"disabled"`
	Match      matchSpec     `yaml:"match"`
	Extract    []extractSpec `yaml:"extract"`
}

type matchSpec struct {
	Proto      string        `yaml:"proto"`
	TCPFlags   *flagsSpec    `yaml:"tcp_flags"`
	SrcPort    []string      `yaml:"src_port"`
	DstPort    []string      `yaml:"dst_port"`
	IPID       *uint16       `yaml:"ip_id"`
	Window     *uint16       `yaml:"window"`
	ICMPType   *uint8        `yaml:"icmp_type"`
	ICMPCode   *uint8        `yaml:"icmp_code"`
	EchoID     *uint16       `yaml:"echo_id"`
	EchoSeq    *uint16       `yaml:"echo_seq"`
	SeqAckGap  *gapSpec      `yaml:"seq_ack_gap"`
	PayloadLen *lenSpec      `yaml:"payload_len"`
	Payload    []payloadSpec `yaml:"payload"`
	Sequence   *sequenceSpec `yaml:"sequence"`
}

type flagsSpec struct {
	Set   string `yaml:"set"`
	Unset string `yaml:"unset"`
}

type gapSpec struct {
	Value     *uint32 `yaml:"value"`
	EitherWay bool    `yaml:"either_way"`
}

type lenSpec struct {
	Min *int `yaml:"min"`
	Max *int `yaml:"max"`
}

type payloadSpec struct {
	Offset     int         `yaml:"offset"`
	Bytes      string      `yaml:"bytes"`
	Printable  *int        `yaml:"printable"`
	Regex      string      `yaml:"regex"`
	Repeat     *repeatSpec `yaml:"repeat"`
	MinEntropy float64     `yaml:"min_entropy"`
	Not        bool        `yaml:"not"`
}

type repeatSpec struct {
	Length int `yaml:"length"`
	Count  int `yaml:"count"`
}

type sequenceSpec struct {
	Ports            []uint16 `yaml:"ports"`
	Within           string   `yaml:"within"`
	ResetOnWrongPort bool     `yaml:"reset_on_wrong_port"`
}

type extractSpec struct {
	Name   string `yaml:"name"`
	Offset int    `yaml:"offset"`
	Type   string `yaml:"type"`
	Length int    `yaml:"length"`
}

// File is one parsed rule file before merging.
type File struct {
	Name           string
	ReplaceBuiltin bool
	Rules          []*Rule
	// Disabled names rules the file switches off.
	Disabled []string
}

var (
	builtinOnce sync.Once
	builtinSet  *Set
	builtinErr  error
)

// Builtin returns the embedded rule set.
func Builtin() (*Set, error) {
	builtinOnce.Do(func() {
		var f *File
		if f, builtinErr = Parse(embedded.MagicName, embedded.Magic); builtinErr == nil {
			builtinSet, builtinErr = Merge(nil, f)
		}
	})
	return builtinSet, builtinErr
}

// Load returns the built-in rules extended (or replaced) by the files at
// paths, in order.
func Load(paths []string, read func(string) ([]byte, error)) (*Set, error) {
	base, err := Builtin()
	if err != nil {
		return nil, err
	}
	files := make([]*File, 0, len(paths))
	for _, p := range paths {
		data, err := read(p)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		f, err := Parse(p, data)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return Merge(base, files...)
}

// Merge applies files over base in order: same-named rules replace, disabled
// ones are removed, replace_builtin drops base.
func Merge(base *Set, files ...*File) (*Set, error) {
	var list []*Rule
	if base != nil {
		list = append(list, base.Rules...)
	}
	for _, f := range files {
		if f.ReplaceBuiltin {
			list = nil
		}
		for _, name := range f.Disabled {
			list = slicesDelete(list, name)
		}
		for _, r := range f.Rules {
			replaced := false
			for i, old := range list {
				if old.Name == r.Name {
					list[i] = r
					replaced = true
					break
				}
			}
			if !replaced {
				list = append(list, r)
			}
		}
	}
	if len(list) > MaxRules {
		return nil, fmt.Errorf("rules: %d rules, more than %d", len(list), MaxRules)
	}
	s := &Set{}
	for i, r := range list {
		c := *r
		c.Index = i
		s.Rules = append(s.Rules, &c)
	}
	for _, r := range s.Rules {
		if r.Match.Sequence != nil {
			if len(s.sequences) == MaxSequenceRules {
				return nil, fmt.Errorf("rules: %s:%d: rule %q: more than %d sequence rules", r.File, r.Line, r.Name, MaxSequenceRules)
			}
			s.sequences = append(s.sequences, r)
			continue
		}
		s.byProto[r.Match.Proto] = append(s.byProto[r.Match.Proto], r)
	}
	return s, nil
}

func slicesDelete(list []*Rule, name string) []*Rule {
	out := list[:0:0]
	for _, r := range list {
		if r.Name != name {
			out = append(out, r)
		}
	}
	return out
}

// Parse reads and validates one rule file. name is used in errors.
func Parse(name string, data []byte) (*File, error) {
	var rf ruleFile
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("rules: %s: empty file", name)
	}
	if err := yaml.Load(data, &rf, yaml.WithKnownFields(), yaml.WithSingleDocument()); err != nil {
		return nil, fmt.Errorf("rules: %s: %s", name, cleanYAML(err))
	}
	if rf.Version != 1 {
		return nil, fmt.Errorf("rules: %s: version: %d: want 1", name, rf.Version)
	}
	if len(rf.Rules) > MaxRules {
		return nil, fmt.Errorf("rules: %s: %d rules, more than %d", name, len(rf.Rules), MaxRules)
	}
	f := &File{Name: name, ReplaceBuiltin: rf.ReplaceBuiltin}
	seen := map[string]int{}
	var errs []error
	for i := range rf.Rules {
		node := &rf.Rules[i]
		var spec ruleSpec
		if err := node.Load(&spec, yaml.WithKnownFields()); err != nil {
			errs = append(errs, fmt.Errorf("rules: %s: rule[%d] (line %d): %s", name, i, node.Line, cleanYAML(err)))
			continue
		}
		if prev, dup := seen[spec.Name]; dup && spec.Name != "" {
			errs = append(errs, fmt.Errorf("rules: %s: rule[%d] %q (line %d): name: already defined at line %d", name, i, spec.Name, node.Line, prev))
			continue
		}
		seen[spec.Name] = node.Line
		if spec.Disabled {
			if !validName(spec.Name) {
				errs = append(errs, fmt.Errorf("rules: %s: rule[%d] (line %d): name: %q: want lower-case letters, digits and dashes", name, i, node.Line, spec.Name))
				continue
			}
			f.Disabled = append(f.Disabled, spec.Name)
			continue
		}
		r, err := compile(&spec)
		if err != nil {
			label := fmt.Sprintf("rule[%d]", i)
			if spec.Name != "" {
				label += fmt.Sprintf(" %q", spec.Name)
			}
			errs = append(errs, fmt.Errorf("rules: %s: %s (line %d): %w", name, label, node.Line, err))
			continue
		}
		r.File, r.Line = name, node.Line
		f.Rules = append(f.Rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

func cleanYAML(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "load errors:\n  ", "")
	return msg
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// fieldError names the field at fault.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

func compile(s *ruleSpec) (*Rule, error) {
	if !validName(s.Name) {
		return nil, fieldError("name", "%q: want lower-case letters, digits and dashes (at most 64)", s.Name)
	}
	r := &Rule{Name: s.Name, Summary: strings.TrimSpace(s.Summary), Source: strings.TrimSpace(s.Source), References: s.References}
	if r.Summary == "" {
		return nil, fieldError("summary", "required")
	}
	if r.Source == "" {
		return nil, fieldError("source", "required: name the report or source code the signature comes from")
	}
	switch s.Technique {
	case alert.TechniquePortKnocking, alert.TechniqueSocketFilters, alert.TechniqueTrafficSignaling:
		r.Technique = s.Technique
	default:
		return nil, fieldError("technique", "%q: want T1205.001, T1205.002 or T1205", s.Technique)
	}
	sev, err := alert.ParseSeverity(s.Severity)
	if err != nil {
		return nil, fieldError("severity", "%v", err)
	}
	r.Severity = sev
	if !(s.Confidence > 0 && s.Confidence < 1) {
		return nil, fieldError("confidence", "%v: want a number between 0 and 1 (exclusive)", s.Confidence)
	}
	r.Confidence = s.Confidence
	for i, ref := range s.References {
		if !strings.HasPrefix(ref, "https://") && !strings.HasPrefix(ref, "http://") {
			return nil, fieldError(fmt.Sprintf("references[%d]", i), "%q: want a URL", ref)
		}
	}
	if err := compileMatch(&s.Match, &r.Match); err != nil {
		return nil, err
	}
	for i, e := range s.Extract {
		x, err := compileExtract(&e)
		if err != nil {
			return nil, fmt.Errorf("extract[%d]: %w", i, err)
		}
		r.Extract = append(r.Extract, x)
	}
	return r, nil
}

func compileMatch(s *matchSpec, m *Match) error {
	p, ok := event.ParseProto([]byte(s.Proto))
	if !ok || s.Proto == "udplite" || s.Proto == "ipv6-icmp" {
		return fieldError("match.proto", "%q: want tcp, udp, icmp or icmpv6", s.Proto)
	}
	m.Proto = p
	conditions := 0
	tcp := p == event.ProtoTCP
	icmp := p == event.ProtoICMP || p == event.ProtoICMPv6
	if s.TCPFlags != nil {
		if !tcp {
			return fieldError("match.tcp_flags", "only for proto tcp")
		}
		var err error
		if m.FlagsSet, err = parseFlags(s.TCPFlags.Set); err != nil {
			return fieldError("match.tcp_flags.set", "%v", err)
		}
		if m.FlagsUnset, err = parseFlags(s.TCPFlags.Unset); err != nil {
			return fieldError("match.tcp_flags.unset", "%v", err)
		}
		if m.FlagsSet&m.FlagsUnset != 0 {
			return fieldError("match.tcp_flags", "%s both set and unset", m.FlagsSet&m.FlagsUnset)
		}
		if m.FlagsSet|m.FlagsUnset == 0 {
			return fieldError("match.tcp_flags", "give set or unset")
		}
		conditions++
	}
	for _, pp := range []struct {
		field string
		in    []string
		out   *[]PortRange
	}{{"match.src_port", s.SrcPort, &m.SrcPorts}, {"match.dst_port", s.DstPort, &m.DstPorts}} {
		if len(pp.in) == 0 {
			continue
		}
		if icmp {
			return fieldError(pp.field, "ICMP has no ports")
		}
		for i, v := range pp.in {
			r, err := parsePortRange(v)
			if err != nil {
				return fieldError(fmt.Sprintf("%s[%d]", pp.field, i), "%v", err)
			}
			*pp.out = append(*pp.out, r)
		}
		conditions++
	}
	set16 := func(field string, v *uint16, o *optU16, okProto bool) error {
		if v == nil {
			return nil
		}
		if !okProto {
			return fieldError(field, "not a field of proto %s", p)
		}
		*o = optU16{V: *v, Set: true}
		conditions++
		return nil
	}
	if err := set16("match.ip_id", s.IPID, &m.IPID, true); err != nil {
		return err
	}
	if err := set16("match.window", s.Window, &m.Window, tcp); err != nil {
		return err
	}
	if err := set16("match.echo_id", s.EchoID, &m.EchoID, icmp); err != nil {
		return err
	}
	if err := set16("match.echo_seq", s.EchoSeq, &m.EchoSeq, icmp); err != nil {
		return err
	}
	for _, f := range []struct {
		field string
		v     *uint8
		o     *optU8
	}{{"match.icmp_type", s.ICMPType, &m.ICMPType}, {"match.icmp_code", s.ICMPCode, &m.ICMPCode}} {
		if f.v == nil {
			continue
		}
		if !icmp {
			return fieldError(f.field, "only for proto icmp or icmpv6")
		}
		*f.o = optU8{V: *f.v, Set: true}
		conditions++
	}
	if s.SeqAckGap != nil {
		if !tcp {
			return fieldError("match.seq_ack_gap", "only for proto tcp")
		}
		if s.SeqAckGap.Value == nil || *s.SeqAckGap.Value == 0 {
			return fieldError("match.seq_ack_gap.value", "required and non-zero")
		}
		m.SeqAckGap, m.HasSeqAckGap, m.EitherWay = *s.SeqAckGap.Value, true, s.SeqAckGap.EitherWay
		conditions++
	}
	if s.PayloadLen != nil {
		m.PayloadMin, m.PayloadMax = 0, 65535
		if s.PayloadLen.Min != nil {
			m.PayloadMin = *s.PayloadLen.Min
		}
		if s.PayloadLen.Max != nil {
			m.PayloadMax = *s.PayloadLen.Max
		}
		if m.PayloadMin < 0 || m.PayloadMax > 65535 || m.PayloadMin > m.PayloadMax || s.PayloadLen.Min == nil && s.PayloadLen.Max == nil {
			return fieldError("match.payload_len", "want 0 <= min <= max <= 65535")
		}
		conditions++
	}
	if len(s.Payload) > MaxPayloadChecks {
		return fieldError("match.payload", "%d checks, more than %d", len(s.Payload), MaxPayloadChecks)
	}
	for i, ps := range s.Payload {
		c, err := compileCheck(&ps)
		if err != nil {
			return fmt.Errorf("match.payload[%d].%w", i, err)
		}
		m.Payload = append(m.Payload, c)
		conditions++
	}
	if s.Sequence != nil {
		seq, err := compileSequence(s.Sequence)
		if err != nil {
			return fmt.Errorf("match.sequence.%w", err)
		}
		if icmp {
			return fieldError("match.sequence", "needs ports: proto tcp or udp")
		}
		if len(m.DstPorts) > 0 {
			return fieldError("match.sequence", "the sequence gives the destination ports; drop dst_port")
		}
		m.Sequence = seq
		conditions++
	}
	if conditions == 0 {
		return fieldError("match", "no condition besides proto: the rule would match every %s packet", p)
	}
	return nil
}

func parseFlags(s string) (event.TCPFlags, error) {
	var f event.TCPFlags
	for _, c := range strings.ToUpper(s) {
		switch c {
		case 'F':
			f |= event.FlagFIN
		case 'S':
			f |= event.FlagSYN
		case 'R':
			f |= event.FlagRST
		case 'P':
			f |= event.FlagPSH
		case 'A', '.':
			f |= event.FlagACK
		case 'U':
			f |= event.FlagURG
		case 'E':
			f |= event.FlagECE
		case 'W':
			f |= event.FlagCWR
		default:
			return 0, fmt.Errorf("%q: unknown flag %q (want F S R P A U E W)", s, c)
		}
	}
	return f, nil
}

func parsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	if err != nil {
		return PortRange{}, fmt.Errorf("%q: not a port or range", s)
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 16); err != nil || b < a {
			return PortRange{}, fmt.Errorf("%q: not a port range low-high", s)
		}
	}
	return PortRange{Lo: uint16(a), Hi: uint16(b)}, nil
}

func compileCheck(ps *payloadSpec) (PayloadCheck, error) {
	c := PayloadCheck{Offset: ps.Offset, Not: ps.Not}
	if ps.Offset < 0 || ps.Offset > MaxOffset {
		return c, fieldError("offset", "%d: want 0..%d", ps.Offset, MaxOffset)
	}
	kinds := 0
	if ps.Bytes != "" {
		b, err := parseHex(ps.Bytes)
		if err != nil {
			return c, fieldError("bytes", "%q: %v", ps.Bytes, err)
		}
		if len(b) == 0 || len(b) > 64 {
			return c, fieldError("bytes", "%q: want 1..64 bytes", ps.Bytes)
		}
		c.Kind, c.Bytes = CheckBytes, b
		kinds++
	}
	if ps.Printable != nil {
		if *ps.Printable < 0 || *ps.Printable > MaxOffset {
			return c, fieldError("printable", "%d: want 0..%d", *ps.Printable, MaxOffset)
		}
		c.Kind, c.Length = CheckPrintable, *ps.Printable
		kinds++
	}
	if ps.Regex != "" {
		re, err := regexp.Compile(ps.Regex)
		if err != nil {
			return c, fieldError("regex", "%q: %v", ps.Regex, err)
		}
		c.Kind, c.Regex = CheckRegex, re
		kinds++
	}
	if ps.Repeat != nil {
		if ps.Repeat.Length < 1 || ps.Repeat.Length > 64 || ps.Repeat.Count < 2 || ps.Repeat.Count > 64 {
			return c, fieldError("repeat", "want length 1..64 and count 2..64")
		}
		c.Kind, c.Length, c.Count = CheckRepeat, ps.Repeat.Length, ps.Repeat.Count
		kinds++
	}
	if ps.MinEntropy != 0 {
		if ps.MinEntropy < 0 || ps.MinEntropy > 8 {
			return c, fieldError("min_entropy", "%v: want 0..8 bits per byte", ps.MinEntropy)
		}
		c.Kind, c.MinEntropy = CheckEntropy, ps.MinEntropy
		kinds++
	}
	if kinds != 1 {
		return c, fieldError("check", "want exactly one of bytes, printable, regex, repeat, min_entropy (got %d)", kinds)
	}
	return c, nil
}

func parseHex(s string) ([]byte, error) {
	var out []byte
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == ':' {
			return -1
		}
		return r
	}, strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if len(digits)%2 != 0 {
		return nil, errors.New("odd number of hex digits")
	}
	for i := 0; i < len(digits); i += 2 {
		v, err := strconv.ParseUint(digits[i:i+2], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("%q is not a hex byte", digits[i:i+2])
		}
		out = append(out, byte(v))
	}
	return out, nil
}

func compileSequence(s *sequenceSpec) (*Sequence, error) {
	if len(s.Ports) < 2 || len(s.Ports) > MaxSequencePorts {
		return nil, fieldError("ports", "%d ports: want 2..%d", len(s.Ports), MaxSequencePorts)
	}
	for i, p := range s.Ports {
		if p == 0 {
			return nil, fieldError(fmt.Sprintf("ports[%d]", i), "0 is not a port")
		}
	}
	seq := &Sequence{Ports: s.Ports, ResetOnWrong: s.ResetOnWrongPort, Within: 10 * time.Minute}
	if s.Within != "" {
		d, err := time.ParseDuration(s.Within)
		if err != nil || d <= 0 || d > 24*time.Hour {
			return nil, fieldError("within", "%q: want a duration up to 24h, e.g. 10m", s.Within)
		}
		seq.Within = d
	}
	return seq, nil
}

func compileExtract(e *extractSpec) (Extract, error) {
	x := Extract{Name: e.Name, Offset: e.Offset, Type: e.Type, Length: e.Length}
	if !validName(strings.ReplaceAll(e.Name, "_", "-")) {
		return x, fieldError("name", "%q: want lower-case letters, digits, dashes and underscores", e.Name)
	}
	if e.Offset < 0 || e.Offset > MaxOffset {
		return x, fieldError("offset", "%d: want 0..%d", e.Offset, MaxOffset)
	}
	switch e.Type {
	case "ipv4", "u16", "u32":
		if e.Length != 0 {
			return x, fieldError("length", "not used with type %s", e.Type)
		}
	case "word":
		if e.Length < 1 || e.Length > 256 {
			return x, fieldError("length", "%d: want 1..256 for type %s", e.Length, e.Type)
		}
	case "text", "hex":
		if e.Length < 1 || e.Length > 256 {
			return x, fieldError("length", "%d: want 1..256 for type %s", e.Length, e.Type)
		}
	default:
		return x, fieldError("type", "%q: want ipv4, u16, u32, word, text or hex", e.Type)
	}
	return x, nil
}

// Values renders a rule's extract fields from a payload. Fields beyond the
// captured payload are left out.
func (r *Rule) Values(payload []byte) map[string]string {
	if len(r.Extract) == 0 {
		return nil
	}
	out := make(map[string]string, len(r.Extract))
	for _, x := range r.Extract {
		p := payload
		if x.Offset >= len(p) {
			continue
		}
		p = p[x.Offset:]
		switch x.Type {
		case "ipv4":
			if len(p) >= 4 {
				out[x.Name] = netip.AddrFrom4([4]byte(p[:4])).String()
			}
		case "u16":
			if len(p) >= 2 {
				out[x.Name] = strconv.Itoa(int(p[0])<<8 | int(p[1]))
			}
		case "u32":
			if len(p) >= 4 {
				out[x.Name] = strconv.FormatUint(uint64(p[0])<<24|uint64(p[1])<<16|uint64(p[2])<<8|uint64(p[3]), 10)
			}
		case "word":
			n := 0
			for n < len(p) && n < x.Length && p[n] > ' ' && p[n] < 0x7f {
				n++
			}
			out[x.Name] = string(p[:n])
		case "text":
			out[x.Name] = printableText(p[:min(len(p), x.Length)])
		case "hex":
			out[x.Name] = fmt.Sprintf("%x", p[:min(len(p), x.Length)])
		}
	}
	return out
}

// printableText stops at the first NUL and escapes other non-printable
// bytes, so attacker bytes never reach a terminal raw.
func printableText(p []byte) string {
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	var b strings.Builder
	for _, c := range p {
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// Sequences returns the rules with a port sequence.
func (s *Set) Sequences() []*Rule { return s.sequences }

// ForProto returns the single-packet rules for a protocol.
func (s *Set) ForProto(p event.Proto) []*Rule { return s.byProto[p] }

// Lookup finds a rule by name.
func (s *Set) Lookup(name string) *Rule {
	for _, r := range s.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}
