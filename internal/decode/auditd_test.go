package decode

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

// wantProc is what a test expects of a process event; empty fields (and a
// nil argv) are not checked.
type wantProc struct {
	time        string // RFC 3339 with fraction, UTC
	index       uint64
	op          string
	host, user  string
	login       string
	image, orig string
	argv        []string
	cl          string
	pid, ppid   int64
	parent, pcl string
	gp          string
	file, cwd   string
}

func matchProc(t *testing.T, where string, ev event.Event, w wantProc) {
	t.Helper()
	if ev.Kind != event.KindProcess || ev.Process == nil {
		t.Errorf("%s: kind %v, want a process event", where, ev.Kind)
		return
	}
	p := ev.Process
	if w.time != "" {
		wt, err := time.Parse(time.RFC3339Nano, w.time)
		if err != nil {
			t.Fatalf("%s: bad want time %q", where, w.time)
		}
		if ev.Time != wt.UnixNano() {
			t.Errorf("%s: time %s, want %s", where, time.Unix(0, ev.Time).UTC().Format(time.RFC3339Nano), w.time)
		}
	}
	check := func(field, got, want string) {
		if want != "" && got != want {
			t.Errorf("%s: %s %q, want %q", where, field, got, want)
		}
	}
	if w.index != 0 && ev.Origin.Index != w.index {
		t.Errorf("%s: origin line %d, want %d", where, ev.Origin.Index, w.index)
	}
	check("operation", p.Operation, w.op)
	check("host", p.Host, w.host)
	check("user", p.User, w.user)
	check("login user", p.LoginUser, w.login)
	check("image", p.Image, w.image)
	check("original name", p.OriginalName, w.orig)
	check("command line", p.CommandLine, w.cl)
	check("parent", p.ParentImage, w.parent)
	check("parent command line", p.ParentCommandLine, w.pcl)
	check("grandparent", p.GrandparentImage, w.gp)
	check("file", p.FilePath, w.file)
	check("working dir", p.WorkingDir, w.cwd)
	if w.argv != nil && !reflect.DeepEqual(p.Argv, w.argv) {
		t.Errorf("%s: argv %q, want %q", where, p.Argv, w.argv)
	}
	if w.pid != 0 && p.PID != w.pid {
		t.Errorf("%s: pid %d, want %d", where, p.PID, w.pid)
	}
	if w.ppid != 0 && p.PPID != w.ppid {
		t.Errorf("%s: ppid %d, want %d", where, p.PPID, w.ppid)
	}
}

// decodeSample decodes a sample file with a fresh decoder of format and
// checks what every decoder owes every record.
func decodeSample(t *testing.T, f Format, path string) ([]event.Event, []error) {
	t.Helper()
	d := f.New(fixedOpts)
	var evs []event.Event
	var errs []error
	for _, r := range sampleRecords(t, path) {
		origin := event.Origin{Input: 1, Index: r.index}
		n := len(evs)
		var err error
		evs, err = d.Decode(r.line, origin, evs)
		checkDecoded(t, r.line, origin, evs[n:], err)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", r.index, err))
		}
	}
	if fl, ok := d.(Flusher); ok {
		evs = fl.Flush(evs)
	}
	return evs, errs
}

// processEvents keeps the process events of evs (a syslog file also yields
// firewall attempts).
func processEvents(evs []event.Event) []event.Event {
	var out []event.Event
	for _, ev := range evs {
		if ev.Kind == event.KindProcess {
			out = append(out, ev)
		}
	}
	return out
}

// findProc returns the first process event whose argv (or command line)
// starts with prefix, for tests that pick events out of a real capture.
func findProc(evs []event.Event, prefix string) (event.Event, bool) {
	for _, ev := range evs {
		if ev.Process == nil {
			continue
		}
		s := ev.Process.CommandLine
		if len(ev.Process.Argv) > 0 {
			s = strings.Join(ev.Process.Argv, " ")
		}
		if strings.HasPrefix(s, prefix) {
			return ev, true
		}
	}
	return event.Event{}, false
}

