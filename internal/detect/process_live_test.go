package detect_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

// TestProcessLiveAuditd runs the real clients under a private auditd and
// hunts over the audit.log it wrote: the decoder and the detector see what
// the kernel and auditd really write for this machine's tools. Every probe
// goes to 127.0.0.1 and is bounded (-c 1, one SYN per port). Only processes
// with this test's own login uid are audited, so other work on the machine
// stays out of the log; the rule is removed and auditd stopped on cleanup.
func TestProcessLiveAuditd(t *testing.T) {
	testutil.Require(t, "root")
	auditd := testutil.RequireTool(t, "auditd")
	auditctl := testutil.RequireTool(t, "auditctl")
	for _, tool := range []string{"knock", "fwknop", "hping3", "nping", "nmap"} {
		testutil.RequireTool(t, tool)
	}
	status, err := exec.Command(auditctl, "-s").CombinedOutput()
	if err != nil {
		testutil.Missing(t, "the kernel audit subsystem is not available here: %v: %s", err, status)
	}
	if bytes.Contains(status, []byte("\npid ")) && !bytes.Contains(status, []byte("\npid 0\n")) {
		testutil.Missing(t, "another audit daemon is running (auditctl -s: %s)", bytes.ReplaceAll(status, []byte("\n"), []byte(" ")))
	}
	wasEnabled := bytes.Contains(status, []byte("enabled 1"))

	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	conf := fmt.Sprintf(`local_events = yes
write_logs = yes
log_file = %s
log_format = ENRICHED
log_group = root
flush = SYNC
max_log_file = 8
num_logs = 2
max_log_file_action = IGNORE
space_left = 2
space_left_action = IGNORE
admin_space_left = 1
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
name_format = USER
name = kwlive
plugin_dir = %s
q_depth = 2000
`, log, filepath.Join(dir, "plugins"))
	if err := os.Mkdir(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auditd.conf"), []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	auid := fmt.Sprint(20000 + int(binary.BigEndian.Uint16(b[:]))%20000)
	rule := []string{"always,exit", "-F", "arch=b64", "-S", "execve", "-F", "auid=" + auid, "-k", "kwlive"}

	d := exec.Command(auditd, "-n", "-c", dir)
	var derr bytes.Buffer
	d.Stderr = &derr
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command(auditctl, append([]string{"-d"}, rule...)...).Run()
		_ = d.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = d.Process.Kill()
			<-done
		}
		if !wasEnabled {
			_ = exec.Command(auditctl, "-e", "0").Run()
		}
	})
	// Wait for auditd to register and open its log.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(log); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("auditd did not start: %s", derr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := exec.Command(auditctl, "-e", "1").CombinedOutput(); err != nil {
		t.Fatalf("auditctl -e 1: %v: %s", err, out)
	}
	if out, err := exec.Command(auditctl, append([]string{"-a"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("auditctl -a: %v: %s", err, out)
	}

	home := t.TempDir()
	script := strings.Join([]string{
		"echo " + auid + " > /proc/self/loginuid",
		"knock -d 50 127.0.0.1 7000 8000:udp 9000",
		"fwknop -A tcp/22 -a 127.0.0.1 -D 127.0.0.1 --key-rijndael 'not a key' --no-save-args",
		"for p in 7100 7200 7300; do hping3 -S -p $p -c 1 127.0.0.1; done",
		"hping3 -s 80 -c 1 127.0.0.1",
		"nping --tcp -p 7400,7500,7600 --flags syn -c 1 127.0.0.1",
		"nping --tcp -p 443 -c 1 127.0.0.1",
		"nmap -Pn -r --max-retries 0 -p 7700,7800,7900 127.0.0.1",
		"bash -c 'for p in 7010 7020 7030; do echo > /dev/tcp/127.0.0.1/$p; done'",
		"cat /etc/hostname",
	}, "\n") + "\n"
	run := exec.Command("bash", "-s")
	run.Stdin = strings.NewReader(script)
	run.Env = append(os.Environ(), "HOME="+home)
	out, _ := run.CombinedOutput() // the probes' own failures (refused ports) do not matter
	t.Logf("clients ran: %d bytes of output", len(out))

	// auditd writes synchronously; give the last records a moment.
	time.Sleep(500 * time.Millisecond)
	_ = exec.Command(auditctl, append([]string{"-d"}, rule...)...).Run()

	res, err := hunt.Run(context.Background(), hunt.Options{Paths: []string{log}, Config: config.Default(), Workers: 1, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Stats.TotalErrors(); n != 0 {
		t.Errorf("%d decode errors: %v", n, res.Stats.ErrorSamples())
	}
	var got []string
	for _, a := range res.Alerts {
		for _, m := range append([]*alert.Alert{a}, a.MemberAlerts...) {
			if m.Detector == "process" {
				got = append(got, m.Attributes["tool"]+" "+m.Dst.String()+" "+alert.SequenceString(m.Sequence))
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"bash /dev/tcp 127.0.0.1 7010/tcp,7020/tcp,7030/tcp",
		"fwknop 127.0.0.1 62201/udp",
		"hping3 127.0.0.1 7100/tcp,7200/tcp,7300/tcp",
		"knock 127.0.0.1 7000/tcp,8000/udp,9000/tcp",
		"nmap 127.0.0.1 7700/tcp,7800/tcp,7900/tcp",
		"nping 127.0.0.1 7400/tcp,7500/tcp,7600/tcp",
	}
	if !slices.Equal(got, want) {
		raw, _ := os.ReadFile(log)
		t.Errorf("process alerts from the live audit log:\n got  %q\n want %q\n(%d bytes of audit log)", got, want, len(raw))
	}
}
