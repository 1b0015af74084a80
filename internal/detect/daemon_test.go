package detect

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
)

// labRef is the modification time of the daemon-lab captures.
var labRef = time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)

// runDaemon decodes text lines with a format and runs the daemon detector
// over them as the engine would (Observe, then Advance to the event time),
// then flushes.
func runDaemon(t testing.TB, cfg config.Config, format string, lines []string) []*alert.Alert {
	t.Helper()
	f, err := decode.Lookup(format)
	if err != nil {
		t.Fatal(err)
	}
	dec := f.New(decode.Options{Reference: labRef, Location: time.UTC})
	var out []*alert.Alert
	d := NewDaemon(cfg, 1, Deps{Emit: func(a *alert.Alert) { out = append(out, a) }})
	for i, l := range lines {
		evs, err := dec.Decode([]byte(l), event.Origin{Index: uint64(i + 1)}, nil)
		if err != nil {
			t.Fatalf("line %d %q: %v", i+1, l, err)
		}
		for k := range evs {
			d.Observe(&evs[k])
			d.Advance(evs[k].Time)
		}
	}
	d.Flush()
	return out
}

func fileLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// final drops alerts superseded by a later one: what the table shows.
func final(alerts []*alert.Alert) []*alert.Alert {
	gone := map[string]bool{}
	for _, a := range alerts {
		if a.Supersedes != "" {
			gone[a.Supersedes] = true
		}
	}
	var out []*alert.Alert
	for _, a := range alerts {
		if !gone[a.ID] {
			out = append(out, a)
		}
	}
	return out
}

func describe(alerts []*alert.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, fmt.Sprintf("%s %s src=%s host=%s %s", a.Attributes["event"], a.Severity, a.Src, a.Host, a.Attributes["door"]))
	}
	sort.Strings(out)
	return out
}

