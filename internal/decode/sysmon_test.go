package decode

import (
	"errors"
	"strings"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
)

func TestSysmonSamples(t *testing.T) {
	evs, errs := decodeSample(t, sysmonFormat, "testdata/sysmon/syslog.log")
	for _, err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	procs := processEvents(evs)
	want := []wantProc{
		{time: "2025-11-22T10:15:01.902Z", index: 1, op: event.OpExec, host: "ws-0142", user: "alice", image: "/usr/bin/knock",
			cl: "knock -d 200 203.0.113.10 7000 8000 9000", pid: 4188, ppid: 4121, parent: "/usr/bin/bash", pcl: "-bash", cwd: "/home/alice"},
		{index: 2, image: "/usr/bin/bash", cl: "bash -c for p in 7000 8000 9000; do echo > /dev/tcp/203.0.113.10/$p; done"},
		{index: 3, host: "ws-0077", user: "bob", cl: "hping3 -S -p 7000 -c 1 gw01.example.net"},
		{index: 4, cl: "hping3 -S -p 8000 -c 1 gw01.example.net"},
		{index: 5, cl: "hping3 -S -p 9000 -c 1 gw01.example.net"},
		{index: 6, host: "gw01", parent: "/usr/sbin/knockd", cl: "sh -c /usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT"},
		{index: 7, image: "/usr/sbin/xtables-nft-multi", parent: "/usr/bin/dash", pid: 7303, ppid: 7302},
		{index: 8, cl: "cat /etc/knockd.conf"},
		{time: "2025-11-22T10:21:30.441Z", index: 9, op: event.OpWrite, host: "gw01", user: "root", image: "/usr/bin/vim.basic", file: "/etc/knockd.conf", pid: 7410},
	}
	if len(procs) != len(want) {
		t.Fatalf("%d process events, want %d", len(procs), len(want))
	}
	for i, w := range want {
		matchProc(t, w.cl, procs[i], w)
	}
	// The netfilter line of the same file is decoded as the syslog format does.
	if len(evs)-len(procs) != 1 || evs[len(evs)-1].DstPort != 7000 {
		t.Errorf("want the netfilter attempt after the process events, got %d other events", len(evs)-len(procs))
	}

	evs, errs = decodeSample(t, sysmonFormat, "testdata/sysmon/windows.xml")
	if len(errs) != 0 || len(evs) != 1 {
		t.Fatalf("windows.xml: %d events, errors %v", len(evs), errs)
	}
	matchProc(t, "windows", evs[0], wantProc{time: "2025-11-22T10:15:01.455Z", host: "ws-0077.corp.example", user: `CORP\bob`,
		image: `C:\Users\bob\AppData\Local\Temp\svchelper.exe`, orig: "fwknop.exe",
		cl: `"C:\Users\bob\AppData\Local\Temp\svchelper.exe" -A tcp/3389 -a 198.51.100.7 -D 203.0.113.10 --use-hmac`})
}

