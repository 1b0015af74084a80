// Package e2e holds the end-to-end test: it starts the lab (lab/e2e.sh:
// network namespaces, a logging default-drop firewall, real knockd, fwknopd
// and tcpdump), runs a real knock, a real fwknop SPA and a real nmap scan
// against the protected host, then runs knockwatch (hunt.Run, the engine
// every command uses) over what the host recorded and checks the alerts.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/cli"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

// The lab's addresses (lab/lib.sh).
const (
	gwIP    = "203.0.113.10"
	knocker = "198.51.100.7"
	spaIP   = "198.51.100.8"
	scanner = "192.0.2.66"
)

// runLab runs lab/e2e.sh into a temporary folder. The script removes all
// it created on exit; if the test gives up first, the script's process
// group is sent SIGTERM (its trap still tears the lab down) and, should
// that hang, the script is killed.
func runLab(t *testing.T) string {
	testutil.Require(t, "root")
	for _, tool := range []string{"ip", "iptables", "knockd", "knock", "fwknopd", "fwknop", "tcpdump", "nmap", "hping3", "masscan", "ncat", "curl", "ping"} {
		testutil.RequireTool(t, tool)
	}
	script, err := filepath.Abs("../../lab/e2e.sh")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "e2e")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, out)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout, SIGTERM the script's process group: the script's trap
	// tears the lab down (namespaces, daemons, the sysctl it set).
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	start := time.Now()
	b, err := cmd.CombinedOutput()
	t.Logf("lab/e2e.sh ran in %s", time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("lab/e2e.sh: %v\n%s", err, b)
	}
	for _, f := range []string{"fw.log", "capture.pcap", "knockd.log", "fwknopd.log", "labels.jsonl", "boot-time"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Fatalf("the lab wrote no %s (%v)\n%s", f, err, b)
		}
	}
	return out
}

func bootTime(t *testing.T, dir string) time.Time {
	b, err := os.ReadFile(filepath.Join(dir, "boot-time"))
	if err != nil {
		t.Fatal(err)
	}
	bt, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return bt
}

func huntFiles(t *testing.T, dir string, files ...string) []*alert.Alert {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(dir, f))
	}
	res, err := hunt.Run(context.Background(), hunt.Options{
		Paths:    paths,
		Config:   config.Default(),
		Location: time.UTC,
		BootTime: bootTime(t, dir),
		Packets:  cli.PacketOpener(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IOErrors) > 0 {
		t.Fatalf("hunt: %v", errors.Join(res.IOErrors...))
	}
	if res.Stats.Events.Load() == 0 {
		t.Fatalf("hunt over %v decoded no events", files)
	}
	// The correlator shows the alerts it joins inside their incident; the
	// checks look at every detector's own alerts, so list members too.
	var all []*alert.Alert
	var walk func([]*alert.Alert)
	walk = func(as []*alert.Alert) {
		for _, a := range as {
			all = append(all, a)
			walk(a.MemberAlerts)
		}
	}
	walk(res.Alerts)
	return all
}

func find(alerts []*alert.Alert, src, detector string, minSev alert.Severity) []*alert.Alert {
	var out []*alert.Alert
	for _, a := range alerts {
		if a.Src.String() == src && a.Detector == detector && a.Severity >= minSev {
			out = append(out, a)
		}
	}
	return out
}

func dump(alerts []*alert.Alert) string {
	var b strings.Builder
	for _, a := range alerts {
		fmt.Fprintf(&b, "  %s %s %s %s: %s\n", a.Detector, a.Severity, a.Src, a.ID, a.Summary)
	}
	return b.String()
}

// checkKnockAndScan holds for both inputs: the knock alerts at medium or
// more and names the connection that followed; the scan raises no knock or
// SPA alert of medium or more.
func checkKnockAndScan(t *testing.T, alerts []*alert.Alert) {
	t.Helper()
	knocks := find(alerts, knocker, "sequence", alert.SeverityMedium)
	if len(knocks) == 0 {
		t.Errorf("no knock alert (medium+) for %s:\n%s", knocker, dump(alerts))
	} else {
		last := knocks[len(knocks)-1]
		if got := alert.SequenceString(last.Sequence); !strings.HasPrefix(got, "7000/tcp,8000/tcp,9000/tcp") {
			t.Errorf("knock sequence %s, want 7000/tcp,8000/tcp,9000/tcp", got)
		}
		if last.FollowedBy == nil || last.FollowedBy.Port != 22 {
			t.Errorf("knock alert %s does not name the connection to 22/tcp that followed", last.ID)
		}
		if last.Dst.String() != gwIP {
			t.Errorf("knock alert dst %s, want %s", last.Dst, gwIP)
		}
	}
	for _, det := range []string{"sequence", "spa"} {
		if bad := find(alerts, scanner, det, alert.SeverityMedium); len(bad) > 0 {
			t.Errorf("the scan raised %s alerts of medium+:\n%s", det, dump(bad))
		}
	}
	if len(find(alerts, scanner, "scan", alert.SeverityInfo)) == 0 {
		t.Errorf("no scan finding for %s:\n%s", scanner, dump(alerts))
	}
}

func TestLab(t *testing.T) {
	dir := runLab(t)

	t.Run("logs", func(t *testing.T) {
		alerts := huntFiles(t, dir, "fw.log", "knockd.log", "fwknopd.log")
		checkKnockAndScan(t, alerts)
		// In the firewall log an SPA packet is one dropped datagram: only
		// the daemon's own log says it was an SPA.
		if len(find(alerts, spaIP, "daemon", alert.SeverityLow)) == 0 {
			t.Errorf("no daemon finding for the SPA from %s in fwknopd.log:\n%s", spaIP, dump(alerts))
		}
	})

	t.Run("capture", func(t *testing.T) {
		if cli.PacketOpener() == nil {
			t.Fatal("this build has no packet capture input")
		}
		alerts := huntFiles(t, dir, "capture.pcap")
		checkKnockAndScan(t, alerts)
		spa := find(alerts, spaIP, "spa", alert.SeverityMedium)
		if len(spa) == 0 {
			t.Fatalf("no SPA alert (medium+) for %s:\n%s", spaIP, dump(alerts))
		}
		if last := spa[len(spa)-1]; last.FollowedBy == nil || last.FollowedBy.Port != 22 {
			t.Errorf("SPA alert %s does not name the connection to 22/tcp that followed", last.ID)
		}
	})
}