// TestDaemonLab runs the detector over the real daemons' syslog lines of
// the daemon lab (decode/testdata/knockd and fwknopd, the same run).
func TestDaemonLab(t *testing.T) {
	lines := append(fileLines(t, "../decode/testdata/knockd/syslog.log"), fileLines(t, "../decode/testdata/fwknopd/syslog.log")...)
	sort.SliceStable(lines, func(i, j int) bool { return lines[i][:15] < lines[j][:15] })
	alerts := runDaemon(t, config.Default(), "syslog", lines)
	got := describe(final(alerts))
	want := []string{
		"daemon_present info src=invalid IP host=gw01 ",
		"knock_completed medium src=198.51.100.7 host=gw01 openSSH",
		"knock_completed medium src=198.51.100.7 host=gw01 opencloseSSH",
		"knock_completed medium src=2001:db8::7 host=gw01 openSSH",
		"knock_failed low src=198.51.100.8 host=gw01 openSSH",
		"knock_failed medium src=198.51.100.9 host=gw01 openSSH",
		"spa_accepted medium src=198.51.100.7 host=gw01 ",
		"spa_rejected low src=198.51.100.7 host=gw01 ",
		"spa_rejected low src=198.51.100.8 host=gw01 ",
		"spa_rejected low src=198.51.100.9 host=gw01 ",
		"spa_replay high src=198.51.100.8 host=gw01 ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range final(alerts) {
		switch a.Attributes["event"] {
		case "knock_completed":
			if a.Attributes["command"] == "" || a.Attributes["rule"] == "" || a.Attributes["opens"] == "" {
				t.Errorf("knock without command/rule/opens: %+v", a.Attributes)
			}
			if a.Attributes["door"] == "opencloseSSH" && a.Attributes["stop_command"] == "" {
				t.Errorf("start/stop door without its stop command: %+v", a.Attributes)
			}
			if a.Src.Is6() && a.Attributes["command_status"] != "2" {
				t.Errorf("IPv6 knock: the failed iptables command is not reported: %+v", a.Attributes)
			}
		case "spa_accepted":
			if a.Attributes["access"] != "tcp/22" || a.Attributes["expires"] == "" || a.Attributes["removed_at"] == "" {
				t.Errorf("SPA accepted without access/expiry/removal: %+v", a.Attributes)
			}
		case "spa_replay":
			if a.Attributes["original_src"] != "198.51.100.7" {
				t.Errorf("replay without its original source: %+v", a.Attributes)
			}
		case "knock_failed":
			if a.Src.String() == "198.51.100.9" && (a.Attributes["attempts"] != "5" || a.Attributes["max_stage"] != "2") {
				t.Errorf("brute force: %+v", a.Attributes)
			}
		}
		if len(a.Evidence) == 0 || a.ID == "" {
			t.Errorf("alert without evidence or id: %+v", a)
		}
	}
	// The same run through knockd's LogFile: the knockd findings, with no
	// host and minute precision.
	alerts = runDaemon(t, config.Default(), "knockd-log", fileLines(t, "../decode/testdata/knockd-log/knockd.log"))
	got = describe(final(alerts))
	want = []string{
		"daemon_present info src=invalid IP host= ",
		"knock_completed medium src=198.51.100.7 host= openSSH",
		"knock_completed medium src=198.51.100.7 host= opencloseSSH",
		"knock_completed medium src=2001:db8::7 host= openSSH",
		"knock_failed low src=198.51.100.8 host= openSSH",
		"knock_failed medium src=198.51.100.9 host= openSSH",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("LogFile alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, a := range final(alerts) {
		if a.Attributes["event"] != "daemon_present" && a.Attributes["time_precision"] != "minute" {
			t.Errorf("LogFile alert without minute precision: %+v", a.Attributes)
		}
	}
}

func TestDaemonSeverities(t *testing.T) {
	knock := []string{
		"Nov 22 10:15:02 gw01 knockd: 198.51.100.7: openSSH: Stage 1",
		"Nov 22 10:15:02 gw01 knockd: 198.51.100.7: openSSH: Stage 2",
		"Nov 22 10:15:03 gw01 knockd: 198.51.100.7: openSSH: Stage 3",
		"Nov 22 10:15:03 gw01 knockd: 198.51.100.7: openSSH: OPEN SESAME",
		"Nov 22 10:15:03 gw01 knockd: openSSH: running command: /usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT",
	}
	admin := config.Default()
	admin.Allowlist.AdminNetworks = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	admin.Authorized = []config.Authorized{{Name: "knockd:openSSH", Ports: []config.PortSpec{{Port: 7000, Proto: event.ProtoTCP}, {Port: 8000, Proto: event.ProtoTCP}, {Port: 9000, Proto: event.ProtoTCP}}}}
	tests := []struct {
		name  string
		cfg   config.Config
		lines []string
		want  []string
	}{
		{"completed knock from outside the admin networks is medium", config.Default(), knock,
			[]string{"knock_completed medium src=198.51.100.7 host=gw01 openSSH"}},
		{"completed knock from an admin network is low", admin, knock,
			[]string{"knock_completed low src=198.51.100.7 host=gw01 openSSH"}},
		{"sequence timeout is a failure, never progress", config.Default(), []string{
			"Nov 22 10:31:40 gw01 knockd: 192.0.2.44: openSSH: Stage 1",
			"Nov 22 10:31:41 gw01 knockd: 192.0.2.44: openSSH: Stage 2",
			"Nov 22 10:33:02 gw01 knockd: 192.0.2.44: openSSH: sequence timeout (stage 2)"},
			[]string{"knock_failed low src=192.0.2.44 host=gw01 openSSH"}},
		{"partial knocks that repeat are a brute force, one alert", config.Default(), repeat(6, []string{
			"Nov 22 10:31:40 gw01 knockd: 192.0.2.44: openSSH: Stage 1",
			"Nov 22 10:31:40 gw01 knockd: 192.0.2.44: openSSH: Stage 2"}),
			[]string{"knock_failed medium src=192.0.2.44 host=gw01 openSSH"}},
		{"brute force then success is high", config.Default(), append(repeat(5, []string{
			"Nov 22 10:15:00 gw01 knockd: 198.51.100.7: openSSH: Stage 1"}), knock...),
			// The brute force was reported when it crossed the threshold,
			// before the knock that succeeded.
			[]string{"knock_completed high src=198.51.100.7 host=gw01 openSSH", "knock_failed medium src=198.51.100.7 host=gw01 openSSH"}},
		{"HMAC failure names no address: it belongs to the packet before", config.Default(), []string{
			"Nov 22 10:16:40 gw01 fwknopd[2211]: (stanza #1) SPA Packet from IP: 192.0.2.44 received with access source match",
			"Nov 22 10:16:40 gw01 fwknopd[2211]: (stanza #1) Non-corresponding HMAC for this stanza"},
			[]string{"spa_rejected low src=192.0.2.44 host=gw01 "}},
		{"an SPA packet that opens access for another address is high", config.Default(), []string{
			"Nov 22 10:15:02 gw01 fwknopd[2211]: (stanza #1) SPA Packet from IP: 192.0.2.44 received with access source match",
			"Nov 22 10:15:02 gw01 fwknopd[2211]: Added access rule to FWKNOP_INPUT for 198.51.100.7 -> 0.0.0.0/0 tcp/22, expires at 1763806532"},
			[]string{"spa_accepted high src=198.51.100.7 host=gw01 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range describe(final(runDaemon(t, tt.cfg, "syslog", tt.lines))) {
				if !strings.HasPrefix(s, "daemon_present") {
					got = append(got, s)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	// The door's sequence comes from the imported knockd.conf.
	for _, a := range final(runDaemon(t, admin, "syslog", knock)) {
		if a.Attributes["event"] == "knock_completed" && alert.SequenceString(a.Sequence) != "7000/tcp,8000/tcp,9000/tcp" {
			t.Errorf("sequence %q", alert.SequenceString(a.Sequence))
		}
	}
}

func repeat(n int, lines []string) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, lines...)
	}
	return out
}

// TestDaemonInventoryOnce: a busy daemon is one inventory finding per host.
func TestDaemonInventoryOnce(t *testing.T) {
	var lines []string
	for i := 0; i < 200; i++ {
		lines = append(lines, fmt.Sprintf("Nov 22 10:%02d:%02d gw01 knockd: 192.0.2.%d: openSSH: Stage 1", 15+i/60, i%60, i%250+1))
	}
	lines = append(lines, "Nov 22 11:00:00 gw02 knockd: starting up, listening on eth0")
	n := map[string]int{}
	for _, a := range final(runDaemon(t, config.Default(), "syslog", lines)) {
		if a.Attributes["event"] == "daemon_present" {
			n[a.Host]++
			if a.Severity != alert.SeverityInfo {
				t.Errorf("inventory severity %s", a.Severity)
			}
		}
	}
	if n["gw01"] != 1 || n["gw02"] != 1 || len(n) != 2 {
		t.Errorf("inventory findings per host: %v", n)
	}
}

// TestDaemonStateCap floods the detector with sources: the table stays at
// its cap and evictions are counted.
func TestDaemonStateCap(t *testing.T) {
	cfg := config.Default()
	cfg.State.MaxBytes = 1 << 20
	f, _ := decode.Lookup("syslog")
	dec := f.New(decode.Options{Reference: labRef, Location: time.UTC})
	emitted := 0
	d := NewDaemon(cfg, 1, Deps{Emit: func(*alert.Alert) { emitted++ }})
	capacity := d.sources.Cap()
	for i := 0; i < capacity*3; i++ {
		l := fmt.Sprintf("Nov 22 10:15:02 gw01 knockd: 10.%d.%d.%d: openSSH: Stage 1", i>>16&255, i>>8&255, i&255)
		evs, err := dec.Decode([]byte(l), event.Origin{Index: uint64(i + 1)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Observe(&evs[0])
	}
	st := d.Stats()
	if st.Sources > int64(capacity) || st.Evictions < uint64(capacity) {
		t.Errorf("stats %+v with cap %d", st, capacity)
	}
	if emitted < capacity {
		t.Errorf("evicted partial attempts were not reported (%d alerts)", emitted)
	}
}

func BenchmarkDaemon(b *testing.B) {
	lines := append(fileLines(b, "../decode/testdata/knockd/syslog.log"), fileLines(b, "../decode/testdata/fwknopd/syslog.log")...)
	f, _ := decode.Lookup("syslog")
	dec := f.New(decode.Options{Reference: labRef, Location: time.UTC})
	var evs []event.Event
	for i, l := range lines {
		evs, _ = dec.Decode([]byte(l), event.Origin{Index: uint64(i + 1)}, evs)
	}
	d := NewDaemon(config.Default(), 1, Deps{Emit: func(*alert.Alert) {}})
	b.ReportAllocs()
	i := 0
	shift := int64(0)
	for b.Loop() {
		ev := evs[i%len(evs)]
		if i%len(evs) == 0 && i > 0 {
			shift += int64(time.Hour)
		}
		ev.Time += shift
		d.Observe(&ev)
		d.Advance(ev.Time)
		i++
	}
}
