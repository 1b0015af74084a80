package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExampleWatchConfigChecks(t *testing.T) {
	for _, p := range []string{"../../examples/watch.yaml"} {
		cfg, err := CheckFile(p, nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if cfg.Watch == nil || len(cfg.Watch.Inputs) == 0 || len(cfg.Watch.Sinks) == 0 {
			t.Errorf("%s: watch section %+v", p, cfg.Watch)
		}
	}
}

func TestWatchDefaults(t *testing.T) {
	cfg, probs := Check([]byte("watch:\n  inputs:\n    - type: file\n      path: /var/log/kern.log\n    - type: syslog\n      listen: 127.0.0.1:5514\n"), nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	w := cfg.Watch.WithDefaults()
	if w.StateDir != DefaultStateDir || w.Lateness != DefaultLateness || w.IdleTick != DefaultIdleTick {
		t.Errorf("defaults %+v", w)
	}
	f, s := w.Inputs[0], w.Inputs[1]
	if f.Name != "file:/var/log/kern.log" || f.StartAt != "end" || !*f.Neighbours || f.MaxLine != DefaultMaxLine {
		t.Errorf("file input %+v", f)
	}
	if s.Name != "syslog:127.0.0.1:5514" || len(s.Protocols) != 2 || s.MaxMessage != DefaultMaxMessage || s.Format != "syslog" {
		t.Errorf("syslog input %+v", s)
	}
	// A configuration without a watch section still loads for hunt.
	if _, err := Parse([]byte("sequence:\n  max_gap: 10s\n")); err != nil {
		t.Error(err)
	}
}

// TestCheckReportsEveryErrorWithItsLine: unknown keys, bad values and
// failed validation, all at once, each with the line it is on.
func TestCheckReportsEveryErrorWithItsLine(t *testing.T) {
	doc := `sequence:
  min_ports: 1
watch:
  state_dir: relative/dir
  lateness: 2x
  inputs:
    - type: file
      listen: 127.0.0.1:514
    - type: syslog
      listen: nohost
      protocols: [udp, sctp]
    - type: tape
    - name: dup
      type: journald
    - name: dup
      type: capture
      interface: eth0
      bogus: 1
  sinks:
    - type: webhook
      url: ftp://x
    - type: syslog
      address: udp://siem:514
      min_severity: loud
`
	want := map[int]string{
		2:  "sequence.min_ports",
		4:  "watch.state_dir",
		5:  "time.Duration",
		7:  "watch.inputs[0].path: required",
		8:  "watch.inputs[0].listen: only for inputs of type syslog",
		10: "watch.inputs[1].listen",
		11: "watch.inputs[1].protocols",
		12: "watch.inputs[2].type",
		15: "watch.inputs[4].name",
		18: "field bogus not found",
		21: "watch.sinks[0].url",
		24: "watch.sinks[1].min_severity",
	}
	_, probs := Check([]byte(doc), nil)
	got := map[int][]string{}
	for _, p := range probs {
		got[p.Line] = append(got[p.Line], p.Msg)
	}
	for line, frag := range want {
		found := false
		for _, m := range got[line] {
			found = found || strings.Contains(m, frag)
		}
		if !found {
			t.Errorf("line %d: no error mentioning %q (got %q)", line, frag, got[line])
		}
	}
	if len(probs) < len(want) {
		t.Errorf("%d problems, want at least %d: %v", len(probs), len(want), probs)
	}
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte(doc), 0o644)
	_, err := CheckFile(p, func(string) error { return nil })
	var pe *ProblemsError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), p+": line 4: watch.state_dir") {
		t.Errorf("CheckFile: %v", err)
	}
}

func TestCheckFormats(t *testing.T) {
	doc := "watch:\n  inputs:\n    - type: file\n      path: /x\n      format: nope\n"
	_, probs := Check([]byte(doc), func(name string) error {
		if name != "syslog" {
			return fmt.Errorf("unknown format %q", name)
		}
		return nil
	})
	if len(probs) != 1 || probs[0].Line != 5 || !strings.Contains(probs[0].Msg, "nope") {
		t.Errorf("problems %v", probs)
	}
}

func TestWatchValidRanges(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		ok   bool
	}{
		{"watch:\n  idle_tick: 1ms\n  inputs: [{type: capture, interface: lo}]\n", false},
		{"watch:\n  idle_tick: 100ms\n  inputs: [{type: capture, interface: lo}]\n", true},
		{"watch:\n  inputs: []\n", false},
		{"watch:\n  inputs: [{type: syslog, listen: '[::1]:514', max_message: 100}]\n", false},
		{"watch:\n  inputs: [{type: syslog, listen: '[::1]:514', max_message: 1MB}]\n", true},
		{"watch:\n  inputs: [{type: journald, matches: [nokey]}]\n", false},
		{"watch:\n  inputs: [{type: journald, matches: [_TRANSPORT=kernel]}]\n", true},
		{"watch:\n  inputs: [{type: file, path: /a}, {type: file, path: /a}]\n", false},
		{"watch:\n  inputs: [{type: file, path: /a}]\n  sinks: [{type: syslog, address: 'tcp://h:1', framing: lf}]\n", false},
		{"watch:\n  inputs: [{type: file, path: /a}]\n  sinks: [{type: webhook, url: 'https://h/x', retry_initial: 2m, retry_max: 1m}]\n", false},
		{"watch:\n  inputs: [{type: file, path: /a}]\n  sinks: [{type: jsonl, path: out.jsonl}]\n", false},
		{"watch:\n  inputs: [{type: file, path: /a}]\n  sinks: [{type: webhook, url: 'https://h/x', headers_file: /run/credentials/knockwatch.service/webhook.headers}]\n", true},
		{"watch:\n  inputs: [{type: file, path: /a}]\n  sinks: [{type: webhook, url: 'https://h/x', headers_file: webhook.headers}]\n", false},
		{"watch:\n  inputs: [{type: file, path: /a}]\n  sinks: [{type: jsonl, path: /a.jsonl, headers_file: /h}]\n", false},
	} {
		_, probs := Check([]byte(tc.yaml), nil)
		if (len(probs) == 0) != tc.ok {
			t.Errorf("%q: problems %v, want ok=%v", tc.yaml, probs, tc.ok)
		}
	}
}