func TestAuditdSamples(t *testing.T) {
	root, uid := "root", "0"
	tests := []struct {
		file  string
		count int
		want  map[string]wantProc // keyed by argv prefix
	}{
		{"enriched-clients.log", 22, map[string]wantProc{
			"knock -v": {time: "2026-11-22T17:10:12.307Z", op: event.OpExec, user: root, login: "4242", image: "/usr/bin/knock",
				argv: []string{"knock", "-v", "192.0.2.10", "7000", "8000", "9000"}, pid: 18285, ppid: 18280, cwd: "/tmp/kwaudit", index: 16},
			"fwknop -A tcp/22":      {argv: []string{"fwknop", "-A", "tcp/22", "-a", "192.0.2.7", "-D", "192.0.2.10", "--key-rijndael", "correct horse", "--no-save-args"}},
			"sh -c":                 {image: "/usr/bin/dash", argv: []string{"sh", "-c", "/usr/sbin/iptables -A INPUT -s 192.0.2.7 -p tcp --dport 22 -j ACCEPT"}, pid: 18288, ppid: 18287},
			"/usr/sbin/iptables -A": {image: "/usr/sbin/xtables-nft-multi", ppid: 18288},
			"hping3 -s 80":          {argv: []string{"hping3", "-s", "80", "-c", "1", "192.0.2.10"}},
		}},
		{"enriched-loops-files.log", 25, map[string]wantProc{
			"bash -c":     {argv: []string{"bash", "-c", "for p in 7000 8000 9000; do nc -z -w1 192.0.2.10 $p; done"}, pid: 20304},
			"nc -z":       {image: "/usr/bin/nc.openbsd", ppid: 20304, argv: []string{"nc", "-z", "-w1", "192.0.2.10", "7000"}},
			"sed -i":      {op: event.OpExec},
			"cat /tmp":    {op: event.OpExec},
			"telnet":      {image: "/usr/bin/inetutils-telnet"},
			"bash -s":     {op: event.OpWrite, file: "/tmp/kwaudit/etc/knockd.conf", image: "/usr/bin/bash", time: "2026-11-22T17:11:12.331Z"},
			"ncat -z":     {argv: []string{"ncat", "-z", "192.0.2.10", "7000"}},
			"nmap -Pn -r": {argv: []string{"nmap", "-Pn", "-r", "--max-retries", "0", "-p", "7000,8000,9000", "192.0.2.10"}},
		}},
		{"raw-node-fwknopd.log", 29, map[string]wantProc{
			"/usr/sbin/fwknopd":                  {host: "vm", user: uid, login: "4242", image: "/usr/sbin/fwknopd", pid: 20859},
			"/usr/sbin/iptables -A FWKNOP_INPUT": {host: "vm", ppid: 20859, argv: []string{"/usr/sbin/iptables", "-A", "FWKNOP_INPUT", "-t", "filter", "-p", "6", "-s", "192.0.2.7", "-d", "0.0.0.0/0", "--dport", "22", "-m", "comment", "--comment", "_exp_1795367509", "-j", "ACCEPT"}},
		}},
		{"long-argument.log", 2, map[string]wantProc{
			"bash -c for p in 7000 8000 9000; do echo > /dev/tcp/192.0.2.10/$p; done; : xxx": {image: "/usr/bin/bash", pid: 20314},
		}},
		{"dmesg.log", 1, map[string]wantProc{
			"knock -v 127.0.0.1": {time: "2026-11-22T17:30:07.531Z", user: uid, login: "4242", image: "/usr/bin/knock", pid: 28907},
		}},
		{"ausearch.log", 3, map[string]wantProc{
			"knock -u -d 100": {argv: []string{"knock", "-u", "-d", "100", "192.0.2.10", "8284:udp", "4721", "18592:tcp"}, pid: 18326, cwd: "/tmp/kwaudit"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			evs, errs := decodeSample(t, auditdFormat, "testdata/auditd/"+tt.file)
			for _, err := range errs {
				t.Errorf("unexpected error: %v", err)
			}
			if len(evs) != tt.count {
				t.Errorf("%d events, want %d", len(evs), tt.count)
			}
			for prefix, w := range tt.want {
				ev, ok := findProc(evs, prefix)
				if !ok {
					t.Errorf("no event starting %q", prefix)
					continue
				}
				matchProc(t, prefix, ev, w)
			}
			for _, ev := range evs {
				if ev.Process.Operation == event.OpExec && strings.HasPrefix(strings.Join(ev.Process.Argv, " "), "hping3 --scan") && ev.Process.PID == 0 {
					t.Errorf("event without pid: %+v", ev.Process)
				}
			}
		})
	}
	// The long argument was split over three EXECVE records (a2_len,
	// a2[0..2]) and hex-encoded; joined it is the whole script.
	evs, _ := decodeSample(t, auditdFormat, "testdata/auditd/long-argument.log")
	ev, _ := findProc(evs, "bash -c")
	if got := ev.Process.Argv[2]; len(got) < 7600 || !strings.HasSuffix(got, strings.Repeat("x", 100)) {
		t.Errorf("split argument: %d bytes, ends %q", len(got), got[max(0, len(got)-20):])
	}
}

func TestAuditdRecords(t *testing.T) {
	sys := `type=SYSCALL msg=audit(1763806501.902:23016): arch=c000003e syscall=59 success=yes exit=0 a0=5581c2d1e2a0 a1=5581c2d1f3c0 a2=5581c2d20110 a3=8 items=2 ppid=4121 pid=4188 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts1 ses=7 comm="knock" exe="/usr/bin/knock" subj=unconfined key="exec"`
	exe := `type=EXECVE msg=audit(1763806501.902:23016): argc=6 a0="knock" a1="-v" a2="203.0.113.10" a3="7000" a4="8000" a5="9000"`
	cwd := `type=CWD msg=audit(1763806501.902:23016): cwd="/home/alice"`
	path := `type=PATH msg=audit(1763806501.902:23016): item=0 name="/usr/bin/knock" inode=1311022 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`
	title := `type=PROCTITLE msg=audit(1763806501.902:23016): proctitle=6B6E6F636B002D76003230332E302E3131332E3130003730303000383030300039303030`
	knock := wantProc{time: "2025-11-22T10:15:01.902Z", op: event.OpExec, user: "1000", image: "/usr/bin/knock",
		argv: []string{"knock", "-v", "203.0.113.10", "7000", "8000", "9000"}, pid: 4188, ppid: 4121, index: 1}
	withCWD := knock
	withCWD.cwd = "/home/alice"
	other := func(serial, pid string, s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, ":23016)", ":"+serial+")"), "pid=4188", "pid="+pid)
	}
	tests := []struct {
		name  string
		lines []string
		want  []wantProc
		// atLine is the line after which the event must have been emitted
		// (0: only at Flush).
		atLine int
	}{
		{"kernel order, complete at PROCTITLE", []string{sys, exe, cwd, path, title}, []wantProc{withCWD}, 5},
		{"ausearch order, complete at SYSCALL", []string{title, path, cwd, exe, sys}, []wantProc{withCWD}, 5},
		{"interleaved with another event", []string{sys, other("23017", "5000", sys), exe, other("23017", "5000", exe), cwd, title, other("23017", "5000", title)},
			[]wantProc{withCWD, {pid: 5000, index: 2}}, 7},
		{"no PROCTITLE: at Flush", []string{sys, exe}, []wantProc{knock}, 0},
		{"no EXECVE: argv from PROCTITLE", []string{sys, title}, []wantProc{knock}, 2},
		{"EOE completes", []string{sys, exe, `type=EOE msg=audit(1763806501.902:23016): `}, []wantProc{knock}, 3},
		{"ausearch separator completes", []string{sys, exe, "----"}, []wantProc{knock}, 3},
		{"time moves on: complete", []string{sys, exe, strings.Replace(other("23099", "9", `type=USER_LOGIN msg=audit(1763806501.902:23016): pid=9`), "1763806501.902", "1763806505.000", 1)}, []wantProc{knock}, 3},
		{"failed exec yields nothing", []string{strings.Replace(sys, "success=yes exit=0", "success=no exit=-2", 1), exe, title}, nil, 3},
		{"hex argument", []string{sys, `type=EXECVE msg=audit(1763806501.902:23016): argc=3 a0="fwknop" a1="--key-rijndael" a2=636F727265637420686F727365`, title},
			[]wantProc{{argv: []string{"fwknop", "--key-rijndael", "correct horse"}}}, 3},
		{"split argument over records", []string{sys, `type=EXECVE msg=audit(1763806501.902:23016): argc=3 a0="bash" a1="-c" a2_len=8 a2[0]=65636820`,
			`type=EXECVE msg=audit(1763806501.902:23016):  a2[1]="knock"`, title}, []wantProc{{argv: []string{"bash", "-c", "ech knock"}}}, 4},
		{"chunks out of order", []string{sys, `type=EXECVE msg=audit(1763806501.902:23016): argc=2 a0="x" a1[1]="b" a1[0]="a"`, title}, []wantProc{{argv: []string{"x", "ab"}}}, 3},
		{"node= and ENRICHED", []string{"node=ws-0142 " + sys + "\x1dARCH=x86_64 SYSCALL=execve AUID=\"alice\" UID=\"alice\"", "node=ws-0142 " + exe, "node=ws-0142 " + title},
			[]wantProc{{host: "ws-0142", user: "alice", login: ""}}, 3},
		{"two hosts, one serial, interleaved (a central log)", []string{"node=ws-0142 " + sys, "node=ws-0007 " + other("23016", "5000", sys), "node=ws-0142 " + exe,
			"node=ws-0007 " + strings.Replace(exe, `a0="knock"`, `a0="hping3"`, 1), "node=ws-0142 " + title, "node=ws-0007 " + other("23016", "5000", title)},
			[]wantProc{{host: "ws-0142", pid: 4188, argv: knock.argv}, {host: "ws-0007", pid: 5000, argv: []string{"hping3", "-v", "203.0.113.10", "7000", "8000", "9000"}}}, 6},
		{"forwarded through syslog", []string{"Nov 22 10:15:01 ws-0142 audisp-syslog: " + sys, "Nov 22 10:15:01 ws-0142 audisp-syslog: " + exe, "Nov 22 10:15:01 ws-0142 audisp-syslog: " + title},
			[]wantProc{{host: "ws-0142", user: "1000", argv: knock.argv}}, 3},
		{"kernel form", []string{"[ 2621.331044] audit: type=1300 audit(1763806501.902:23016): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=4121 pid=4188 auid=4294967295 uid=0 exe=\"/usr/bin/knock\"",
			"[ 2621.331053] audit: type=1309 audit(1763806501.902:23016): argc=2 a0=\"knock\" a1=\"h\"", "[ 2621.331060] audit: type=1327 audit(1763806501.902:23016): proctitle=6B6E6F636B0068"},
			[]wantProc{{user: "0", login: "", argv: []string{"knock", "h"}}}, 3},
		{"aarch64 numbers", []string{strings.Replace(strings.Replace(sys, "c000003e", "c00000b7", 1), "syscall=59", "syscall=221", 1), exe, title}, []wantProc{knock}, 3},
		{"write to a watched file", []string{
			`type=SYSCALL msg=audit(1763806600.100:30001): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=5651 a2=241 a3=1b6 items=2 ppid=1 pid=700 auid=0 uid=0 comm="bash" exe="/usr/bin/bash" key="knockd"`,
			`type=CWD msg=audit(1763806600.100:30001): cwd="/etc"`,
			`type=PATH msg=audit(1763806600.100:30001): item=0 name="/etc" inode=2 dev=08:01 mode=040755 nametype=PARENT`,
			`type=PATH msg=audit(1763806600.100:30001): item=1 name="knockd.conf" inode=9 dev=08:01 mode=0100644 nametype=NORMAL`,
			`type=PROCTITLE msg=audit(1763806600.100:30001): proctitle="bash"`},
			[]wantProc{{op: event.OpWrite, file: "/etc/knockd.conf", image: "/usr/bin/bash", argv: []string{"bash"}, user: "0"}}, 5},
		{"read of a watched file yields nothing", []string{
			`type=SYSCALL msg=audit(1763806600.100:30002): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=5651 a2=0 a3=0 items=1 ppid=1 pid=701 auid=0 uid=0 comm="cat" exe="/usr/bin/cat" key="knockd"`,
			`type=PATH msg=audit(1763806600.100:30002): item=0 name="/etc/knockd.conf" inode=9 dev=08:01 mode=0100644 nametype=NORMAL`,
			`type=PROCTITLE msg=audit(1763806600.100:30002): proctitle=636174002F6574632F6B6E6F636B642E636F6E66`}, nil, 3},
		{"unlink", []string{
			`type=SYSCALL msg=audit(1763806600.100:30003): arch=c000003e syscall=263 success=yes exit=0 a0=ffffff9c a1=5651 a2=0 a3=0 items=2 ppid=1 pid=702 auid=0 uid=0 comm="rm" exe="/usr/bin/rm" key="knockd"`,
			`type=PATH msg=audit(1763806600.100:30003): item=1 name="/etc/fwknop/access.conf" inode=9 dev=08:01 mode=0100644 nametype=DELETE`,
			`type=PROCTITLE msg=audit(1763806600.100:30003): proctitle=726D002F6574632F66776B6E6F702F6163636573732E636F6E66`},
			[]wantProc{{op: event.OpDelete, file: "/etc/fwknop/access.conf"}}, 3},
		{"other syscalls and record types yield nothing", []string{
			`type=SYSCALL msg=audit(1795367411.267:342): arch=c000003e syscall=44 success=yes exit=60 a0=3 a1=7ffd5ec24e00 a2=3c a3=0 items=0 ppid=18228 pid=18262 auid=4294967295 uid=0 comm="auditctl" exe="/usr/sbin/auditctl" key=(null)`,
			`type=CONFIG_CHANGE msg=audit(1795367411.267:342): op=set audit_enabled=1 old=1 auid=4294967295 ses=4294967295 res=1`,
			`type=PROCTITLE msg=audit(1795367411.267:342): proctitle=617564697463746C002D650031`,
			`type=DAEMON_START msg=audit(1795367410.273:5256): op=start ver=3.0.9 format=enriched kernel=6.18.44 auid=4294967295 pid=18236 uid=0 ses=4294967295 res=success`,
			"Nov 22 10:15:01 ws-0142 sshd[811]: Connection closed"}, nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := auditdFormat.New(fixedOpts)
			var evs []event.Event
			for i, l := range tt.lines {
				origin := event.Origin{Input: 1, Index: uint64(i + 1)}
				n := len(evs)
				var err error
				evs, err = d.Decode([]byte(l), origin, evs)
				checkDecoded(t, []byte(l), origin, evs[n:], err)
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
			}
			if tt.atLine > 0 && len(evs) != len(tt.want) {
				t.Errorf("%d events before Flush, want %d", len(evs), len(tt.want))
			}
			evs = d.(Flusher).Flush(evs)
			if len(evs) != len(tt.want) {
				t.Fatalf("%d events, want %d: %+v", len(evs), len(tt.want), evs)
			}
			for i, w := range tt.want {
				matchProc(t, fmt.Sprintf("event %d", i), evs[i], w)
			}
		})
	}
}

