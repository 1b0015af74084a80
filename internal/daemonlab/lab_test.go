package daemonlab_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/testutil"
)

var capture = flag.String("capture", "", "copy the daemons' logs of the lab run into this folder (to refresh testdata samples)")

// Addresses: the protected host gw01 and three client addresses, all in
// documentation ranges, living only in the test's namespaces.
const (
	serverIP  = "203.0.113.10"
	serverIP6 = "2001:db8::10"
	client7   = "198.51.100.7" // the admin: knocks right, SPA with the right keys
	client8   = "198.51.100.8" // wrong SPA key, then replays a captured packet
	client9   = "198.51.100.9" // brute-forces the door; SPA from an unlisted source
	client6   = "2001:db8::7"
)

type lab struct {
	t              *testing.T
	dir            string
	server, client string
	sif, cif       string
	procs          []*exec.Cmd
	tools          map[string]string
}

// newLab creates two namespaces joined by a veth pair, and an rsyslogd
// listening on a socket the daemons will see as /dev/log.
func newLab(t *testing.T) *lab {
	testutil.Require(t, "root")
	l := &lab{t: t, dir: t.TempDir(), tools: map[string]string{}}
	for _, tool := range []string{"ip", "unshare", "rsyslogd", "knockd", "knock", "fwknopd", "fwknop", "iptables", "bash"} {
		l.tools[tool] = testutil.RequireTool(t, tool)
	}
	id := testutil.UniqueName("kw")
	l.server, l.client = id+"s", id+"c"
	l.sif, l.cif = id+"b", id+"a"
	t.Cleanup(l.close)
	l.ip("netns", "add", l.server)
	l.ip("netns", "add", l.client)
	l.ip("link", "add", l.cif, "type", "veth", "peer", "name", l.sif)
	l.ip("link", "set", l.cif, "netns", l.client)
	l.ip("link", "set", l.sif, "netns", l.server)
	l.ip("-n", l.server, "addr", "add", serverIP+"/32", "dev", l.sif)
	l.ip("-n", l.server, "-6", "addr", "add", serverIP6+"/128", "dev", l.sif, "nodad")
	for _, a := range []string{client7, client8, client9} {
		l.ip("-n", l.client, "addr", "add", a+"/32", "dev", l.cif)
	}
	l.ip("-n", l.client, "-6", "addr", "add", client6+"/128", "dev", l.cif, "nodad")
	for _, ns := range [][2]string{{l.server, l.sif}, {l.client, l.cif}} {
		l.ip("-n", ns[0], "link", "set", "lo", "up")
		l.ip("-n", ns[0], "link", "set", ns[1], "up")
	}
	for _, a := range []string{client7, client8, client9} {
		l.ip("-n", l.server, "route", "add", a+"/32", "dev", l.sif)
	}
	l.ip("-n", l.server, "-6", "route", "add", client6+"/128", "dev", l.sif)
	l.ip("-n", l.client, "-6", "route", "add", serverIP6+"/128", "dev", l.cif)
	l.from(client7)

	// The private /dev the daemons get (see doc.go).
	dev := filepath.Join(l.dir, "dev")
	must(t, os.MkdirAll(dev, 0o755))
	for _, n := range []string{"null", "zero", "random", "urandom", "tty"} {
		must(t, os.WriteFile(filepath.Join(dev, n), nil, 0o644))
	}
	sock := filepath.Join(l.dir, "log.sock")
	must(t, os.Symlink(sock, filepath.Join(dev, "log")))
	conf := fmt.Sprintf(`global(workDirectory=%[1]q localHostname="gw01")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%[2]q CreatePath="on")
template(name="pri3164" type="string" string="<%%PRI%%>%%TIMESTAMP%% %%HOSTNAME%% %%syslogtag:1:32%%%%msg:::sp-if-no-1st-sp%%%%msg:::drop-last-lf%%\n")
*.* action(type="omfile" file=%[3]q template="RSYSLOG_TraditionalFileFormat")
*.* action(type="omfile" file=%[4]q template="RSYSLOG_FileFormat")
*.* action(type="omfile" file=%[5]q template="pri3164")
*.* action(type="omfile" file=%[6]q template="RSYSLOG_SyslogProtocol23Format")
`, l.dir, sock, l.path("syslog/syslog"), l.path("syslog/rfc3339.log"), l.path("syslog/forwarded.log"), l.path("syslog/rfc5424.log"))
	must(t, os.MkdirAll(l.path("syslog"), 0o755))
	must(t, os.WriteFile(l.path("rsyslog.conf"), []byte(conf), 0o644))
	l.start(exec.Command(l.tools["rsyslogd"], "-n", "-f", l.path("rsyslog.conf"), "-i", l.path("rsyslog.pid")))
	l.waitFor("rsyslogd socket", func() bool { _, err := os.Stat(sock); return err == nil })
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (l *lab) path(name string) string { return filepath.Join(l.dir, name) }

func (l *lab) ip(args ...string) {
	l.t.Helper()
	l.run(l.tools["ip"], args...)
}

func (l *lab) run(name string, args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+l.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inClient runs a client tool in the client namespace.
func (l *lab) inClient(args ...string) string {
	l.t.Helper()
	return l.run(l.tools["ip"], append([]string{"netns", "exec", l.client}, args...)...)
}

// from makes the client's packets to the server leave from address a.
func (l *lab) from(a string) {
	l.t.Helper()
	l.ip("-n", l.client, "route", "replace", serverIP+"/32", "dev", l.cif, "src", a)
}

// daemon starts a program in the server namespace with the private /dev,
// so its syslog(3) calls reach the test's rsyslogd.
func (l *lab) daemon(name string, args ...string) *exec.Cmd {
	script := `T=$0
for n in null zero random urandom tty; do mount --bind /dev/$n $T/dev/$n || exit 1; done
mount --bind $T/dev /dev || exit 1
exec "$@"`
	full := append([]string{"netns", "exec", l.server, l.tools["unshare"], "-m", "--propagation", "private", "sh", "-c", script, l.dir, l.tools[name]}, args...)
	cmd := exec.Command(l.tools["ip"], full...)
	cmd.Env = append(os.Environ(), "HOME="+l.dir)
	out, err := os.Create(l.path(name + ".out"))
	must(l.t, err)
	cmd.Stdout, cmd.Stderr = out, out
	l.start(cmd)
	return cmd
}

func (l *lab) start(cmd *exec.Cmd) {
	l.t.Helper()
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %s: %v", cmd.Path, err)
	}
	l.procs = append(l.procs, cmd)
}

// stop ends a process it started with SIGTERM (so the daemon logs its
// shutdown), then SIGKILL after a grace period.
func (l *lab) stop(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (l *lab) close() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.stop(l.procs[i])
	}
	for _, ns := range []string{l.client, l.server} {
		_ = exec.Command(l.tools["ip"], "netns", "del", ns).Run()
	}
}

