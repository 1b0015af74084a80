package correlate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/correlate"
	"github.com/knockwatch/knockwatch/internal/hunt"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

var t0 = time.Date(2026, 11, 22, 17, 14, 37, 0, time.UTC)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func seq(ports ...uint16) []alert.Knock {
	var out []alert.Knock
	for i, p := range ports {
		out = append(out, alert.Knock{Port: p, Proto: "tcp", OffsetMS: float64(i)})
	}
	return out
}

func wire(id string, src, dst string, at time.Time, s []alert.Knock) *alert.Alert {
	return &alert.Alert{ID: id, Kind: "alert", Detector: "sequence", Technique: alert.TechniquePortKnocking, Severity: alert.SeverityMedium, Confidence: 0.6,
		Src: ip(src), Dst: ip(dst), FirstSeen: at, LastSeen: at.Add(time.Millisecond), Time: at.Add(time.Millisecond), Sequence: s, Summary: "knock"}
}

func daemon(id, src, host string, at time.Time, s []alert.Knock) *alert.Alert {
	return &alert.Alert{ID: id, Kind: "alert", Detector: "daemon", Technique: alert.TechniquePortKnocking, Severity: alert.SeverityMedium, Confidence: 0.95,
		Src: ip(src), Host: host, FirstSeen: at, LastSeen: at, Time: at, Sequence: s, Summary: "knockd opened",
		Attributes: map[string]string{"event": "knock_completed", "door": "openSSH", "rule": "-A INPUT -s " + src + " -p tcp --dport 22 -j ACCEPT"}}
}

func client(id, host, dst string, at time.Time, s []alert.Knock) *alert.Alert {
	return &alert.Alert{ID: id, Kind: "alert", Detector: "process", Technique: alert.TechniquePortKnocking, Severity: alert.SeverityMedium, Confidence: 0.8,
		Dst: ip(dst), Host: host, FirstSeen: at, LastSeen: at, Time: at, Sequence: s, Summary: "knock client"}
}

