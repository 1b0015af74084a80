package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// A finding's timeline is built from the alert fields themselves (the
// sequence with its offsets, followed_by, the daemon's attributes, the
// members of an incident), not from the incident's prose timeline, so the
// picture and the JSON cannot disagree.

// Lanes, in the order a knock's story runs: the client run on host A, the
// knock on the wire, what the daemon on B did, the connection that got in.
const (
	laneProcess = "process"
	laneKnock   = "knock"
	laneScan    = "scan"
	laneDaemon  = "daemon"
	laneConn    = "connection"
)

var laneTitles = map[string]string{
	laneProcess: "client run",
	laneKnock:   "knocks",
	laneScan:    "probes",
	laneDaemon:  "daemon",
	laneConn:    "connection",
}

func laneRank(l string) int {
	switch l {
	case laneProcess:
		return 0
	case laneKnock:
		return 1
	case laneScan:
		return 2
	case laneDaemon:
		return 3
	case laneConn:
		return 4
	}
	return 5
}

// event is one thing that happened at a time (or over a span) in a finding.
type event struct {
	Lane string
	T    int64 // Unix ns
	// End > T marks a span (a scan's duration, a time known to the minute).
	End int64
	// Approx: the time is known only to the minute (knockd's LogFile).
	Approx bool
	Label  string // short, drawn
	Text   string // full, for the list and the tooltip
	Class  string // tcp, udp, icmp, other, conn, daemon, process, scan
	// Knock is the 1-based position of a knock in its sequence; Group
	// tells sequences of different members apart.
	Knock, Group int
	Offset       int64 // ns since the sequence's first knock
	AlertID      string
}

// knockGroup is one member's knock sequence.
type knockGroup struct {
	First  int64
	Events []event
	Label  string
}

// timeline is a finding's events and the groups that get a zoomed panel.
type timeline struct {
	Events []event
	Groups []knockGroup
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func protoClass(p string) string {
	switch strings.ToLower(p) {
	case "tcp":
		return "tcp"
	case "udp":
		return "udp"
	case "icmp", "icmpv6", "ipv6-icmp":
		return "icmp"
	}
	return "other"
}

// portProto splits "62201/udp".
func portProto(s string) (string, string) {
	if i := strings.LastIndexByte(s, '/'); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// buildTimeline collects the events of a finding: its members for an
// incident, itself otherwise.
func buildTimeline(f *alert.Alert) timeline {
	var tl timeline
	members := []*alert.Alert{f}
	if f.Kind == "incident" && len(f.MemberAlerts) > 0 {
		members = f.MemberAlerts
	}
	conns := map[string]bool{}
	group := 0
	for _, m := range members {
		first := unixNano(m.FirstSeen)
		switch m.Detector {
		case "sequence", "magic", "spa":
			if len(m.Sequence) > 0 {
				group++
				g := knockGroup{First: first, Label: m.Detector}
				for i, k := range m.Sequence {
					off := int64(math.Round(k.OffsetMS * 1e6))
					e := event{
						Lane: laneKnock, T: first + off, Offset: off, Knock: i + 1, Group: group,
						Label: fmt.Sprintf("%d/%s", k.Port, k.Proto),
						Class: protoClass(k.Proto), AlertID: m.ID,
					}
					e.Text = fmt.Sprintf("knock %d: %s (+%s)", i+1, e.Label, fmtDuration(off))
					if i == 0 {
						e.Text = fmt.Sprintf("knock 1: %s", e.Label)
					}
					g.Events = append(g.Events, e)
					tl.Events = append(tl.Events, e)
				}
				tl.Groups = append(tl.Groups, g)
				break
			}
			e := event{Lane: laneKnock, T: first, Class: "other", AlertID: m.ID, Text: m.Summary}
			switch m.Detector {
			case "spa":
				port := m.Attributes["port"]
				_, proto := portProto(port)
				e.Label, e.Class = "SPA "+port, protoClass(proto)
				e.Text = "SPA packet to " + cmp.Or(port, "?")
			case "magic":
				e.Label, e.Class = cmp.Or(m.Attributes["rule"], "magic packet"), "magic"
			default:
				e.Label = m.Detector
			}
			group++
			e.Group = group
			tl.Events = append(tl.Events, e)
		case "scan":
			tl.Events = append(tl.Events, event{
				Lane: laneScan, T: first, End: unixNano(m.LastSeen), Class: "scan",
				Label: "scan", Text: m.Summary, AlertID: m.ID,
			})
		case "daemon":
			tl.Events = append(tl.Events, daemonEvents(m)...)
		case "process":
			label := cmp.Or(m.Attributes["tool"], "process")
			if u := m.Attributes["user"]; u != "" {
				label += " by " + u
			}
			text := m.Summary
			if c := m.Attributes["command_line"]; c != "" {
				text += ": " + c
			}
			// A run of single-probe commands (hping3 -c 1, one port each)
			// spans its first to its last probe.
			tl.Events = append(tl.Events, event{
				Lane: laneProcess, T: first, End: unixNano(m.LastSeen), Class: "process",
				Label: label, Text: text, AlertID: m.ID,
			})
		case "correlate":
			// An incident without its members (an older encoder): its
			// own times are all there is.
			tl.Events = append(tl.Events, event{
				Lane: "incident", T: first, End: unixNano(m.LastSeen), Class: "other",
				Label: "incident", Text: m.Summary, AlertID: m.ID,
			})
		default:
			tl.Events = append(tl.Events, event{
				Lane: m.Detector, T: first, End: unixNano(m.LastSeen), Class: "other",
				Label: m.Detector, Text: m.Summary, AlertID: m.ID,
			})
		}
		if c := m.FollowedBy; c != nil && !c.Time.IsZero() {
			label := fmt.Sprintf("%d/%s", c.Port, c.Proto)
			key := label + "@" + strconv.FormatInt(unixNano(c.Time), 10)
			if !conns[key] {
				conns[key] = true
				text := "connection to " + label
				if c.DelayMS > 0 {
					text += fmt.Sprintf(", %s after the last knock", fmtDuration(int64(math.Round(c.DelayMS*1e6))))
				}
				tl.Events = append(tl.Events, event{
					Lane: laneConn, T: unixNano(c.Time), Class: "conn",
					Label: label, Text: text, AlertID: m.ID,
				})
			}
		}
	}
	slices.SortStableFunc(tl.Events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.T, b.T), cmp.Compare(laneRank(a.Lane), laneRank(b.Lane)), cmp.Compare(a.Knock, b.Knock))
	})
	return tl
}