func (l *lab) waitFor(what string, ok func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			kl, _ := os.ReadFile(l.path("knockd.log"))
			sl, _ := os.ReadFile(l.path("syslog/syslog"))
			l.t.Fatalf("timed out waiting for %s\nknockd.log:\n%s\nsyslog:\n%s", what, kl, sl)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (l *lab) fileHas(name, text string) func() bool {
	return func() bool {
		b, _ := os.ReadFile(l.path(name))
		return bytes.Contains(b, []byte(text))
	}
}

const knockdConf = `[options]
	UseSyslog
	LogFile = %[1]s/knockd.log

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 2
	command     = /usr/sbin/iptables -A INPUT -s %%IP%% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn

[opencloseSSH]
	sequence      = 2222:udp,3333:tcp,4444:udp
	seq_timeout   = 5
	start_command = /usr/sbin/iptables -A INPUT -s %%IP%% -p tcp --dport 2022 -j ACCEPT
	cmd_timeout   = 1
	stop_command  = /usr/sbin/iptables -D INPUT -s %%IP%% -p tcp --dport 2022 -j ACCEPT
`

// keys generates a Rijndael key and an HMAC key with the real client.
func (l *lab) keys() (key, hmac string) {
	l.t.Helper()
	out := l.run(l.tools["fwknop"], "--key-gen")
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "KEY_BASE64:" {
			key = f[1]
		}
		if len(f) == 2 && f[0] == "HMAC_KEY_BASE64:" {
			hmac = f[1]
		}
	}
	if key == "" || hmac == "" {
		l.t.Fatalf("fwknop --key-gen printed no keys:\n%s", out)
	}
	return key, hmac
}