func TestAuditdErrors(t *testing.T) {
	evs, errs := decodeSample(t, auditdFormat, "testdata/auditd/bad.log")
	want := []wantErr{
		{ReasonMalformed, "msg", 0},
		{ReasonBadTime, "msg", 0},
		{ReasonBadTime, "msg", 0},
		{ReasonBadField, "syscall", 0},
		{ReasonBadField, "argc", 0},
		{ReasonBadField, "a99999", 0},
		{ReasonMalformed, "type", 0},
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
	// The good event after the bad lines is not lost.
	if len(evs) != 1 || evs[0].Process.PID != 4191 {
		t.Fatalf("want the one good event (pid 4191), got %+v", evs)
	}
}

// TestAuditdAllocs: records that are not part of an exec or file event
// (most of an audit.log) cost no allocation.
func TestAuditdAllocs(t *testing.T) {
	d := newAuditdDecoder(fixedOpts)
	lines := [][]byte{
		[]byte(`type=NETFILTER_CFG msg=audit(1795367411.303:350): table=filter:2 family=2 entries=1 op=nft_register_chain pid=18282 subj=unconfined comm="iptables"`),
		[]byte(`type=USER_START msg=audit(1795367411.303:351): pid=1 uid=0 auid=1000 ses=3 msg='op=PAM:session_open acct="alice" exe="/usr/sbin/sshd" res=success'`),
		[]byte(`Nov 22 10:15:01 ws-0142 sshd[811]: Connection closed`),
	}
	dst := make([]event.Event, 0, 4)
	for _, l := range lines {
		l := l
		if n := testing.AllocsPerRun(100, func() { dst, _ = d.Decode(l, event.Origin{Input: 1, Index: 1}, dst[:0]) }); n != 0 {
			t.Errorf("%.40s…: %v allocations per record, want 0", l, n)
		}
		if n := testing.AllocsPerRun(100, func() { sniffAuditd(l) }); n != 0 {
			t.Errorf("sniff %.40s…: %v allocations, want 0", l, n)
		}
	}
}

func FuzzAuditd(f *testing.F) {
	addSeeds(f, "auditd")
	addSmallSeeds(f, "auditd")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzProcessStream(t, auditdFormat, data) })
}

