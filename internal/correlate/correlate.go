// Package correlate joins the branches of one knock into an incident: the
// knock client run on host A aimed at B (detector "process"), the knock on
// the wire or in B's firewall log ("sequence", "spa", "magic"), the knock
// daemon opening the door on B ("daemon": OPEN SESAME and the command with
// its firewall rule, or fwknopd's accepted SPA and its rule) and the first
// connection that followed (the wire alert's followed_by).
//
// It works on alerts, a small stream, after the detectors: a member is the
// last alert of its supersede chain (an alert superseded by a later one is
// folded into it). Joining is by source address, target and time:
//
//   - a daemon alert and a wire alert join when they name the same source,
//     the same target (the daemon's address where the carrier gives it;
//     otherwise the daemon host is taken to be the wire target), agree on
//     the sequence where both know it, and overlap in time within Window
//     (widened by a minute for knockd LogFile times, which are to the
//     minute);
//   - a client run joins the group whose target it names (Alert.Dst), whose
//     source it names where it knows it, whose ports it knocked where both
//     know them, within Window;
//   - a process alert on the daemon host itself (a firewall command that a
//     knock daemon started) joins the group of that host that names the same
//     source.
//
// Each group of two or more alerts becomes one alert of kind "incident"
// (detector "correlate") with the member ids, a timeline, the highest member
// severity, a combined confidence (1 - Π(1 - c)) and an id derived from the
// member ids. How it is shown: Fold returns the incidents and the alerts no
// incident took; a member is not shown beside its incident but inside it
// (Alert.MemberAlerts, each carrying Alert.Incident), so a hunt over the
// client, wire and daemon evidence of one knock prints one incident, in the
// JSON lines and in the table alike.
package correlate

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// Options tune the joins.
type Options struct {
	// Window is how far apart in time two alerts of one knock may be
	// (client run to knock, knock to daemon line). Default 2 minutes.
	Window time.Duration
}

func (o Options) window() time.Duration {
	if o.Window <= 0 {
		return 2 * time.Minute
	}
	return o.Window
}

type role uint8

const (
	roleNone role = iota
	roleClient
	roleWire
	roleDaemon
	roleFirewall
)

func roleOf(a *alert.Alert) role {
	switch a.Detector {
	case "process":
		if a.Dst.IsValid() {
			return roleClient
		}
		if a.Host != "" && a.Src.IsValid() {
			return roleFirewall
		}
	case "sequence", "spa", "magic":
		if a.Src.IsValid() && a.Dst.IsValid() {
			return roleWire
		}
	case "daemon":
		switch a.Attributes["event"] {
		case "knock_completed", "spa_accepted":
			if a.Src.IsValid() {
				return roleDaemon
			}
		}
	}
	return roleNone
}

type group struct {
	members []*alert.Alert
	roles   [5]*alert.Alert
	src     netip.Addr
	dst     netip.Addr
	host    string
	first   time.Time
	last    time.Time
	seq     []alert.Knock
}

func (g *group) add(a *alert.Alert, r role) {
	g.members = append(g.members, a)
	if g.roles[r] == nil {
		g.roles[r] = a
	}
	if !g.src.IsValid() && a.Src.IsValid() && r != roleClient {
		g.src = a.Src
	}
	if !g.dst.IsValid() && a.Dst.IsValid() && r != roleFirewall {
		g.dst = a.Dst
	}
	if g.host == "" && (r == roleDaemon || r == roleFirewall) {
		g.host = a.Host
	}
	if g.first.IsZero() || a.FirstSeen.Before(g.first) {
		g.first = a.FirstSeen
	}
	if a.LastSeen.After(g.last) {
		g.last = a.LastSeen
	}
	if len(g.seq) == 0 && len(a.Sequence) > 0 {
		g.seq = a.Sequence
	}
}

// span is when an alert's knock happened: from its first to its last
// event, not counting the connection that followed; a minute wider for
// minute-precision daemon times.
func span(a *alert.Alert) (time.Time, time.Time) {
	first, last := a.FirstSeen, a.LastSeen
	if a.FollowedBy != nil && a.FollowedBy.Time.Equal(last) && len(a.Sequence) > 0 {
		last = first.Add(time.Duration(a.Sequence[len(a.Sequence)-1].OffsetMS * float64(time.Millisecond)))
	}
	if a.Attributes["time_precision"] == "minute" {
		last = last.Add(time.Minute)
	}
	if last.Before(first) {
		last = first
	}
	return first, last
}