// runDaemons runs the whole scenario and returns the folder with the logs:
// knockd.log (knockd's LogFile) and syslog/ (rsyslogd's four templates).
func runDaemons(t *testing.T) string {
	l := newLab(t)
	must(t, os.WriteFile(l.path("knockd.conf"), []byte(fmt.Sprintf(knockdConf, l.dir)), 0o600))
	key, hmac := l.keys()
	wrongKey, wrongHMAC := l.keys()
	must(t, os.MkdirAll(l.path("fwrun"), 0o700))
	must(t, os.WriteFile(l.path("fwknopd.conf"), []byte(fmt.Sprintf("PCAP_INTF %s;\nFWKNOP_RUN_DIR %s;\n", l.sif, l.path("fwrun"))), 0o600))
	access := fmt.Sprintf("SOURCE %s\nKEY_BASE64 %s\n\nSOURCE %s\nKEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nFW_ACCESS_TIMEOUT 2\n", client8, key, client7, key, hmac)
	must(t, os.WriteFile(l.path("access.conf"), []byte(access), 0o600))

	knockd := l.daemon("knockd", "-c", l.path("knockd.conf"), "-i", l.sif)
	fwknopd := l.daemon("fwknopd", "-f", "--syslog-enable", "-c", l.path("fwknopd.conf"), "-a", l.path("access.conf"),
		"-d", l.path("fwrun/digest.cache"), "-p", l.path("fwrun/fwknopd.pid"))
	l.waitFor("knockd start", l.fileHas("knockd.log", "starting up"))
	l.waitFor("fwknopd start", l.fileHas("syslog/syslog", "Starting fwknopd main event loop."))

	knock := l.tools["knock"]
	// The admin opens both doors, and the door over IPv6 (whose iptables
	// command fails: iptables refuses an IPv6 source).
	l.inClient(knock, serverIP, "7000", "8000", "9000")
	l.inClient(knock, serverIP, "2222:udp", "3333:tcp", "4444:udp")
	l.inClient(knock, "-6", serverIP6, "7000", "8000", "9000")
	l.waitFor("stop command", l.fileHas("knockd.log", "-D INPUT"))
	// A brute force: the first two ports right, the third wrong, ten
	// times. knockd never sees 9999 (its pcap filter holds only door
	// ports), so every other run's 7000 only invalidates the attempt left
	// at stage 2, silently: five partial attempts are logged.
	l.from(client9)
	for i := 0; i < 10; i++ {
		l.inClient(knock, serverIP, "7000", "8000", "9999")
	}
	// A lone first port from another address, which knockd expires when
	// the next packet comes after seq_timeout.
	l.from(client8)
	l.inClient(knock, serverIP, "7000")
	time.Sleep(2200 * time.Millisecond)
	l.inClient(knock, serverIP, "8000")
	l.waitFor("sequence timeout", l.fileHas("knockd.log", "sequence timeout"))

	fwknop := func(args ...string) string {
		return l.inClient(append([]string{l.tools["fwknop"], "--no-rc-file", "-A", "tcp/22", "-D", serverIP}, args...)...)
	}
	// Accepted SPA, saved to replay later.
	l.from(client7)
	fwknop("-a", client7, "--use-hmac", "--key-base64-rijndael", key, "--key-base64-hmac", hmac, "-B", l.path("spa.pkt"))
	l.waitFor("SPA accepted", l.fileHas("syslog/syslog", "Added access rule"))
	// The right key with a wrong HMAC key.
	fwknop("-a", client7, "--use-hmac", "--key-base64-rijndael", key, "--key-base64-hmac", wrongHMAC)
	// A wrong key for the stanza without HMAC.
	l.from(client8)
	fwknop("-a", client8, "--key-base64-rijndael", wrongKey)
	// The captured packet sent again from another address.
	pkt, err := os.ReadFile(l.path("spa.pkt"))
	must(t, err)
	l.inClient(l.tools["bash"], "-c", fmt.Sprintf("printf %%s %q > /dev/udp/%s/62201", strings.TrimSpace(string(pkt)), serverIP))
	// A source no stanza lists.
	l.from(client9)
	fwknop("-a", client9, "--key-base64-rijndael", key)
	l.waitFor("replay", l.fileHas("syslog/syslog", "Replay detected"))
	l.waitFor("no access", l.fileHas("syslog/syslog", "No access data found"))
	l.waitFor("rule removed", l.fileHas("syslog/syslog", "Removed rule"))

	l.stop(knockd)
	l.stop(fwknopd)
	l.waitFor("knockd shutdown", l.fileHas("knockd.log", "shutting down"))
	for _, p := range l.procs {
		l.stop(p) // rsyslogd flushes on SIGTERM
	}
	out := filepath.Join(t.TempDir(), "logs")
	must(t, os.MkdirAll(filepath.Join(out, "syslog"), 0o755))
	for _, f := range []string{"knockd.log", "syslog/syslog", "syslog/rfc3339.log", "syslog/forwarded.log", "syslog/rfc5424.log"} {
		b, err := os.ReadFile(l.path(f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(out, f), b, 0o644))
		if *capture != "" {
			must(t, os.MkdirAll(filepath.Join(*capture, filepath.Dir(f)), 0o755))
			must(t, os.WriteFile(filepath.Join(*capture, f), b, 0o644))
		}
	}
	return out
}

