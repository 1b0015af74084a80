package decode

import (
	"errors"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
)

func TestDefenderSamples(t *testing.T) {
	knock := wantProc{time: "2025-11-22T10:15:01.902Z", op: event.OpExec, host: "ws-0142.corp.example", user: "alice",
		image: "/usr/bin/knock", cl: "knock -d 200 203.0.113.10 7000 8000 9000", pid: 4188, ppid: 4121,
		parent: "/usr/bin/bash", pcl: "-bash", gp: "sshd"}
	fwknop := wantProc{time: "2025-11-22T10:15:01.455Z", host: "ws-0077.corp.example", user: "bob",
		image: `C:\Tools\fwknop\fwknop.exe`, orig: "fwknop.exe", cl: "fwknop.exe -A tcp/3389 -a 198.51.100.7 -D 203.0.113.10 --use-hmac",
		parent: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, pcl: `"powershell.exe" -NoProfile`}
	renamed := wantProc{image: `C:\Users\bob\AppData\Local\Temp\svchelper.exe`, orig: "fwknop.exe"}
	iptables := wantProc{time: "2025-11-22T10:15:02.135Z", host: "gw01.corp.example", image: "/usr/sbin/xtables-nft-multi",
		cl: "/usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", parent: "/usr/bin/dash", gp: "knockd", pid: 7303, ppid: 7302}
	tests := []struct {
		file string
		want []wantProc
	}{
		{"portal.csv", []wantProc{
			func() wantProc { w := knock; w.index = 2; return w }(), fwknop, renamed,
			{index: 5, cl: "bash -c for p in 7000 8000 9000; do nc -z -w1 203.0.113.10 $p; done", pid: 4400},
			{cl: "nc -z -w1 203.0.113.10 7000", ppid: 4400, gp: "bash"}, {cl: "nc -z -w1 203.0.113.10 8000"}, {cl: "nc -z -w1 203.0.113.10 9000"},
			iptables,
			{user: "nagios", cl: "nping --tcp -p 443 -c 1 203.0.113.10"},
			{cl: "cat /etc/knockd.conf"},
			// A quoted command line with commas, quotes and a line break:
			// the record spans two lines and keeps its first line number.
			{index: 12, orig: "PowerShell.EXE", cl: "\"powershell.exe\" -Command \"7000,8000,9000 | % {\n Test-NetConnection 203.0.113.10 -Port $_ }\""},
		}},
		{"rows.json", []wantProc{func() wantProc { w := knock; w.index = 1; return w }(), fwknop, renamed}},
		{"streaming.json", []wantProc{{cl: "nc -z -w1 203.0.113.10 8000", index: 1}, {cl: "nc -z -w1 203.0.113.10 9000"}, iptables}},
		{"file-events.csv", []wantProc{
			{time: "2025-11-22T10:21:30.441Z", op: event.OpWrite, host: "gw01.corp.example", user: "root", file: "/etc/knockd.conf",
				image: "/usr/bin/vim.basic", cl: "vim /etc/knockd.conf", pid: 7410, parent: "bash"},
			{op: event.OpWrite, file: "/etc/fwknop/access.conf", image: "/usr/bin/cp"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, errs := decodeSample(t, defenderFormat, "testdata/defender/"+tt.file)
			for _, err := range errs {
				t.Errorf("unexpected error: %v", err)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(evs), len(tt.want))
			}
			for i, w := range tt.want {
				matchProc(t, tt.file, evs[i], w)
			}
		})
	}
}

