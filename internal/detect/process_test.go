package detect

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
)

var procT0 = time.Date(2025, 11, 22, 10, 15, 1, 0, time.UTC)

// pe is one process event of a test: a command line (split like a source
// that only has a string) or an argv, with its place in a process tree.
type pe struct {
	at      time.Duration
	host    string
	user    string
	pid     int64
	ppid    int64
	cmd     string   // command line
	argv    []string // or argument vector
	image   string
	orig    string
	parent  string
	grand   string
	op      string // file events: event.OpWrite
	file    string
	workdir string
}

func (e pe) event(i int) event.Event {
	p := &event.Process{Source: "test", Host: e.host, User: e.user, PID: e.pid, PPID: e.ppid, CommandLine: e.cmd,
		Argv: e.argv, Image: e.image, OriginalName: e.orig, ParentImage: e.parent, GrandparentImage: e.grand,
		Operation: event.OpExec, FilePath: e.file, WorkingDir: e.workdir}
	if p.Host == "" {
		p.Host = "ws-0142"
	}
	if p.User == "" {
		p.User = "alice"
	}
	if e.op != "" {
		p.Operation = e.op
	}
	return event.Event{Time: procT0.Add(e.at).UnixNano(), Origin: event.Origin{Input: 1, Index: uint64(i + 1)}, Kind: event.KindProcess, Process: p}
}

// runProcess feeds events in order (advancing the clock as a stream
// would), flushes, and returns the alerts.
func runProcess(t *testing.T, cfg config.Config, evs []pe) []*alert.Alert {
	t.Helper()
	var out []*alert.Alert
	d := NewProcess(cfg, 1, Deps{Emit: func(a *alert.Alert) { out = append(out, a) }})
	for i, e := range evs {
		ev := e.event(i)
		d.Observe(&ev)
		d.Advance(ev.Time)
	}
	d.Flush()
	return out
}

// cmds makes one event per command line, a second apart, each its own
// process.
func cmds(lines ...string) []pe {
	out := make([]pe, len(lines))
	for i, l := range lines {
		out[i] = pe{at: time.Duration(i) * time.Second, pid: int64(5000 + i), ppid: 4121, cmd: l}
	}
	return out
}

type wantAlert struct {
	event    string // Attributes["event"]
	tool     string
	dst      string
	src      string
	target   string // Attributes["target"] (a name)
	seq      string // alert.SequenceString
	offsets  []float64
	severity alert.Severity
	attrs    map[string]string
	runs     string
}

func checkAlert(t *testing.T, a *alert.Alert, w wantAlert) {
	t.Helper()
	if a.Detector != "process" || a.Kind != "alert" || a.ID == "" || len(a.Evidence) == 0 || a.Summary == "" {
		t.Errorf("incomplete alert: %+v", a)
	}
	ev := a.Attributes["event"]
	if w.event == "" {
		w.event = "client_run"
	}
	if ev != w.event {
		t.Errorf("event %q, want %q (%s)", ev, w.event, a.Summary)
	}
	if w.tool != "" && a.Attributes["tool"] != w.tool {
		t.Errorf("tool %q, want %q", a.Attributes["tool"], w.tool)
	}
	if w.dst != "" && a.Dst != netip.MustParseAddr(w.dst) {
		t.Errorf("dst %v, want %s", a.Dst, w.dst)
	}
	if w.dst == "" && w.event == "client_run" && w.target != "" && a.Dst.IsValid() {
		t.Errorf("dst %v, want none (target is a name)", a.Dst)
	}
	if w.src != "" && a.Src != netip.MustParseAddr(w.src) {
		t.Errorf("src %v, want %s", a.Src, w.src)
	}
	if w.target != "" && a.Attributes["target"] != w.target {
		t.Errorf("target %q, want %q", a.Attributes["target"], w.target)
	}
	if w.seq != "" && alert.SequenceString(a.Sequence) != w.seq {
		t.Errorf("sequence %s, want %s", alert.SequenceString(a.Sequence), w.seq)
	}
	if w.offsets != nil {
		var got []float64
		for _, k := range a.Sequence {
			got = append(got, k.OffsetMS)
		}
		if !slices.Equal(got, w.offsets) {
			t.Errorf("offsets %v, want %v", got, w.offsets)
		}
	}
	if w.severity != 0 && a.Severity != w.severity {
		t.Errorf("severity %v, want %v (%q)", a.Severity, w.severity, a.Reasons)
	}
	for k, v := range w.attrs {
		if a.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, a.Attributes[k], v)
		}
	}
	if w.runs != "" && a.Attributes["runs"] != w.runs {
		t.Errorf("runs %q, want %q", a.Attributes["runs"], w.runs)
	}
	if a.Host == "" {
		t.Errorf("no host")
	}
}