// TestRealDaemons runs the real daemons and clients, then hunts over each
// log the daemons wrote: every carrier yields the same findings.
func TestRealDaemons(t *testing.T) {
	dir := runDaemons(t)
	full := []string{
		"daemon_present info host=gw01 programs=knockd,fwknopd",
		"knock_completed medium 198.51.100.7 door=openSSH",
		"knock_completed medium 198.51.100.7 door=opencloseSSH",
		"knock_completed medium 2001:db8::7 door=openSSH",
		"knock_failed low 198.51.100.8 door=openSSH",
		"knock_failed medium 198.51.100.9 door=openSSH",
		"spa_accepted medium 198.51.100.7 door=",
		"spa_rejected low 198.51.100.7 door=",
		"spa_rejected low 198.51.100.8 door=",
		"spa_rejected low 198.51.100.9 door=",
		"spa_replay high 198.51.100.8 door=",
	}
	logFile := []string{
		"daemon_present info host= programs=knockd",
		"knock_completed medium 198.51.100.7 door=openSSH",
		"knock_completed medium 198.51.100.7 door=opencloseSSH",
		"knock_completed medium 2001:db8::7 door=openSSH",
		"knock_failed low 198.51.100.8 door=openSSH",
		"knock_failed medium 198.51.100.9 door=openSSH",
	}
	for _, tc := range []struct {
		file, format string
		want         []string
	}{
		{"knockd.log", "knockd-log", logFile},
		{"syslog/syslog", "syslog", full},
		{"syslog/forwarded.log", "syslog", full},
		{"syslog/rfc3339.log", "syslog", full},
		{"syslog/rfc5424.log", "syslog", full},
	} {
		t.Run(tc.file, func(t *testing.T) {
			res, err := hunt.Run(context.Background(), hunt.Options{Paths: []string{filepath.Join(dir, tc.file)}, Config: config.Default(), Location: time.Local})
			if err != nil {
				t.Fatal(err)
			}
			if n := res.Stats.Errors(); len(n) != 0 {
				t.Errorf("decode errors: %v %v", n, res.Stats.ErrorSamples())
			}
			if f := res.Stats.Formats(); f[tc.format] != 1 {
				t.Errorf("formats %v, want %s", f, tc.format)
			}
			var got []string
			superseded := map[string]bool{}
			for _, a := range res.Alerts {
				superseded[a.Supersedes] = true
			}
			for _, a := range res.Alerts {
				if superseded[a.ID] {
					continue
				}
				if a.Attributes["event"] == "daemon_present" {
					got = append(got, fmt.Sprintf("daemon_present %s host=%s programs=%s", a.Severity, a.Host, a.Attributes["programs"]))
					continue
				}
				got = append(got, fmt.Sprintf("%s %s %s door=%s", a.Attributes["event"], a.Severity, a.Src, a.Attributes["door"]))
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