// daemonEvents are what a knock daemon's alert tells: the door opening
// (or the failure, the rejection), the rule it added, and when the door
// closed or the rule went away.
func daemonEvents(m *alert.Alert) []event {
	approx := m.Attributes["time_precision"] == "minute"
	at := unixNano(m.LastSeen)
	main := event{Lane: laneDaemon, T: at, Class: "daemon", Approx: approx, Text: m.Summary, AlertID: m.ID}
	if approx {
		main.End = at + int64(time.Minute)
	}
	prog := cmp.Or(m.Attributes["program"], m.Attributes["programs"], "daemon")
	switch m.Attributes["event"] {
	case "knock_completed":
		main.Label = prog + ": OPEN SESAME"
		if d := m.Attributes["door"]; d != "" {
			main.Label += " " + d
		}
	case "knock_failed":
		main.Label = prog + ": failed knock"
	case "spa_accepted":
		main.Label = prog + ": SPA accepted"
	case "spa_rejected":
		main.Label = prog + ": SPA rejected"
	case "spa_replay":
		main.Label = prog + ": SPA replay"
	case "daemon_present":
		main.Label = prog + " present"
	default:
		main.Label = prog
	}
	out := []event{main}
	if r := m.Attributes["rule"]; r != "" {
		out = append(out, event{Lane: laneDaemon, T: at, End: main.End, Approx: approx, Class: "daemon", Label: "rule added", Text: "firewall rule: " + r, AlertID: m.ID})
	}
	for _, x := range []struct{ key, label, text string }{
		{"closed_at", "door closed", "door closed: " + m.Attributes["stop_command"]},
		{"removed_at", "rule removed", "rule removed"},
		{"expires", "rule expires", "access expires"},
	} {
		if t, err := time.Parse(time.RFC3339Nano, m.Attributes[x.key]); err == nil {
			e := event{Lane: laneDaemon, T: t.UnixNano(), Approx: approx, Class: "daemon", Label: x.label, Text: strings.TrimSuffix(x.text, ": "), AlertID: m.ID}
			if approx {
				e.End = e.T + int64(time.Minute)
			}
			out = append(out, e)
		}
	}
	// "expires" and "removed_at" say the same for fwknopd once the rule
	// went: keep the one that happened.
	if _, err := time.Parse(time.RFC3339Nano, m.Attributes["removed_at"]); err == nil {
		out = slices.DeleteFunc(out, func(e event) bool { return e.Label == "rule expires" })
	}
	return out
}