// TestProcessClients: the command lines of formats.md 1.8, 2.6 and 5.5.
func TestProcessClients(t *testing.T) {
	med := alert.SeverityMedium
	tests := []struct {
		name string
		evs  []pe
		want []wantAlert
	}{
		{"knock", cmds("knock 203.0.113.10 7000 8000 9000"),
			[]wantAlert{{tool: "knock", dst: "203.0.113.10", seq: "7000/tcp,8000/tcp,9000/tcp", offsets: []float64{0, 0, 0}, severity: med}}},
		{"knock with delay, name and per-port protocols", cmds("knock -v -d 500 gw01.example.net 2222:udp 3333:tcp 4444:udp"),
			[]wantAlert{{tool: "knock", target: "gw01.example.net", seq: "2222/udp,3333/tcp,4444/udp", offsets: []float64{0, 500, 1000}, attrs: map[string]string{"delay_ms": "500"}}}},
		{"knock -u forces UDP; other suffixes are TCP", cmds("knock -u -4 203.0.113.10 8284 4721 18592 42912", "knock 198.51.100.20 1:foo 2:udp"),
			[]wantAlert{{seq: "8284/udp,4721/udp,18592/udp,42912/udp", attrs: map[string]string{"family": "ipv4"}}, {dst: "198.51.100.20", seq: "1/tcp,2/udp"}}},
		{"knock options after operands (getopt_long permutes)", cmds("knock 203.0.113.10 7000 8000 -d 100"),
			[]wantAlert{{seq: "7000/tcp,8000/tcp", offsets: []float64{0, 100}}}},
		{"single-knock door", cmds("knock 203.0.113.10 7000"), []wantAlert{{seq: "7000/tcp"}}},
		{"fwknop with -a", cmds("fwknop -A tcp/22 -a 198.51.100.7 -D 203.0.113.10 --use-hmac"),
			[]wantAlert{{tool: "fwknop", dst: "203.0.113.10", seq: "62201/udp", attrs: map[string]string{"access": "tcp/22", "allow_ip": "198.51.100.7", "server_port": "62201"}}}},
		{"fwknop named stanza", cmds("fwknop -n gw01"), []wantAlert{{tool: "fwknop", seq: "62201/udp", attrs: map[string]string{"stanza": "gw01"}}}},
		{"fwknop keys are redacted", cmds("fwknop -A tcp/22 -R -D gw01.example.net --key-base64-rijndael c2VjcmV0a2V5MTIzNDU2Nzg5MDEyMzQ1Ng== --key-base64-hmac=aG1hY2tleQ=="),
			[]wantAlert{{target: "gw01.example.net", attrs: map[string]string{"key_on_command_line": "true", "allow_ip": "resolved over HTTPS (-R)",
				"command_line": "fwknop -A tcp/22 -R -D gw01.example.net --key-base64-rijndael <redacted> --key-base64-hmac=<redacted>"}}}},
		{"fwknop TCP mode on 443", cmds("fwknop -A tcp/3389 -s -D 203.0.113.10 -P tcp -p 443"), []wantAlert{{seq: "443/tcp", attrs: map[string]string{"server_proto": "tcp"}}}},
		{"fwknop ICMP and HTTP modes", cmds("fwknop -A tcp/22 -a 198.51.100.7 -D 203.0.113.10 --server-proto icmp", "fwknop -A tcp/22 -a 198.51.100.7 -D 203.0.113.11 -P http"),
			[]wantAlert{{seq: "0/icmp"}, {seq: "80/tcp"}}},
		{"fwknop -C asks for a command: high", cmds("fwknop -C 'ls /' -D 203.0.113.10"), []wantAlert{{severity: alert.SeverityHigh}}},
		{"hping3 SYNs one port at a time", cmds("hping3 -S -p 7000 -c 1 203.0.113.10", "hping3 -S -p 8000 -c 1 203.0.113.10", "hping3 -S -p 9000 -c 1 203.0.113.10"),
			[]wantAlert{{tool: "hping3", dst: "203.0.113.10", seq: "7000/tcp,8000/tcp,9000/tcp", offsets: []float64{0, 1000, 2000}, attrs: map[string]string{"tcp_flags": "S"}}}},
		{"hping3 UDP with -s source port and long options", cmds("hping3 --udp -s 53 --destport 7000 --count 1 203.0.113.10", "hping3 -2 -s 53 -p 8000 -c 1 203.0.113.10"),
			[]wantAlert{{seq: "7000/udp,8000/udp"}}},
		{"hping3 ICMP sizes", cmds("hping3 -1 -d 100 -c 1 203.0.113.10", "hping3 -1 -d 200 -c 1 203.0.113.10", "hping3 -1 -d 300 -c 1 203.0.113.10"),
			[]wantAlert{{seq: "0/icmp,0/icmp,0/icmp"}}},
		{"hping3 in a shell loop", cmds("bash -c 'for p in 7000 8000 9000; do hping3 -S -p $p -c 1 203.0.113.10; done'"),
			[]wantAlert{{tool: "hping3", seq: "7000/tcp,8000/tcp,9000/tcp"}}},
		{"hping3 magic payload", cmds("hping3 -2 -p 53 -c 1 -E /tmp/magic.bin -d 64 203.0.113.10"),
			[]wantAlert{{tool: "hping3", seq: "53/udp", severity: alert.SeverityLow, attrs: map[string]string{"payload": "file /tmp/magic.bin"}}}},
		{"nping port list", cmds("nping --tcp -p 7000,8000,9000 --flags syn -c 1 203.0.113.10"),
			[]wantAlert{{tool: "nping", seq: "7000/tcp,8000/tcp,9000/tcp", attrs: map[string]string{"tcp_flags": "syn"}}}},
		{"nping getopt_long_only and delay", cmds("nping -tcp-connect -p 7000,8000 -delay 250ms 203.0.113.10"),
			[]wantAlert{{seq: "7000/tcp,8000/tcp", offsets: []float64{0, 250}}}},
		{"nmap ordered list", cmds("nmap -Pn -r --max-retries 0 -p 7000,8000,9000 203.0.113.10"),
			[]wantAlert{{tool: "nmap", seq: "7000/tcp,8000/tcp,9000/tcp"}}},
		{"nmap cd00r idiom", cmds("nmap -sS -T Polite -p7000,8000,9000 203.0.113.10"), []wantAlert{{tool: "nmap", seq: "7000/tcp,8000/tcp,9000/tcp"}}},
		{"nmap one port per run", cmds("nmap -Pn --max-retries 0 -p 7000 203.0.113.10", "nmap -Pn --max-retries 0 -p 8000 203.0.113.10", "nmap -sU -Pn --max-retries 0 -p 9000 203.0.113.10"),
			[]wantAlert{{tool: "nmap", seq: "7000/tcp,8000/tcp,9000/udp"}}},
		{"nc loop by hand", cmds("nc -z -w1 203.0.113.10 7000", "nc -z -w1 203.0.113.10 8000", "nc -z -w1 203.0.113.10 9000"),
			[]wantAlert{{tool: "nc", seq: "7000/tcp,8000/tcp,9000/tcp"}}},
		{"nc with several ports (OpenBSD)", cmds("nc -zv -p 31337 203.0.113.10 7000 8000 9000"), []wantAlert{{tool: "nc", seq: "7000/tcp,8000/tcp,9000/tcp"}}},
		{"ncat and telnet", cmds("ncat -z 203.0.113.10 7000", "ncat -z 203.0.113.10 8000", "telnet 203.0.113.20 7000", "telnet 203.0.113.20 9000"),
			[]wantAlert{{tool: "ncat", dst: "203.0.113.10"}, {tool: "telnet", dst: "203.0.113.20"}}},
		{"shell options before -c", cmds(`bash -o pipefail --norc -ec 'for p in 7000 8000; do nc -z 203.0.113.10 $p; done'`),
			[]wantAlert{{tool: "nc", seq: "7000/tcp,8000/tcp"}}},
		{"bash /dev/tcp loop", cmds(`bash -c 'for p in 7000 8000 9000; do echo > /dev/tcp/203.0.113.10/$p; done'`),
			[]wantAlert{{tool: "bash /dev/tcp", seq: "7000/tcp,8000/tcp,9000/tcp"}}},
		{"/dev/tcp joined by Sysmon (no quotes)", cmds(`bash -c for p in 7000 8000 9000; do echo > /dev/tcp/203.0.113.10/$p; done`),
			[]wantAlert{{tool: "bash /dev/tcp", seq: "7000/tcp,8000/tcp,9000/tcp"}}},
		{"/dev/udp with variables and seq", cmds(`sh -c 'H=203.0.113.10; for p in $(seq 7000 1000 9000); do : >/dev/udp/$H/$p; done'`),
			[]wantAlert{{tool: "bash /dev/udp", seq: "7000/udp,8000/udp,9000/udp"}}},
		{"one /dev/tcp per timeout'ed bash", cmds(`timeout 1 bash -c "</dev/tcp/203.0.113.10/7000"`, `timeout 1 bash -c "</dev/tcp/203.0.113.10/8000"`),
			[]wantAlert{{tool: "bash /dev/tcp", seq: "7000/tcp,8000/tcp"}}},
		{"wrappers", cmds("sudo -u root env KNOCK=1 nice -n 5 timeout -s KILL 5 knock 203.0.113.10 7000 8000", "ip netns exec lab knock 203.0.113.11 1 2"),
			[]wantAlert{{dst: "203.0.113.10"}, {dst: "203.0.113.11"}}},
		{"renamed binary (original file name)", []pe{{image: `C:\Users\bob\AppData\Local\Temp\svchelper.exe`, orig: "fwknop.exe", pid: 7,
			cmd: `"C:\Users\bob\AppData\Local\Temp\svchelper.exe" -A tcp/3389 -a 198.51.100.7 -D 203.0.113.10 --use-hmac`}},
			[]wantAlert{{tool: "fwknop", dst: "203.0.113.10", severity: alert.SeverityHigh, attrs: map[string]string{"renamed_binary": "svchelper.exe", "original_name": "fwknop.exe"}}}},
		{"argv[0] that lies", []pe{{image: "/usr/bin/knock", pid: 8, argv: []string{"[kworker/1:2]", "203.0.113.10", "7000", "8000"}}},
			[]wantAlert{{tool: "knock", seq: "7000/tcp,8000/tcp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runProcess(t, config.Default(), tt.evs)
			if len(got) != len(tt.want) {
				for _, a := range got {
					t.Logf("got: %s %q", a.Summary, a.Reasons)
				}
				t.Fatalf("%d alerts, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				checkAlert(t, got[i], w)
			}
		})
	}
}

// TestProcessNegatives: none of these is a knock client, a door or a
// config change.
func TestProcessNegatives(t *testing.T) {
	tests := []struct {
		name string
		evs  []pe
	}{
		{"hping3 -s is the source port", cmds("hping3 -s 80 203.0.113.10", "hping3 -s 80 -c 1 203.0.113.10")},
		{"one hping3 SYN to one port", cmds("hping3 -S -s 80 -p 443 -c 1 203.0.113.10")},
		{"nping health checks", []pe{
			{at: 0, pid: 1, cmd: "nping --tcp -p 443 203.0.113.10"},
			{at: time.Minute, pid: 2, cmd: "nping --tcp -p 443 -c 1 203.0.113.10"},
			{at: 2 * time.Minute, pid: 3, cmd: "nping --tcp -p 443 -c 1 203.0.113.10"},
			{at: 3 * time.Minute, pid: 4, cmd: "nping --tcp -p 80,443 -c 1 203.0.113.10"}}},
		{"hping3 scan mode", cmds("hping3 --scan 1-1000 -S 203.0.113.10", "hping3 -8 7000,8000,9000 -S 203.0.113.10")},
		{"hping3 floods", cmds("hping3 --flood -S 203.0.113.10", "hping3 --flood -S -p 7000 203.0.113.10")},
		{"hping3 without a count", cmds("hping3 -S -p 7000 203.0.113.10", "hping3 -S -p 8000 203.0.113.10")},
		{"hping3 port increment", cmds("hping3 -S -p ++7000 -c 3 203.0.113.10")},
		{"reading knockd.conf", cmds("cat /etc/knockd.conf", "grep knock /etc/knockd.conf", "less /etc/fwknop/access.conf", "grep -r knock /var/log/syslog", "bash -c 'grep -c OPEN /etc/knockd.conf'")},
		{"help and version", cmds("knock -h", "knock -V 203.0.113.10 1", "fwknop -k", "fwknop --key-gen", "fwknop -T -A tcp/22 -D 203.0.113.10", "fwknop --stanza-list")},
		{"nmap scans", cmds("nmap -p 1-1000 203.0.113.10", "nmap -p 7000,8000,9000 203.0.113.10", "nmap -r -p 22,80,443 203.0.113.10", "nmap -sn 192.0.2.0/24",
			"nmap -r -p 7000,8000 192.0.2.0/24", "nmap -r -p 7000,8000 192.0.2.1-20", "nmap -r -p- 203.0.113.10", "nmap -r --top-ports 3 203.0.113.10")},
		{"nc service checks and listeners", cmds("nc -zv 203.0.113.10 22 80 443", "nc -l -p 7000", "ncat -l 8000", "telnet 203.0.113.10")},
		{"neighbouring ports one by one", cmds("nc -z 203.0.113.10 7000", "nc -z 203.0.113.10 7001", "nc -z 203.0.113.10 7002")},
		{"firewall commands not from a knock daemon", []pe{{pid: 9, parent: "/usr/bin/bash", cmd: "iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT"}}},
		{"fwknopd's start-up probes and housekeeping", []pe{
			{pid: 10, parent: "/usr/sbin/fwknopd", argv: []string{"/usr/sbin/iptables", "-t", "filter", "-I", "INPUT", "1", "-s", "127.0.0.2", "-p", "udp", "-j", "ACCEPT"}},
			{pid: 11, parent: "/usr/sbin/fwknopd", argv: []string{"/usr/sbin/iptables", "-t", "filter", "-L", "FWKNOP_INPUT", "--line-numbers", "-n"}},
			{pid: 12, parent: "/usr/sbin/fwknopd", argv: []string{"/usr/sbin/iptables", "-C", "FWKNOP_INPUT", "-t", "filter", "-p", "6", "-s", "192.0.2.7", "--dport", "22", "-j", "ACCEPT"}},
			{pid: 13, parent: "/usr/sbin/fwknopd", argv: []string{"/usr/sbin/iptables", "-t", "filter", "-D", "FWKNOP_INPUT", "1"}},
			{pid: 14, parent: "/usr/sbin/fwknopd", argv: []string{"/usr/sbin/iptables", "-t", "filter", "-I", "INPUT", "1", "-j", "FWKNOP_INPUT"}}}},
		{"a script file is not read", cmds("bash knock.sh 203.0.113.10", "sh -x ./run.sh")},
		{"words that are not programs", cmds("echo knock 203.0.113.10 7000 8000", "man knock", "apt-get install knockd fwknop-client", "vim notes.txt", "knockd -d -i eth0", "python3 -c 'print(\"-S\")'")},
		{"a file that is not a knock config", []pe{{op: event.OpWrite, file: "/etc/access.conf", pid: 3}, {op: event.OpWrite, file: "/etc/knockd.conf.swp.bak", pid: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, a := range runProcess(t, config.Default(), tt.evs) {
				t.Errorf("unexpected alert: %s %q", a.Summary, a.Reasons)
			}
		})
	}
}

func TestProcessDoors(t *testing.T) {
	rule := "/usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT"
	tests := []struct {
		name string
		evs  []pe
		want []wantAlert
	}{
		{"knockd → sh -c → iptables (parent names on the events)", []pe{
			{host: "gw01", user: "root", pid: 7302, ppid: 7301, parent: "/usr/sbin/knockd", cmd: "sh -c " + rule},
			{host: "gw01", user: "root", pid: 7303, ppid: 7302, parent: "/usr/bin/dash", image: "/usr/sbin/xtables-nft-multi", cmd: rule}},
			[]wantAlert{{event: "door_opened", src: "198.51.100.7", tool: "iptables", attrs: map[string]string{"daemon": "knockd", "opens": "22/tcp"}, runs: ""}}},
		{"grandparent from the source (Defender)", []pe{{host: "gw01", user: "root", pid: 7303, ppid: 7302, parent: "/usr/bin/dash", grand: "knockd", cmd: rule}},
			[]wantAlert{{event: "door_opened", src: "198.51.100.7"}}},
		{"grandparent from the process tree", []pe{
			{host: "gw01", user: "root", pid: 7301, ppid: 1, image: "/usr/sbin/knockd", cmd: "/usr/sbin/knockd -d"},
			{host: "gw01", user: "root", pid: 7302, ppid: 7301, image: "/usr/bin/dash", argv: []string{"sh", "-c", rule}},
			{host: "gw01", user: "root", pid: 7303, ppid: 7302, image: "/usr/sbin/xtables-nft-multi", argv: strings.Fields(rule)}},
			[]wantAlert{{event: "door_opened", src: "198.51.100.7"}}},
		{"fwknopd runs iptables itself", []pe{
			{host: "vm", pid: 20859, ppid: 1, image: "/usr/sbin/fwknopd", argv: []string{"/usr/sbin/fwknopd", "-f"}},
			{host: "vm", pid: 20893, ppid: 20859, image: "/usr/sbin/xtables-nft-multi", argv: []string{"/usr/sbin/iptables", "-A", "FWKNOP_INPUT", "-t", "filter", "-p", "6", "-s", "192.0.2.7", "-d", "0.0.0.0/0", "--dport", "22", "-m", "comment", "--comment", "_exp_1795367509", "-j", "ACCEPT"}}},
			[]wantAlert{{event: "door_opened", src: "192.0.2.7", attrs: map[string]string{"daemon": "fwknopd", "opens": "22/tcp"}}}},
		{"nft, ufw and firewall-cmd", []pe{
			{host: "gw01", pid: 1, parent: "knockd", cmd: "sh -c 'nft add rule inet filter input ip saddr 198.51.100.8 tcp dport 22 accept'"},
			{host: "gw01", pid: 2, parent: "knockd", cmd: "sh -c 'ufw allow from 198.51.100.9 to any port 2222 proto tcp'"},
			{host: "gw01", pid: 3, parent: "knockd", cmd: `sh -c "firewall-cmd --add-rich-rule='rule family=\"ipv4\" source address=\"198.51.100.10\" port port=\"22\" protocol=\"tcp\" accept'"`}},
			[]wantAlert{{event: "door_opened", tool: "nft", src: "198.51.100.8", attrs: map[string]string{"opens": "22/tcp"}},
				{event: "door_opened", tool: "ufw", src: "198.51.100.9", attrs: map[string]string{"opens": "2222/tcp"}},
				{event: "door_opened", tool: "firewall-cmd", src: "198.51.100.10", attrs: map[string]string{"opens": "22/tcp"}}}},
		{"config changes", []pe{
			{host: "gw01", user: "root", pid: 1, op: event.OpWrite, file: "/etc/knockd.conf", image: "/usr/bin/vim.basic"},
			{host: "gw01", user: "root", pid: 2, cmd: "sed -i s/7000/7001/ /etc/fwknop/access.conf"},
			{host: "gw01", user: "root", pid: 3, cmd: `bash -c 'echo "[openSSH]" >> knockd.conf'`, workdir: "/etc"},
			{host: "gw01", user: "root", pid: 4, cmd: "cp /tmp/x.conf /etc/fwknop/fwknopd.conf"},
			{host: "gw01", user: "root", pid: 5, cmd: "vim /etc/knockd-alt/knockd.conf"}},
			[]wantAlert{{event: "config_changed", attrs: map[string]string{"path": "/etc/knockd.conf", "how": "file written; redirect >>"}},
				{event: "config_changed", attrs: map[string]string{"path": "/etc/fwknop/access.conf", "how": "sed -i"}},
				{event: "config_changed", attrs: map[string]string{"path": "/etc/fwknop/fwknopd.conf"}},
				{event: "config_changed", severity: alert.SeverityLow, attrs: map[string]string{"path": "/etc/knockd-alt/knockd.conf", "how": "opened in vim"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runProcess(t, config.Default(), tt.evs)
			if len(got) != len(tt.want) {
				for _, a := range got {
					t.Logf("got: %s %q", a.Summary, a.Reasons)
				}
				t.Fatalf("%d alerts, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				checkAlert(t, got[i], w)
				if w.event == "door_opened" && got[i].Dst.IsValid() {
					t.Errorf("a door alert has no Dst, got %v", got[i].Dst)
				}
			}
		})
	}
}

func TestProcessAggregation(t *testing.T) {
	knock := "knock 203.0.113.10 7000 8000 9000"
	t.Run("repeats within a minute are one alert", func(t *testing.T) {
		got := runProcess(t, config.Default(), []pe{{at: 0, pid: 1, cmd: knock}, {at: 20 * time.Second, pid: 2, cmd: knock}, {at: 50 * time.Second, pid: 3, cmd: knock}})
		if len(got) != 1 {
			t.Fatalf("%d alerts, want 1", len(got))
		}
		checkAlert(t, got[0], wantAlert{runs: "3"})
		if got[0].EvidenceTotal != 3 || !got[0].LastSeen.Equal(procT0.Add(50*time.Second)) || !got[0].FirstSeen.Equal(procT0) {
			t.Errorf("evidence %d, first %v last %v", got[0].EvidenceTotal, got[0].FirstSeen, got[0].LastSeen)
		}
	})
	t.Run("a repeat after a quiet spell is a new run", func(t *testing.T) {
		got := runProcess(t, config.Default(), []pe{{at: 0, pid: 1, cmd: knock}, {at: 5 * time.Minute, pid: 2, cmd: knock}})
		if len(got) != 2 || got[0].ID == got[1].ID {
			t.Fatalf("want 2 alerts with distinct ids, got %d", len(got))
		}
	})
	t.Run("quiet spell within one batch", func(t *testing.T) {
		var out []*alert.Alert
		d := NewProcess(config.Default(), 1, Deps{Emit: func(a *alert.Alert) { out = append(out, a) }})
		for i, e := range []pe{{at: 0, pid: 1, cmd: knock}, {at: 16 * time.Minute, pid: 2, cmd: knock}} {
			ev := e.event(i)
			d.Observe(&ev) // no Advance between: an export read in one batch
		}
		d.Flush()
		if len(out) != 2 {
			t.Fatalf("%d alerts, want 2", len(out))
		}
	})
	t.Run("wrapper and program of one run", func(t *testing.T) {
		got := runProcess(t, config.Default(), []pe{
			{pid: 18285, ppid: 18280, image: "/usr/bin/ip", argv: []string{"ip", "netns", "exec", "kwc", "knock", "-v", "192.0.2.10", "7000", "8000", "9000"}},
			{pid: 18285, ppid: 18280, image: "/usr/bin/knock", argv: []string{"knock", "-v", "192.0.2.10", "7000", "8000", "9000"}},
			{pid: 5001, ppid: 5000, cmd: "sudo knock 192.0.2.10 1 2"},
			{pid: 5002, ppid: 5001, cmd: "knock 192.0.2.10 1 2"}})
		if len(got) != 2 {
			t.Fatalf("%d alerts, want 2", len(got))
		}
		for _, a := range got {
			if a.Attributes["runs"] != "" || a.EvidenceTotal != 2 {
				t.Errorf("%s: runs %q evidence %d, want one run with two records", a.Summary, a.Attributes["runs"], a.EvidenceTotal)
			}
		}
	})
	t.Run("a shell loop and its children are one alert", func(t *testing.T) {
		got := runProcess(t, config.Default(), []pe{
			{pid: 20304, ppid: 18280, argv: []string{"bash", "-c", "for p in 7000 8000 9000; do nc -z -w1 192.0.2.10 $p; done"}},
			{pid: 20305, ppid: 20304, argv: []string{"nc", "-z", "-w1", "192.0.2.10", "7000"}},
			{pid: 20306, ppid: 20304, argv: []string{"nc", "-z", "-w1", "192.0.2.10", "8000"}},
			{pid: 20307, ppid: 20304, argv: []string{"nc", "-z", "-w1", "192.0.2.10", "9000"}}})
		if len(got) != 1 || got[0].EvidenceTotal != 4 {
			t.Fatalf("%d alerts (want 1 with 4 records)", len(got))
		}
	})
	t.Run("probes far apart are not joined", func(t *testing.T) {
		got := runProcess(t, config.Default(), []pe{{at: 0, pid: 1, cmd: "nc -z 203.0.113.10 7000"}, {at: time.Minute, pid: 2, cmd: "nc -z 203.0.113.10 8000"}})
		if len(got) != 0 {
			t.Fatalf("%d alerts, want 0", len(got))
		}
	})
	t.Run("probes in reverse time order still join", func(t *testing.T) {
		got := runProcess(t, config.Default(), []pe{{at: 2 * time.Second, pid: 3, cmd: "nc -z 203.0.113.10 9000"}, {at: time.Second, pid: 2, cmd: "nc -z 203.0.113.10 8000"}, {at: 0, pid: 1, cmd: "nc -z 203.0.113.10 7000"}})
		if len(got) != 1 || alert.SequenceString(got[0].Sequence) != "7000/tcp,8000/tcp,9000/tcp" {
			t.Fatalf("want one knock in time order, got %d", len(got))
		}
	})
	t.Run("other endpoints and targets are apart", func(t *testing.T) {
		got := runProcess(t, config.Default(), []pe{{pid: 1, host: "a", cmd: "nc -z 203.0.113.10 7000"}, {pid: 2, host: "b", cmd: "nc -z 203.0.113.10 8000"}, {pid: 3, host: "a", cmd: "nc -z 203.0.113.11 9000"}})
		if len(got) != 0 {
			t.Fatalf("%d alerts, want 0", len(got))
		}
	})
}

func TestProcessAllowlist(t *testing.T) {
	cfg := config.Default()
	cfg.Allowlist.AdminUsers = []string{"ops"}
	cfg.Allowlist.AdminHosts = []string{"*.admin.example", "jump01"}
	cfg.Allowlist.AdminNetworks = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/28")}
	ps, _ := config.ParsePortSpec("7000")
	ps2, _ := config.ParsePortSpec("8000")
	cfg.Authorized = []config.Authorized{{Name: "ssh-door", Ports: []config.PortSpec{ps, ps2}}}
	low, med := alert.SeverityLow, alert.SeverityMedium
	tests := []struct {
		name string
		ev   pe
		sev  alert.Severity
		auth bool
	}{
		{"admin user", pe{user: `CORP\ops`, pid: 1, cmd: "knock 203.0.113.10 1 2"}, low, false},
		{"admin login user (sudo)", pe{user: "root", pid: 1, cmd: "knock 203.0.113.10 1 2"}, med, false},
		{"admin host", pe{host: "ws1.admin.example", pid: 1, cmd: "knock 203.0.113.10 1 2"}, low, false},
		{"admin host exact", pe{host: "JUMP01", pid: 1, cmd: "knock 203.0.113.10 1 2"}, low, false},
		{"authorized sequence", pe{pid: 1, cmd: "knock 203.0.113.10 7000 8000"}, low, true},
		{"other user and host", pe{pid: 1, cmd: "knock 203.0.113.10 1 2"}, med, false},
		{"door for an admin network", pe{host: "gw01", pid: 1, parent: "knockd", cmd: "sh -c 'iptables -A INPUT -s 198.51.100.3 -j ACCEPT'"}, low, false},
		{"door for anyone else", pe{host: "gw01", pid: 1, parent: "knockd", cmd: "sh -c 'iptables -A INPUT -s 198.51.100.99 -j ACCEPT'"}, med, false},
		{"config change by an admin", pe{user: "ops", pid: 1, op: event.OpWrite, file: "/etc/knockd.conf"}, low, false},
	}
	for _, tt := range tests {
		got := runProcess(t, cfg, []pe{tt.ev})
		if len(got) != 1 {
			t.Errorf("%s: %d alerts, want 1", tt.name, len(got))
			continue
		}
		if got[0].Severity != tt.sev || got[0].Authorized != tt.auth {
			t.Errorf("%s: severity %v authorized %v, want %v %v (%q)", tt.name, got[0].Severity, got[0].Authorized, tt.sev, tt.auth, got[0].Reasons)
		}
	}
}

func TestProcessDeterministic(t *testing.T) {
	evs := cmds("knock 203.0.113.10 7000 8000 9000", "hping3 -S -p 7000 -c 1 gw01", "hping3 -S -p 8000 -c 1 gw01")
	a := runProcess(t, config.Default(), evs)
	b := runProcess(t, config.Default(), evs)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("%d and %d alerts, want 2", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Errorf("alert %d: ids %s and %s differ between runs", i, a[i].ID, b[i].ID)
		}
	}
	if a[0].ID == a[1].ID {
		t.Error("two findings share an id")
	}
}

// TestProcessStateBounded: runs past the table's cap are reported early,
// not lost, and the tables stay within their caps.
func TestProcessStateBounded(t *testing.T) {
	var n int
	d := NewProcess(config.Default(), 1, Deps{Emit: func(*alert.Alert) { n++ }})
	for i := 0; i < processRunsCap+100; i++ {
		ev := pe{pid: int64(i + 1), cmd: "knock 203.0.113.10 7000 " + strconv.Itoa(1+i%60000)}.event(i)
		d.Observe(&ev)
	}
	if d.runs.Len() > processRunsCap || d.nodes.Len() > processNodesCap {
		t.Fatalf("tables over their caps: %d runs, %d nodes", d.runs.Len(), d.nodes.Len())
	}
	d.Flush()
	if n != processRunsCap+100 || d.Stats().Evictions == 0 {
		t.Fatalf("%d alerts (want %d), %d evictions", n, processRunsCap+100, d.Stats().Evictions)
	}
}

func BenchmarkProcess(b *testing.B) {
	evs := cmds("knock 203.0.113.10 7000 8000 9000", `bash -c 'for p in 7000 8000 9000; do echo > /dev/tcp/203.0.113.10/$p; done'`,
		"hping3 -S -p 7000 -c 1 203.0.113.10", "cat /etc/knockd.conf", "ls -la /tmp")
	var events []event.Event
	for i, e := range evs {
		events = append(events, e.event(i))
	}
	d := NewProcess(config.Default(), 1, Deps{Emit: func(*alert.Alert) {}})
	b.ReportAllocs()
	for b.Loop() {
		for i := range events {
			d.Observe(&events[i])
		}
		d.Flush()
	}
	b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
