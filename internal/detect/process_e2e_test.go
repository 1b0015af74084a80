package detect_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
)

// TestProcessHuntSamples runs the whole hunt (sniffing, decoding, engine,
// detectors) over the process-event samples of package decode: the auditd
// records captured from real knock, fwknop, hping3, nping, nmap, nc, ncat,
// telnet, bash, knockd and fwknopd runs (testdata/auditd/README.md), and
// the Sysmon, Defender and ECS samples built from their specs. Every client
// run, door and config change they hold is reported once; the negatives
// captured beside them (hping3 -s 80, --scan, --flood, nping -p 443, a
// single ncat or telnet, cat and grep of knockd.conf, fwknopd's start-up
// iptables probes) are not.
func TestProcessHuntSamples(t *testing.T) {
	dir := filepath.Join("..", "decode", "testdata")
	var paths []string
	for _, f := range []string{"auditd/enriched-clients.log", "auditd/enriched-loops-files.log", "auditd/raw-node-fwknopd.log",
		"auditd/long-argument.log", "sysmon/syslog.log", "sysmon/windows.xml", "defender/portal.csv", "defender/file-events.csv", "ecs/events.json"} {
		paths = append(paths, filepath.Join(dir, f))
	}
	res, err := hunt.Run(context.Background(), hunt.Options{Paths: paths, Config: config.Default(), Location: time.UTC, Workers: 1, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Stats.TotalErrors(); n != 0 {
		t.Errorf("%d decode errors: %v", n, res.Stats.ErrorSamples())
	}
	var got []string
	for _, a := range res.Alerts {
		for _, m := range append([]*alert.Alert{a}, a.MemberAlerts...) {
			if m.Detector != "process" {
				continue
			}
			target := m.Attributes["target"]
			if m.Dst.IsValid() {
				target = m.Dst.String()
			}
			if m.Src.IsValid() {
				target = "from " + m.Src.String()
			}
			if p := m.Attributes["path"]; p != "" {
				target = p
			}
			got = append(got, strings.Join([]string{m.Host, m.Attributes["event"], m.Attributes["tool"], target, alert.SequenceString(m.Sequence)}, " | "))
		}
	}
	slices.Sort(got)
	want := []string{
		// auditd, captured (no node=: no host)
		" | client_run | bash /dev/tcp | 192.0.2.10 | 7000/tcp,8000/tcp,9000/tcp",
		" | client_run | fwknop | 192.0.2.10 | 443/tcp",
		" | client_run | fwknop | 192.0.2.10 | 62201/udp",
		" | client_run | hping3 | 192.0.2.10 | 7000/tcp,8000/tcp,9000/udp",
		" | client_run | knock | 192.0.2.10 | 7000/tcp,8000/tcp,9000/tcp",
		" | client_run | knock | 192.0.2.10 | 8284/udp,4721/udp,18592/udp",
		" | client_run | nc | 192.0.2.10 | 7000/tcp,8000/tcp,9000/tcp",
		" | client_run | nmap | 192.0.2.10 | 7000/tcp,8000/tcp,9000/tcp", // -r list
		" | client_run | nmap | 192.0.2.10 | 7000/tcp,8000/tcp,9000/tcp", // one port per run
		" | client_run | nping | 192.0.2.10 | 7000/tcp,8000/tcp,9000/tcp",
		" | config_changed | bash | /tmp/kwaudit/etc/fwknop/access.conf | ",
		" | config_changed | bash | /tmp/kwaudit/etc/knockd.conf | ",
		"gw01 | config_changed | vim.basic | /etc/knockd.conf | ", // Sysmon and ECS record the same change: one alert
		"gw01 | door_opened | iptables | from 198.51.100.7 | ",
		"gw01.corp.example | config_changed | cp | /etc/fwknop/access.conf | ",
		"gw01.corp.example | config_changed | vim.basic | /etc/knockd.conf | ",
		"gw01.corp.example | door_opened | iptables | from 198.51.100.7 | ",
		"vm | client_run | fwknop | 192.0.2.10 | 62201/udp",
		"vm | door_opened | iptables | from 192.0.2.7 | ",
		"ws-0077 | client_run | hping3 | gw01.example.net | 7000/tcp,8000/tcp,9000/tcp",
		"ws-0077.corp.example | client_run | fwknop | 203.0.113.10 | 62201/udp", // fwknop.exe, Defender
		"ws-0077.corp.example | client_run | fwknop | 203.0.113.10 | 62201/udp", // renamed, Sysmon
		"ws-0077.corp.example | client_run | fwknop | 203.0.113.10 | 62201/udp", // renamed, Defender and ECS: one run
		"ws-0142 | client_run | bash /dev/tcp | 203.0.113.10 | 7000/tcp,8000/tcp,9000/tcp",
		"ws-0142 | client_run | knock | 203.0.113.10 | 7000/tcp,8000/tcp,9000/tcp",
		"ws-0142 | client_run | nmap | 203.0.113.10 | 7000/tcp,8000/tcp,9000/tcp",
		"ws-0142 | client_run | nping | 203.0.113.10 | 7000/tcp,8000/tcp,9000/tcp",
		"ws-0142.corp.example | client_run | knock | 203.0.113.10 | 7000/tcp,8000/tcp,9000/tcp",
		"ws-0142.corp.example | client_run | nc | 203.0.113.10 | 7000/tcp,8000/tcp,9000/tcp",
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("process alerts:\n got %d:\n  %s\n want %d:\n  %s", len(got), strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
	}
}