func TestDefenderRows(t *testing.T) {
	header := "Timestamp [UTC],DeviceName,ActionType,FileName,FolderPath,ProcessCommandLine,InitiatingProcessFileName"
	cases := []struct {
		name  string
		lines []string
		want  []wantProc
		err   *wantErr
	}{
		{"portal time and [UTC] column", []string{header, `"11/22/2025, 10:15:01.902 AM",ws-0142,ProcessCreated,knock,/usr/bin/knock,knock 203.0.113.10 7000,bash`},
			[]wantProc{{time: "2025-11-22T10:15:01.902Z", image: "/usr/bin/knock", cl: "knock 203.0.113.10 7000", parent: "bash"}}, nil},
		{"other action types yield nothing", []string{header, `2025-11-22T10:15:01Z,ws-0142,OpenProcessApiCall,knock,/usr/bin/knock,x,bash`}, nil, nil},
		{"folder without the file name", []string{"Timestamp,DeviceName,ActionType,FileName,FolderPath,InitiatingProcessFileName",
			`2025-11-22T10:15:01Z,gw01,FileModified,knockd.conf,/etc,vim`}, []wantProc{{op: event.OpWrite, file: "/etc/knockd.conf"}}, nil},
		{"deleted file", []string{"Timestamp,DeviceName,ActionType,FileName,FolderPath,InitiatingProcessFileName",
			`2025-11-22T10:15:01Z,gw01,FileDeleted,access.conf,C:\ProgramData\fwknop\access.conf,cmd.exe`},
			[]wantProc{{op: event.OpDelete, file: `C:\ProgramData\fwknop\access.conf`}}, nil},
		{"JSON array on one line", []string{`[{"Timestamp":"2025-11-22T10:15:01.9020000Z","DeviceName":"a","FileName":"knock","ProcessCommandLine":"knock h 1"},{"Timestamp":"2025-11-22T10:15:02Z","DeviceName":"b","FileName":"knock","ProcessCommandLine":"knock h 2"}]`},
			[]wantProc{{host: "a", cl: "knock h 1"}, {host: "b", cl: "knock h 2"}}, nil},
		{"API Results envelope", []string{`{"Schema":[{"Name":"Timestamp","Type":"DateTime"}],"Results":[{"Timestamp":"2025-11-22T10:15:01Z","DeviceName":"a","FileName":"knock","ProcessId":41,"ProcessCommandLine":"knock h 1"}]}`},
			[]wantProc{{host: "a", pid: 41}}, nil},
		{"record before any header", []string{`2025-11-22T10:15:01Z,ws-0142,ProcessCreated,knock,/usr/bin/knock,knock h 1,bash`}, nil, &wantErr{ReasonBadHeader, "", 0}},
		{"JSON that is not one value", []string{`{"Timestamp":`}, nil, &wantErr{ReasonMalformed, "", 0}},
		{"JSON row without Timestamp", []string{`{"DeviceName":"a","ProcessCommandLine":"knock h 1"}`}, nil, &wantErr{ReasonMissingField, "Timestamp", 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := defenderFormat.New(fixedOpts)
			var evs []event.Event
			var last error
			for i, l := range c.lines {
				origin := event.Origin{Input: 1, Index: uint64(i + 1)}
				n := len(evs)
				var err error
				evs, err = d.Decode([]byte(l), origin, evs)
				checkDecoded(t, []byte(l), origin, evs[n:], err)
				if err != nil {
					last = err
				}
			}
			if c.err != nil {
				matchErr(t, c.name, last, *c.err)
				return
			}
			if last != nil {
				t.Fatalf("unexpected error %v", last)
			}
			if len(evs) != len(c.want) {
				t.Fatalf("%d events, want %d", len(evs), len(c.want))
			}
			for i, w := range c.want {
				matchProc(t, c.name, evs[i], w)
			}
		})
	}
}

func TestDefenderErrors(t *testing.T) {
	evs, errs := decodeSample(t, defenderFormat, "testdata/defender/bad.csv")
	want := []Reason{ReasonTruncated, ReasonBadTime, ReasonMalformed, ReasonMissingField}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, w := range want {
		var de *Error
		if !errors.As(errs[i], &de) || de.Reason != w {
			t.Errorf("error %d: %v, want %v", i, errs[i], w)
		}
	}
	if len(evs) != 1 || evs[0].Process.CommandLine != `knock "203.0.113.10" 7000 8000 9000` {
		t.Fatalf("want the one good row with its quotes, got %+v", evs)
	}
}

func FuzzDefender(f *testing.F) {
	addSeeds(f, "defender")
	addSmallSeeds(f, "defender")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzProcessStream(t, defenderFormat, data) })
}

func BenchmarkDefender(b *testing.B) {
	benchProcessFormat(b, defenderFormat, "testdata/defender/portal.csv")
}