func TestJoin(t *testing.T) {
	s := seq(7000, 8000, 9000)
	tests := []struct {
		name    string
		alerts  []*alert.Alert
		members [][]string
	}{
		{"client, wire and daemon of one knock", []*alert.Alert{
			client("c", "ws07", "203.0.113.10", t0.Add(-10*time.Millisecond), s),
			wire("w", "198.51.100.7", "203.0.113.10", t0, s),
			daemon("d", "198.51.100.7", "gw01", t0, s),
		}, [][]string{{"c", "w", "d"}}},
		{"daemon time to the minute still joins", []*alert.Alert{
			wire("w", "198.51.100.7", "203.0.113.10", t0, s),
			func() *alert.Alert {
				d := daemon("d", "198.51.100.7", "", t0.Truncate(time.Minute), nil)
				d.Attributes["time_precision"] = "minute"
				return d
			}(),
		}, [][]string{{"d", "w"}}},
		{"another source does not join", []*alert.Alert{
			wire("w", "198.51.100.8", "203.0.113.10", t0, s),
			daemon("d", "198.51.100.7", "gw01", t0, s),
		}, nil},
		{"another sequence does not join", []*alert.Alert{
			wire("w", "198.51.100.7", "203.0.113.10", t0, seq(1, 2, 3)),
			daemon("d", "198.51.100.7", "gw01", t0, s),
		}, nil},
		{"a daemon with a known address must match the target", []*alert.Alert{
			wire("w", "198.51.100.7", "203.0.113.11", t0, s),
			func() *alert.Alert {
				d := daemon("d", "198.51.100.7", "gw01", t0, s)
				d.Dst = ip("203.0.113.10")
				return d
			}(),
		}, nil},
		{"too far apart in time", []*alert.Alert{
			wire("w", "198.51.100.7", "203.0.113.10", t0, s),
			daemon("d", "198.51.100.7", "gw01", t0.Add(time.Hour), s),
		}, nil},
		{"a client aimed elsewhere does not join", []*alert.Alert{
			client("c", "ws07", "203.0.113.99", t0, s),
			wire("w", "198.51.100.7", "203.0.113.10", t0, s),
		}, nil},
		{"two knocks, two incidents, each with its own daemon line", []*alert.Alert{
			wire("w1", "198.51.100.7", "203.0.113.10", t0, s),
			daemon("d1", "198.51.100.7", "gw01", t0, s),
			wire("w2", "198.51.100.7", "203.0.113.10", t0.Add(90*time.Second), s),
			daemon("d2", "198.51.100.7", "gw01", t0.Add(90*time.Second), s),
		}, [][]string{{"d1", "w1"}, {"d2", "w2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := correlate.Join(tt.alerts, correlate.Options{})
			var got [][]string
			for _, in := range inc {
				got = append(got, in.Members)
			}
			if len(got) != len(tt.members) {
				t.Fatalf("incidents %v, want %v", got, tt.members)
			}
			for i := range got {
				a, b := append([]string(nil), got[i]...), append([]string(nil), tt.members[i]...)
				if strings.Join(sorted(a), ",") != strings.Join(sorted(b), ",") {
					t.Errorf("incident %d members %v, want %v", i, got[i], tt.members[i])
				}
			}
		})
	}
}

func sorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestIncidentFields(t *testing.T) {
	s := seq(7000, 8000, 9000)
	w := wire("w2", "198.51.100.7", "203.0.113.10", t0, s)
	w.Supersedes = "w1"
	w.FollowedBy = &alert.Connection{Time: t0.Add(2 * time.Second), Port: 22, Proto: "tcp"}
	w.LastSeen, w.Time = w.FollowedBy.Time, w.FollowedBy.Time
	w.Severity = alert.SeverityHigh
	w1 := wire("w1", "198.51.100.7", "203.0.113.10", t0, s)
	d := daemon("d", "198.51.100.7", "gw01", t0, s)
	in := []*alert.Alert{w1, d, w}
	out := correlate.Fold(in, correlate.Options{})
	if len(out) != 1 || out[0].Kind != "incident" {
		t.Fatalf("fold: %d alerts, want one incident", len(out))
	}
	inc := out[0]
	if inc.Severity != alert.SeverityHigh || inc.Confidence != 0.98 || inc.FollowedBy == nil || inc.Src != ip("198.51.100.7") || inc.Dst != ip("203.0.113.10") || inc.Host != "gw01" {
		t.Errorf("incident fields: %+v", inc)
	}
	if strings.Join(sorted(append([]string(nil), inc.Members...)), ",") != "d,w2" || w1.Incident != inc.ID || w.Incident != inc.ID || d.Incident != inc.ID {
		t.Errorf("members %v; superseded w1 must fold into w2 (incident %q %q %q)", inc.Members, w1.Incident, w.Incident, d.Incident)
	}
	var steps []string
	for _, e := range inc.Timeline {
		steps = append(steps, e.Summary)
	}
	if len(inc.Timeline) != 4 || !strings.Contains(strings.Join(steps, "|"), "first connection to 22/tcp") || !strings.Contains(strings.Join(steps, "|"), "firewall rule") {
		t.Errorf("timeline %q", steps)
	}
	again := correlate.Join([]*alert.Alert{w1, d, w}, correlate.Options{})
	if len(again) != 1 || again[0].ID != inc.ID {
		t.Errorf("incident id is not deterministic")
	}
}

// TestGoldenOneKnock hunts over one folder holding the evidence of one
// knock from every branch (see testdata/one-knock/README.md) and checks
// that the hunt reports exactly one incident holding every member, and
// nothing else but the daemon inventory finding.
func TestGoldenOneKnock(t *testing.T) {
	dir := "testdata/one-knock"
	res, err := hunt.Run(context.Background(), hunt.Options{Paths: []string{dir}, Config: config.Default(), Location: time.UTC, Year: 2026})
	if err != nil {
		t.Fatal(err)
	}
	var incidents, others []*alert.Alert
	for _, a := range res.Alerts {
		switch {
		case a.Kind == "incident":
			incidents = append(incidents, a)
		case a.Attributes["event"] == "daemon_present":
		default:
			others = append(others, a)
		}
	}
	if len(incidents) != 1 {
		t.Fatalf("%d incidents, want 1; other findings: %d", len(incidents), len(others))
	}
	for _, a := range others {
		t.Errorf("finding outside the incident: %s %s", a.Detector, a.Summary)
	}
	inc := incidents[0]
	branches := inc.Attributes["branches"]
	if want := "client,wire,daemon"; branches != want {
		t.Errorf("branches %q, want %q", branches, "client,wire,daemon")
	}
	if inc.FollowedBy == nil || inc.FollowedBy.Port != 22 || inc.Attributes["rule"] == "" || len(inc.Members) != len(inc.MemberAlerts) {
		t.Errorf("incident lacks the connection, the rule or its members: %+v", inc)
	}
	var buf bytes.Buffer
	for _, a := range res.Alerts {
		b, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, b, "", "  ")
		buf.Write(pretty.Bytes())
	}
	golden := filepath.Join(dir, "want.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantB, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(wantB, buf.Bytes()) {
		t.Errorf("hunt output differs from %s (review, then -update):\n%s", golden, buf.String())
	}
}

// TestStreamLateMember: an alert that arrives after its incident was
// handed out (the knock's alert superseded once the connection came, or a
// member late beyond the caller's reordering) makes an incident that
// supersedes the first, never a second, unrelated one.
func TestStreamLateMember(t *testing.T) {
	s := seq(7000, 8000, 9000)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	followed := wire("w2", "198.51.100.7", "203.0.113.10", t0, s)
	followed.Supersedes = "w"
	followed.Severity = alert.SeverityHigh
	tests := []struct {
		name    string
		late    *alert.Alert
		members string
	}{
		{"the knock's alert superseded", followed, "w2,d"},
		{"the client run, out of order", client("c", "ws07", "203.0.113.10", t0.Add(-10*time.Millisecond), s), "c,w,d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := correlate.NewStream(time.Minute, 0)
			st.Add(wire("w", "198.51.100.7", "203.0.113.10", t0, s))
			st.Add(daemon("d", "198.51.100.7", "gw01", t0.Add(20*time.Millisecond), s))
			first := st.Advance(at(2*time.Minute), false)
			if len(first) != 1 || first[0].Supersedes != "" {
				t.Fatalf("first incidents %v, want one superseding nothing", first)
			}
			st.Add(tc.late)
			second := st.Advance(at(3*time.Minute), false)
			if len(second) != 1 {
				t.Fatalf("%d incidents after the late alert, want 1", len(second))
			}
			in := second[0]
			if got := strings.Join(in.Members, ","); got != tc.members || in.Supersedes != first[0].ID {
				t.Errorf("members %s supersedes %q; want members %s superseding %s", got, in.Supersedes, tc.members, first[0].ID)
			}
			if again := st.Advance(at(4*time.Minute), false); len(again) != 0 {
				t.Errorf("%d more incidents, want none", len(again))
			}
		})
	}
}