// TestSysmonThroughCarriers: a Sysmon line reaches the decoder whatever the
// syslog carrier (the dispatch case in syslog.go).
func TestSysmonThroughCarriers(t *testing.T) {
	xml := `<Event><System><Provider Name="Linux-Sysmon"/><EventID>1</EventID><Computer>ws-0142</Computer></System><EventData><Data Name="UtcTime">2025-11-22 10:15:01.901</Data><Data Name="ProcessId">4188</Data><Data Name="Image">/usr/bin/knock</Data><Data Name="CommandLine">knock 203.0.113.10 7000 &amp; echo &lt;x&gt;</Data><Data Name="User">alice</Data></EventData></Event>`
	for name, line := range map[string]string{
		"rfc3164":         "Nov 22 10:15:01 ws-0142 sysmon: " + xml,
		"rfc3164 pri":     "<14>Nov 22 10:15:01 ws-0142 sysmon[733]: " + xml,
		"rfc5424":         "<14>1 2025-11-22T10:15:01.902113Z ws-0142 sysmon 733 - - " + xml,
		"rsyslog rfc3339": "2025-11-22T10:15:01.902113+00:00 ws-0142 sysmon: " + xml,
	} {
		for _, f := range []Format{syslogFormat, sysmonFormat} {
			evs, err := f.New(fixedOpts).Decode([]byte(line), event.Origin{Input: 1, Index: 1}, nil)
			if err != nil || len(evs) != 1 {
				t.Errorf("%s via %s: %d events, %v", name, f.Name, len(evs), err)
				continue
			}
			matchProc(t, name, evs[0], wantProc{time: "2025-11-22T10:15:01.901Z", host: "ws-0142", cl: "knock 203.0.113.10 7000 & echo <x>"})
		}
	}
	// journalctl -o json: the tag is SYSLOG_IDENTIFIER, the XML a JSON string.
	jx := strings.ReplaceAll(xml, `"`, `\"`)
	jline := `{"__REALTIME_TIMESTAMP":"1763806501902113","_HOSTNAME":"ws-0142","SYSLOG_IDENTIFIER":"sysmon","PRIORITY":"6","MESSAGE":"` + jx + `"}`
	evs, err := journaldFormat.New(fixedOpts).Decode([]byte(jline), event.Origin{Input: 1, Index: 1}, nil)
	if err != nil || len(evs) != 1 {
		t.Errorf("journald: %d events, %v", len(evs), err)
	} else {
		matchProc(t, "journald", evs[0], wantProc{time: "2025-11-22T10:15:01.901Z", host: "ws-0142", user: "alice"})
	}
	// Sysmon's own status messages are not events.
	evs, err = syslogFormat.New(fixedOpts).Decode([]byte("Nov 22 10:15:01 ws-0142 sysmon: Sysmon started."), event.Origin{Input: 1, Index: 1}, nil)
	if err != nil || len(evs) != 0 {
		t.Errorf("status line: %d events, %v", len(evs), err)
	}
}

func TestSysmonErrors(t *testing.T) {
	evs, errs := decodeSample(t, sysmonFormat, "testdata/sysmon/bad.log")
	want := []wantErr{
		{ReasonMalformed, "Event", 0},
		{ReasonBadField, "EventID", 0},
		{ReasonBadTime, "UtcTime", 0},
		{ReasonMissingField, "Image", 0},
		{ReasonMissingField, "TargetFilename", 0},
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, w := range want {
		var de *Error
		if !errors.As(errs[i], &de) || de.Reason != w.reason || de.Field != w.field {
			t.Errorf("error %d: %v, want %v %s", i, errs[i], w.reason, w.field)
		}
		if de != nil && de.Column != strings.Index(string(sampleRecords(t, "testdata/sysmon/bad.log")[i].line), "<Event")+1 {
			t.Errorf("error %d: column %d, want the column of <Event", i, de.Column)
		}
	}
	if len(evs) != 1 || evs[0].Process.PID != 4190 {
		t.Fatalf("want the one good event (pid 4190), got %+v", evs)
	}
}

// TestSysmonAllocs: the lines of other programs in a syslog file pass
// through the sysmon format without allocating.
func TestSysmonAllocs(t *testing.T) {
	d := sysmonFormat.New(fixedOpts)
	line := []byte("Nov 22 10:15:03 gw01 sshd[811]: Accepted publickey for alice from 198.51.100.7 port 51600 ssh2")
	dst := make([]event.Event, 0, 4)
	if n := testing.AllocsPerRun(100, func() { dst, _ = d.Decode(line, event.Origin{Input: 1, Index: 1}, dst[:0]) }); n != 0 {
		t.Errorf("%v allocations per other line, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { sniffSysmon(line) }); n != 0 {
		t.Errorf("sniff: %v allocations, want 0", n)
	}
}

func FuzzSysmon(f *testing.F) {
	addSeeds(f, "sysmon")
	addSmallSeeds(f, "sysmon")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzProcessStream(t, sysmonFormat, data) })
}

func BenchmarkSysmon(b *testing.B) {
	benchProcessFormat(b, sysmonFormat, "testdata/sysmon/syslog.log")
}
