package packet_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/source"
)

// The captures under testdata/captures were made by real tools in network
// namespaces (mkcaptures.sh; each folder's README.md says how). These tests
// hunt over them exactly as `knockwatch hunt` does.

func captureFile(t *testing.T, name string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join("testdata", "captures", name, "capture.pcap*"))
	if len(m) != 1 {
		t.Fatalf("capture %s: found %v", name, m)
	}
	return m[0]
}

func huntCaptures(t *testing.T, shards int, paths ...string) *hunt.Result {
	t.Helper()
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	res, err := hunt.Run(t.Context(), hunt.Options{
		Paths:    paths,
		Config:   config.Default(),
		Location: time.Local,
		Shards:   shards,
		Packets:  source.NewCaptureOpener(source.CaptureOptions{Interest: packet.NewInterest(rs.Prefilter(), true)}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IOErrors) > 0 {
		t.Fatalf("I/O errors: %v", res.IOErrors)
	}
	if n := res.Stats.TotalErrors(); n > 0 {
		t.Fatalf("%d decode errors: %v", n, res.Stats.ErrorSamples())
	}
	return res
}

// flatten lists the alerts with the members of incidents.
func flatten(as []*alert.Alert) []*alert.Alert {
	var out []*alert.Alert
	for _, a := range as {
		out = append(out, a)
		out = append(out, flatten(a.MemberAlerts)...)
	}
	return out
}

func find(as []*alert.Alert, detector, src string, seq string) *alert.Alert {
	var best *alert.Alert
	for _, a := range as {
		if a.Detector != detector || (src != "" && a.Src.String() != src) || (seq != "" && alert.SequenceString(a.Sequence) != seq) {
			continue
		}
		if best == nil || a.Severity > best.Severity || (a.Severity == best.Severity && a.FollowedBy != nil) {
			best = a
		}
	}
	return best
}

func TestCapturesKnocksAlert(t *testing.T) {
	tests := []struct {
		capture  string
		src, dst string
		seq      string
		followed uint16
		minSev   alert.Severity
	}{
		{"knock", "198.51.100.7", "203.0.113.10", "7000/tcp,8000/tcp,9000/tcp", 0, alert.SeverityMedium},
		{"knock-connect", "198.51.100.7", "203.0.113.10", "7000/tcp,8000/tcp,9000/tcp", 22, alert.SeverityHigh},
		{"knock-udp", "198.51.100.7", "203.0.113.10", "2222/udp,3333/udp,4444/udp", 22, alert.SeverityHigh},
		{"knock-rst", "198.51.100.7", "203.0.113.10", "7000/tcp,8000/tcp,9000/tcp", 0, alert.SeverityMedium},
		{"knock-sll2", "198.51.100.7", "203.0.113.10", "7000/tcp,8000/tcp,9000/tcp", 0, alert.SeverityMedium},
		{"knock-vlan", "198.51.100.7", "203.0.113.10", "7000/tcp,8000/tcp,9000/tcp", 0, alert.SeverityMedium},
		{"knock-tun", "192.0.2.10", "192.0.2.7", "7000/tcp,8000/tcp,9000/tcp", 0, alert.SeverityMedium},
		{"knock-ipv6", "2001:db8::7", "2001:db8::10", "7000/tcp,8000/tcp,9000/tcp", 0, alert.SeverityMedium},
		{"knock-pcapng", "198.51.100.7", "203.0.113.10", "7000/tcp,8000/tcp,9000/tcp", 22, alert.SeverityHigh},
		{"hping3-knock", "198.51.100.7", "203.0.113.10", "7000/tcp,8000/tcp,9000/tcp", 0, alert.SeverityMedium},
	}
	for _, tc := range tests {
		t.Run(tc.capture, func(t *testing.T) {
			path := captureFile(t, tc.capture)
			res := huntCaptures(t, 2, path)
			all := flatten(res.Alerts)
			a := find(all, "sequence", tc.src, tc.seq)
			if a == nil {
				for _, x := range all {
					t.Logf("got %s %s %s %s", x.Detector, x.Severity, x.Summary, strings.Join(x.Reasons, "; "))
				}
				t.Fatalf("no sequence alert %s from %s", tc.seq, tc.src)
			}
			if a.Dst.String() != tc.dst || a.Severity < tc.minSev {
				t.Errorf("alert %s severity %s dst %s, want >= %s to %s", a.ID, a.Severity, a.Dst, tc.minSev, tc.dst)
			}
			if tc.followed != 0 && (a.FollowedBy == nil || a.FollowedBy.Port != tc.followed) {
				t.Errorf("followed_by %+v, want port %d", a.FollowedBy, tc.followed)
			}
			if len(a.Evidence) == 0 || !strings.HasPrefix(a.Evidence[0], path+"#") {
				t.Errorf("evidence %v, want %s#frame", a.Evidence, path)
			}
		})
	}
}

// TestCapturesScansDoNotAlert: real scans raise no alert of medium or more.
func TestCapturesScansDoNotAlert(t *testing.T) {
	for _, name := range []string{"nmap", "nmap-knockports", "masscan", "hping3-scan"} {
		t.Run(name, func(t *testing.T) {
			res := huntCaptures(t, 2, captureFile(t, name))
			for _, a := range flatten(res.Alerts) {
				if a.Severity >= alert.SeverityMedium {
					t.Errorf("%s alert at %s: %s (%s)", a.Detector, a.Severity, a.Summary, strings.Join(a.Reasons, "; "))
				}
			}
			if res.Stats.Records.Load() < 3 {
				t.Errorf("only %d frames read", res.Stats.Records.Load())
			}
		})
	}
}

func TestCapturesSPA(t *testing.T) {
	res := huntCaptures(t, 2, captureFile(t, "spa"))
	a := find(flatten(res.Alerts), "spa", "198.51.100.7", "")
	if a == nil || a.Dst.String() != "203.0.113.10" || a.FollowedBy == nil || a.FollowedBy.Port != 22 || a.Severity != alert.SeverityHigh {
		t.Fatalf("spa alert %+v", a)
	}
	if a.Attributes["port"] != "62201/udp" || !strings.Contains(a.Attributes["hmac"], "sha256") {
		t.Errorf("attributes %v", a.Attributes)
	}
}

// TestCapturesSPAReplay: the replayed packet (another source) is reported as
// a replay, with one shard and with several (joined after the hunt).
func TestCapturesSPAReplay(t *testing.T) {
	for _, shards := range []int{1, 2, 4} {
		res := huntCaptures(t, shards, captureFile(t, "spa-replay"))
		all := flatten(res.Alerts)
		orig := find(all, "spa", "198.51.100.7", "")
		replay := find(all, "spa", "198.51.100.66", "")
		if orig == nil || replay == nil {
			t.Fatalf("shards %d: original %v, replay %v", shards, orig, replay)
		}
		if replay.Attributes["first_sent_by"] != "198.51.100.7" || replay.Severity < alert.SeverityHigh || replay.Attributes["payload_sha256"] != orig.Attributes["payload_sha256"] {
			t.Errorf("shards %d: replay %+v", shards, replay)
		}
	}
}

func TestCapturesMagicHping3(t *testing.T) {
	res := huntCaptures(t, 2, captureFile(t, "magic-hping3"))
	var got []string
	for _, a := range flatten(res.Alerts) {
		if a.Detector == "magic" {
			got = append(got, a.Attributes["rule"])
		}
	}
	slices.Sort(got)
	want := []string{"bpfdoor-icmp", "bpfdoor-tcp", "bpfdoor-udp", "cd00r-sequence", "prism-icmp", "reptile-tcp", "reptile-udp", "wake-on-lan"}
	if !slices.Equal(got, want) {
		t.Fatalf("magic rules %v, want %v", got, want)
	}
}

// TestCaptureAndLogInOneRun: a capture and the knock daemon's log hunted
// together are merged in time order; both branches report.
func TestCaptureAndLogInOneRun(t *testing.T) {
	dir := filepath.Join("testdata", "captures", "knock-connect")
	if _, err := os.Stat(filepath.Join(dir, "knockd.log")); err != nil {
		t.Fatal(err)
	}
	res := huntCaptures(t, 2, filepath.Join(dir, "capture.pcap"), filepath.Join(dir, "knockd.log"))
	formats := res.Stats.Formats()
	if formats["pcap"] != 1 || len(formats) != 2 {
		t.Fatalf("formats %v", formats)
	}
	all := flatten(res.Alerts)
	if find(all, "sequence", "198.51.100.7", "7000/tcp,8000/tcp,9000/tcp") == nil {
		t.Fatal("no sequence alert from the capture")
	}
	daemon := false
	for _, a := range all {
		if a.Detector == "daemon" {
			daemon = true
		}
	}
	if !daemon {
		t.Fatal("no daemon alert from knockd's log")
	}
}