// addSmallSeeds adds runs of a few records of every sample: the fuzzer
// mutates small inputs far faster than whole captures.
func addSmallSeeds(f *testing.F, format string) {
	for _, p := range samplePaths(f, format) {
		recs := sampleRecords(f, p)
		for i := 0; i < len(recs); i += 6 {
			var b []byte
			for _, r := range recs[i:min(i+6, len(recs))] {
				b = append(append(b, r.line...), '\n')
			}
			if len(b) <= 4<<10 {
				f.Add(b)
			}
		}
	}
}

// fuzzProcessStream is fuzzStream plus Flush, whose events must be as
// well-formed as any.
func fuzzProcessStream(t *testing.T, f Format, data []byte) {
	fuzzStream(t, f, data)
	if len(data) > 64<<10 {
		return
	}
	d := f.New(fixedOpts)
	var last uint64
	for _, r := range recordsOf(data) {
		d.Decode(r.line, event.Origin{Input: 1, Index: r.index}, nil)
		last = r.index
	}
	if fl, ok := d.(Flusher); ok {
		evs := fl.Flush(nil)
		checkDecoded(t, nil, event.Origin{Input: 1, Index: max(last, 1)}, evs, nil)
	}
}

func BenchmarkAuditd(b *testing.B) {
	benchProcessFormat(b, auditdFormat, "testdata/auditd/enriched-clients.log")
}

// benchProcessFormat decodes a sample file per iteration.
func benchProcessFormat(b *testing.B, f Format, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	recs := recordsOf(data)
	dst := make([]event.Event, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d := f.New(fixedOpts)
		dst = dst[:0]
		for _, r := range recs {
			dst, _ = d.Decode(r.line, event.Origin{Input: 1, Index: r.index}, dst)
		}
		if fl, ok := d.(Flusher); ok {
			dst = fl.Flush(dst)
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
