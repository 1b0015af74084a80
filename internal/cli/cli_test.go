package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const scenarios = "../hunt/testdata/scenarios"

func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	no := false
	root := NewRoot(Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb, OutTerminal: &no, ErrTerminal: &no})
	root.SetArgs(args)
	err := root.Execute()
	code = ExitOK
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else {
			code = ExitError
		}
		if err.Error() != "" {
			errb.WriteString(err.Error())
		}
	}
	return out.String(), errb.String(), code
}

func TestHuntJSONAndExitCodes(t *testing.T) {
	in := filepath.Join(scenarios, "knock-then-connect/input.log")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"hunt ran", []string{"hunt", "--tz", "UTC", in}, ExitOK},
		{"fail-on matched", []string{"hunt", "--tz", "UTC", "--fail-on", "high", in}, ExitFound},
		{"fail-on not matched", []string{"hunt", "--tz", "UTC", "--fail-on", "critical", in}, ExitOK},
		{"bad severity", []string{"hunt", "--fail-on", "urgent", in}, ExitError},
		{"missing file", []string{"hunt", "no/such/file.log"}, ExitError},
		{"bad format", []string{"hunt", "--format", "nope", in}, ExitError},
		{"bad tz", []string{"hunt", "--tz", "Mars/Olympus", in}, ExitError},
		{"no args", []string{"hunt"}, ExitError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := run(t, "", tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr: %s)", code, tc.code, errOut)
			}
			if tc.code == ExitError && errOut == "" {
				t.Errorf("error exit without a message")
			}
			if tc.code != ExitError {
				var a struct {
					Detector, Severity string
					FollowedBy         *struct{ Port int } `json:"followed_by"`
				}
				if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &a); err != nil {
					t.Fatalf("stdout is not JSON lines: %v\n%s", err, out)
				}
				if a.Detector != "sequence" || a.Severity != "high" || a.FollowedBy == nil || a.FollowedBy.Port != 22 {
					t.Errorf("unexpected finding %+v", a)
				}
			}
		})
	}
}

func TestHuntStdinAndSummary(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(scenarios, "knock-default/input.log"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, string(data), "hunt", "--tz", "UTC", "--year", "2025", "--summary", "-o", "table", "-")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "knock 7000/tcp,8000/tcp,9000/tcp") || !strings.Contains(out, "medium") {
		t.Errorf("table lacks the knock:\n%s", out)
	}
	for _, want := range []string{"read 1 input(s)", "3 records", "decode errors: 0", "findings: 1 (medium 1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
}

func TestHuntReportsDecodeErrors(t *testing.T) {
	bad := "Nov 22 10:15:02 gw01 kernel: K IN=eth0 OUT= SRC=198.51.100.999 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0\n" +
		"Nov 22 10:15:02 gw01 kernel: K IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 PROTO=TCP SPT=1 DPT=2 SYN URGP=0\n" +
		strings.Repeat("x", 300<<10) + "\n"
	_, errOut, code := run(t, bad, "hunt", "--summary", "--format", "syslog", "-")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"decode errors: 2", "bad_address 1", "too_long 1", "<stdin>:1:", "<stdin>:3:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
}

func TestExplain(t *testing.T) {
	in := filepath.Join(scenarios, "scan-4-high-ports/input.log")
	out, errOut, code := run(t, "", "explain", "--tz", "UTC", "--src", "198.51.100.66", in)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"attempt denied 7000/tcp", "scanner packet shape (nmap)", "a scan, not a knock"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := run(t, "", "explain", "--src", "not-an-ip", in); code != ExitError {
		t.Errorf("bad --src: exit %d", code)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("sequence:\n  max_gap: 10s\nauthorized_sequences:\n  - name: a\n    ports: [7000, 8000/udp]\n"), 0o644)
	if out, errOut, code := run(t, "", "config", "check", good); code != ExitOK || !strings.Contains(out, "ok") {
		t.Errorf("good config: exit %d %s %s", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("sequence:\n  max_gap: 10s\n  max_source: 3\n"), 0o644)
	_, errOut, code := run(t, "", "config", "check", bad)
	if code != ExitError || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "max_source") {
		t.Errorf("unknown key: exit %d, %q", code, errOut)
	}
	badPort := filepath.Join(dir, "port.yaml")
	os.WriteFile(badPort, []byte("authorized_sequences:\n  - name: a\n    ports: [70000]\n"), 0o644)
	if _, errOut, code := run(t, "", "config", "check", badPort); code != ExitError || !strings.Contains(errOut, "70000") {
		t.Errorf("bad port: exit %d, %q", code, errOut)
	}
}

func TestImportKnockd(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "knockd.conf")
	os.WriteFile(conf, []byte(`[options]
	logfile = /var/log/knockd.log

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 5
	command     = /usr/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn

[opencloseSSH]
	Sequence = 2222:udp,3333:tcp,4444:udp

[opencloseSMTP]
	one_time_sequences = /etc/knockd/smtp_sequences
`), 0o644)
	out, errOut, code := run(t, "", "config", "import-knockd", conf)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"knockd:openSSH", "7000/tcp", "2222/udp", "3333/tcp", "one-time sequences"} {
		if !strings.Contains(out, want) {
			t.Errorf("import lacks %q:\n%s", want, out)
		}
	}
	// The output is a valid configuration.
	cfgFile := filepath.Join(dir, "kw.yaml")
	os.WriteFile(cfgFile, []byte(out), 0o644)
	if _, errOut, code := run(t, "", "config", "check", cfgFile); code != ExitOK {
		t.Errorf("imported config does not check: %s", errOut)
	}
}

func TestVersionAndFormats(t *testing.T) {
	if out, _, code := run(t, "", "version"); code != ExitOK || !strings.HasPrefix(out, "knockwatch ") {
		t.Errorf("version: %d %q", code, out)
	}
	if out, _, code := run(t, "", "formats"); code != ExitOK || !strings.Contains(out, "syslog") {
		t.Errorf("formats: %d %q", code, out)
	}
}