// gap is the time between two alerts' spans, 0 when they overlap.
func gap(a, b *alert.Alert) time.Duration {
	af, al := span(a)
	bf, bl := span(b)
	switch {
	case al.Before(bf):
		return bf.Sub(al)
	case bl.Before(af):
		return af.Sub(bl)
	}
	return 0
}

// sameSequence compares port lists where both are known; an unknown one
// agrees with anything.
func sameSequence(a, b []alert.Knock) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Port != b[i].Port || (a[i].Proto != "" && b[i].Proto != "" && a[i].Proto != b[i].Proto) {
			return false
		}
	}
	return true
}

// Join finds the incidents among alerts. It sets Incident on the members
// and returns the incidents in time order.
func Join(alerts []*alert.Alert, opts Options) []*alert.Alert {
	win := opts.window()
	// Fold supersede chains: only the last alert of a chain is a member.
	superseded := map[string]bool{}
	for _, a := range alerts {
		if a.Supersedes != "" {
			superseded[a.Supersedes] = true
		}
	}
	var cands [5][]*alert.Alert
	for _, a := range alerts {
		if superseded[a.ID] || a.Kind == "incident" {
			continue
		}
		if r := roleOf(a); r != roleNone {
			cands[r] = append(cands[r], a)
		}
	}
	for _, c := range cands {
		slices.SortStableFunc(c, func(x, y *alert.Alert) int {
			if n := x.FirstSeen.Compare(y.FirstSeen); n != 0 {
				return n
			}
			return strings.Compare(x.ID, y.ID)
		})
	}
	taken := map[*alert.Alert]bool{}
	var groups []*group

	// Daemon lines and the wire: same source, same target, same time.
	for _, d := range cands[roleDaemon] {
		g := &group{}
		g.add(d, roleDaemon)
		var best *alert.Alert
		var bestGap time.Duration
		for _, w := range cands[roleWire] {
			if taken[w] || w.Src != d.Src || (d.Dst.IsValid() && w.Dst != d.Dst) {
				continue
			}
			spa := d.Attributes["event"] == "spa_accepted"
			if spa != (w.Detector == "spa") || !sameSequence(d.Sequence, w.Sequence) {
				continue
			}
			if gp := gap(d, w); gp <= win && (best == nil || gp < bestGap) {
				best, bestGap = w, gp
			}
		}
		if best != nil {
			taken[best] = true
			g.add(best, roleWire)
		}
		taken[d] = true
		groups = append(groups, g)
	}
	for _, w := range cands[roleWire] {
		if !taken[w] {
			g := &group{}
			g.add(w, roleWire)
			taken[w] = true
			groups = append(groups, g)
		}
	}
	// Firewall commands a daemon started on its own host.
	for _, f := range cands[roleFirewall] {
		var best *group
		for _, g := range groups {
			if g.roles[roleFirewall] != nil || g.host == "" || g.host != f.Host || g.src != f.Src {
				continue
			}
			if gp := gapGroup(g, f); gp <= win && (best == nil || gp < gapGroup(best, f)) {
				best = g
			}
		}
		if best != nil {
			best.add(f, roleFirewall)
			taken[f] = true
		}
	}
	// Client runs aimed at a target.
	for _, c := range cands[roleClient] {
		var best *group
		for _, g := range groups {
			if g.roles[roleClient] != nil || g.dst != c.Dst || (c.Src.IsValid() && g.src.IsValid() && c.Src != g.src) {
				continue
			}
			if !sameSequence(c.Sequence, g.seq) {
				continue
			}
			cf := c.FirstSeen
			// The client runs before (or, with clock skew, just after)
			// what it caused.
			if cf.After(g.last.Add(win)) || cf.Before(g.first.Add(-win)) {
				continue
			}
			if best == nil || absDur(cf.Sub(g.first)) < absDur(cf.Sub(best.first)) {
				best = g
			}
		}
		if best != nil {
			best.add(c, roleClient)
		}
	}
	var out []*alert.Alert
	for _, g := range groups {
		if len(g.members) < 2 {
			continue
		}
		out = append(out, incident(g))
	}
	slices.SortStableFunc(out, func(x, y *alert.Alert) int {
		if n := x.Time.Compare(y.Time); n != 0 {
			return n
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

func gapGroup(g *group, a *alert.Alert) time.Duration {
	best := time.Duration(math.MaxInt64)
	for _, m := range g.members {
		best = min(best, gap(m, a))
	}
	return best
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

var roleNames = [...]string{"", "client", "wire", "daemon", "firewall"}

// incident builds the incident alert of a group and marks its members.
func incident(g *group) *alert.Alert {
	slices.SortStableFunc(g.members, func(x, y *alert.Alert) int {
		if n := x.FirstSeen.Compare(y.FirstSeen); n != 0 {
			return n
		}
		return strings.Compare(x.ID, y.ID)
	})
	in := &alert.Alert{
		Kind:       "incident",
		Detector:   "correlate",
		Technique:  alert.TechniqueTrafficSignaling,
		Src:        g.src,
		Dst:        g.dst,
		Host:       g.host,
		FirstSeen:  g.first,
		LastSeen:   g.last,
		Time:       g.last,
		Sequence:   g.seq,
		Attributes: map[string]string{},
	}
	if !in.Src.IsValid() && g.roles[roleClient] != nil {
		in.Src = g.roles[roleClient].Src
	}
	notConfident := 1.0
	var ids, branches []string
	for r := roleClient; r <= roleFirewall; r++ {
		if g.roles[r] != nil {
			branches = append(branches, roleNames[r])
		}
	}
	for _, m := range g.members {
		ids = append(ids, m.ID)
		in.Severity = max(in.Severity, m.Severity)
		notConfident *= 1 - m.Confidence
		if m.Technique == alert.TechniquePortKnocking {
			in.Technique = m.Technique
		}
		if m.Authorized {
			in.Authorized = true
			in.AuthorizedAs = m.AuthorizedAs
		}
		in.EvidenceTotal += m.EvidenceTotal
		for _, e := range m.Evidence {
			if len(in.Evidence) < alert.MaxEvidence {
				in.Evidence = append(in.Evidence, e)
			}
		}
		in.Timeline = append(in.Timeline, steps(m)...)
	}
	slices.SortStableFunc(in.Timeline, func(x, y alert.TimelineEntry) int { return x.Time.Compare(y.Time) })
	in.Confidence = math.Round(math.Min(0.99, 1-notConfident)*100) / 100
	in.Members = ids
	if w := g.roles[roleWire]; w != nil {
		in.FollowedBy = w.FollowedBy
	}
	if c := g.roles[roleClient]; c != nil && c.Host != "" {
		in.Attributes["client_host"] = c.Host
	}
	if d := g.roles[roleDaemon]; d != nil {
		for _, k := range []string{"program", "door", "command", "rule", "opens", "access", "expires"} {
			if v := d.Attributes[k]; v != "" {
				in.Attributes[k] = v
			}
		}
	}
	in.Attributes["branches"] = strings.Join(branches, ",")
	in.ID = alert.IDOf("incident", netip.Addr{}, netip.Addr{}, time.Time{}, ids...)
	in.Summary = summary(g, in)
	in.Reasons = append(in.Reasons, fmt.Sprintf("joined %d alerts (%s) by source, target and time", len(g.members), strings.Join(branches, ", ")))
	for _, m := range g.members {
		in.Reasons = append(in.Reasons, m.Detector+": "+m.Summary)
		m.Incident = in.ID
	}
	in.MemberAlerts = g.members
	return in
}

// steps are the timeline entries one member contributes: its own finding
// and the steps inside it (the rule a daemon added, the connection after a
// knock, the door closing).
func steps(m *alert.Alert) []alert.TimelineEntry {
	out := []alert.TimelineEntry{{Time: m.FirstSeen, Detector: m.Detector, Summary: m.Summary, AlertID: m.ID}}
	at := func(t time.Time, s string) {
		out = append(out, alert.TimelineEntry{Time: t, Detector: m.Detector, Summary: s, AlertID: m.ID})
	}
	if m.Detector == "daemon" {
		out[0].Time = m.LastSeen
		if r := m.Attributes["rule"]; r != "" {
			at(m.LastSeen, "firewall rule: "+r)
		}
		if t, err := time.Parse(time.RFC3339, m.Attributes["closed_at"]); err == nil {
			at(t, "door closed: "+m.Attributes["stop_command"])
		}
		if t, err := time.Parse(time.RFC3339, m.Attributes["removed_at"]); err == nil {
			at(t, "rule removed")
		}
	}
	if f := m.FollowedBy; f != nil {
		at(f.Time, fmt.Sprintf("first connection to %d/%s", f.Port, f.Proto))
	}
	return out
}

func summary(g *group, in *alert.Alert) string {
	var parts []string
	target := in.Dst.String()
	if !in.Dst.IsValid() {
		target = in.Host
	} else if in.Host != "" && in.Host != target {
		target += " (" + in.Host + ")"
	}
	src := "a client"
	if in.Src.IsValid() {
		src = in.Src.String()
	}
	if c := g.roles[roleClient]; c != nil {
		on := ""
		if c.Host != "" {
			on = " on " + c.Host
		}
		parts = append(parts, fmt.Sprintf("knock client run%s aimed at %s", on, target))
	}
	if w := g.roles[roleWire]; w != nil {
		if len(w.Sequence) > 0 {
			parts = append(parts, fmt.Sprintf("%s knocked %s on %s", src, target, alert.SequenceString(w.Sequence)))
		} else {
			parts = append(parts, w.Summary)
		}
	}
	if d := g.roles[roleDaemon]; d != nil {
		parts = append(parts, d.Summary)
	}
	if f := g.roles[roleFirewall]; f != nil {
		parts = append(parts, f.Summary)
	}
	if in.FollowedBy != nil {
		parts = append(parts, fmt.Sprintf("then connected to %d/%s", in.FollowedBy.Port, in.FollowedBy.Proto))
	}
	return strings.Join(parts, "; ")
}

// Fold joins alerts into incidents and returns what a hunt shows: the
// incidents and the alerts no incident took, in time order. Members (and
// the alerts they superseded) are inside their incident, not beside it.
func Fold(alerts []*alert.Alert, opts Options) []*alert.Alert {
	incidents := Join(alerts, opts)
	if len(incidents) == 0 {
		return alerts
	}
	inside := map[string]bool{}
	for _, in := range incidents {
		for _, m := range in.MemberAlerts {
			inside[m.ID] = true
		}
	}
	// An alert superseded by a member is folded into it too.
	by := map[string]*alert.Alert{}
	for _, a := range alerts {
		by[a.ID] = a
	}
	for id := range inside {
		for a := by[id]; a != nil && a.Supersedes != "" && !inside[a.Supersedes]; a = by[a.Supersedes] {
			inside[a.Supersedes] = true
			if old := by[a.Supersedes]; old != nil {
				old.Incident = by[id].Incident
			}
		}
	}
	out := make([]*alert.Alert, 0, len(alerts)-len(inside)+len(incidents))
	for _, a := range alerts {
		if !inside[a.ID] {
			out = append(out, a)
		}
	}
	out = append(out, incidents...)
	slices.SortStableFunc(out, func(x, y *alert.Alert) int {
		if n := x.Time.Compare(y.Time); n != 0 {
			return n
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// MergeStats say what Merge did with its input.
type MergeStats struct {
	// Alerts taken; Duplicates (an id seen before with the same content)
	// and Conflicts (with other content; the first is kept) dropped.
	Alerts, Duplicates, Conflicts int
	// Unfolded incidents of the input, whose members were taken instead.
	Unfolded int
}

// Merge joins findings that were written apart (hunts of different hosts'
// evidence, sensors of a consumer group that each own some sources) as
// one hunt would have: it takes the members out of the incidents it is
// given, drops repeated ids, puts the alerts in time order and folds them
// again (Fold). An incident that only spans one input comes out as it went
// in; one whose branches were in different inputs is made here.
func Merge(findings []*alert.Alert, opts Options) ([]*alert.Alert, MergeStats) {
	var st MergeStats
	seen := map[string][]byte{}
	var alerts []*alert.Alert
	var take func(a *alert.Alert)
	take = func(a *alert.Alert) {
		if a.Kind == "incident" {
			st.Unfolded++
			for _, m := range a.MemberAlerts {
				take(m)
			}
			return
		}
		x := *a
		x.Incident = ""
		enc, _ := x.Encode()
		if prev, ok := seen[x.ID]; ok {
			if string(prev) == string(enc) {
				st.Duplicates++
			} else {
				st.Conflicts++
			}
			return
		}
		seen[x.ID] = enc
		alerts = append(alerts, &x)
	}
	for _, a := range findings {
		take(a)
	}
	st.Alerts = len(alerts)
	slices.SortStableFunc(alerts, func(x, y *alert.Alert) int {
		if n := x.Time.Compare(y.Time); n != 0 {
			return n
		}
		return strings.Compare(x.ID, y.ID)
	})
	return Fold(alerts, opts), st
}
