package decode

import (
	"errors"
	"testing"

	"github.com/knockwatch/knockwatch/internal/event"
)

func TestEcsSamples(t *testing.T) {
	evs, errs := decodeSample(t, ecsFormat, "testdata/ecs/events.json")
	for _, err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	want := []wantProc{
		{time: "2025-11-22T10:15:01.902Z", index: 1, op: event.OpExec, host: "ws-0142", user: "alice", image: "/usr/bin/knock",
			argv: []string{"knock", "-v", "203.0.113.10", "7000", "8000", "9000"}, cl: "knock -v 203.0.113.10 7000 8000 9000",
			pid: 4188, ppid: 4121, parent: "/usr/bin/bash", pcl: "-bash", cwd: "/home/alice"},
		{index: 2, user: "root", login: "alice", image: "/usr/bin/nmap", parent: "/usr/bin/sudo", pid: 4501, ppid: 4500},
		{index: 3, host: "ws-0142", user: "alice", image: "/usr/bin/nping", argv: []string{"nping", "--tcp", "-p", "7000,8000,9000", "--flags", "syn", "-c", "1", "203.0.113.10"}, pid: 4600, parent: "/usr/bin/bash", ppid: 4121},
		{index: 5, op: event.OpWrite, host: "gw01", file: "/etc/knockd.conf", image: "/usr/bin/vim.basic", pid: 7410},
		{index: 8, host: "gw01", image: "/usr/sbin/xtables-nft-multi", parent: "/usr/bin/dash", pid: 7303, cwd: "/"},
		{index: 9, host: "ws-0077.corp.example", user: "bob", orig: "fwknop.exe", image: `C:\Users\bob\AppData\Local\Temp\svchelper.exe`, parent: `C:\Windows\System32\cmd.exe`},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, w := range want {
		matchProc(t, "events.json", evs[i], w)
	}
}

func TestEcsDocuments(t *testing.T) {
	cases := []lineCaseProc{
		{"epoch milliseconds", `{"@timestamp":1763806501902,"event":{"category":"process","type":"start"},"process":{"executable":"/usr/bin/knock","args":["knock","h","1"]}}`,
			[]wantProc{{time: "2025-11-22T10:15:01.902Z", image: "/usr/bin/knock"}}, nil},
		{"no event fields but process.args", `{"@timestamp":"2025-11-22T10:15:01Z","process":{"name":"knock","args":["knock","h","1"]}}`,
			[]wantProc{{image: "knock", argv: []string{"knock", "h", "1"}}}, nil},
		{"mixed nesting", `{"@timestamp":"2025-11-22T10:15:01Z","event.category":["process"],"process":{"parent.name":"bash","args":["knock"],"parent":{"pid":7}}}`,
			[]wantProc{{parent: "bash", ppid: 7}}, nil},
		{"string pid", `{"@timestamp":"2025-11-22T10:15:01Z","event":{"category":"process"},"process":{"pid":"41","args":["x"]}}`, []wantProc{{pid: 41}}, nil},
		{"parent args joined", `{"@timestamp":"2025-11-22T10:15:01Z","event":{"category":"process"},"process":{"args":["x"],"parent":{"args":["sh","-c","x"]}}}`,
			[]wantProc{{pcl: "sh -c x"}}, nil},
		{"file deletion", `{"@timestamp":"2025-11-22T10:15:01Z","event":{"category":["file"],"type":["deletion"]},"file":{"path":"/etc/fwknop/fwknopd.conf"}}`,
			[]wantProc{{op: event.OpDelete, file: "/etc/fwknop/fwknopd.conf"}}, nil},
		{"network document", `{"@timestamp":"2025-11-22T10:15:01Z","event":{"category":["network"]},"process":{"args":["x"]}}`, nil, nil},
		{"not an object", `["@timestamp"]`, nil, &wantErr{ReasonMalformed, "", 1}},
		{"bad JSON", `{"@timestamp":`, nil, &wantErr{ReasonMalformed, "", 0}},
		{"no @timestamp", `{"event":{"category":"process"},"process":{"args":["x"]}}`, nil, &wantErr{ReasonMissingField, "@timestamp", 0}},
		{"bad @timestamp", `{"@timestamp":true,"event":{"category":"process"},"process":{"args":["x"]}}`, nil, &wantErr{ReasonBadTime, "@timestamp", 0}},
		{"huge epoch", `{"@timestamp":99999999999999999,"event":{"category":"process"},"process":{"args":["x"]}}`, nil, &wantErr{ReasonBadTime, "@timestamp", 0}},
		{"process without anything", `{"@timestamp":"2025-11-22T10:15:01Z","event":{"category":"process","type":"start"}}`, nil, &wantErr{ReasonMissingField, "process.executable", 0}},
	}
	runProcCases(t, ecsFormat, cases)
}

// lineCaseProc is one record and what a process-event decoder must make of it.
type lineCaseProc struct {
	name string
	line string
	want []wantProc
	err  *wantErr
}

func runProcCases(t *testing.T, f Format, cases []lineCaseProc) {
	t.Helper()
	for _, c := range cases {
		origin := event.Origin{Input: 1, Index: 1}
		evs, err := f.New(fixedOpts).Decode([]byte(c.line), origin, nil)
		checkDecoded(t, []byte(c.line), origin, evs, err)
		if c.err != nil {
			matchErr(t, c.name, err, *c.err)
			continue
		}
		if err != nil {
			t.Errorf("%s: unexpected error %v", c.name, err)
			continue
		}
		if len(evs) != len(c.want) {
			t.Errorf("%s: %d events, want %d", c.name, len(evs), len(c.want))
			continue
		}
		for i, w := range c.want {
			matchProc(t, c.name, evs[i], w)
		}
	}
}

func TestEcsErrors(t *testing.T) {
	evs, errs := decodeSample(t, ecsFormat, "testdata/ecs/bad.json")
	want := []wantErr{
		{ReasonMalformed, "", 0},
		{ReasonMalformed, "", 1},
		{ReasonMissingField, "@timestamp", 0},
		{ReasonBadTime, "@timestamp", 0},
		{ReasonMissingField, "file.path", 0},
		{ReasonMissingField, "process.executable", 0},
	}
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, w := range want {
		var de *Error
		if !errors.As(errs[i], &de) || de.Reason != w.reason || de.Field != w.field {
			t.Errorf("error %d: %v, want %v %s", i, errs[i], w.reason, w.field)
		}
	}
	if len(evs) != 1 || evs[0].Process.PID != 4190 {
		t.Fatalf("want the one good document (pid 4190), got %+v", evs)
	}
}

func FuzzEcs(f *testing.F) {
	addSeeds(f, "ecs")
	addSmallSeeds(f, "ecs")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzProcessStream(t, ecsFormat, data) })
}

func BenchmarkEcs(b *testing.B) {
	benchProcessFormat(b, ecsFormat, "testdata/ecs/events.json")
}
