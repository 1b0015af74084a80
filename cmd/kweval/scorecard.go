package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/baseline"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/source"
)

// Label is one ground-truth line of a scenario's labels.jsonl (lab/README.md).
type Label struct {
	Scenario   string    `json:"scenario"`
	Label      string    `json:"label"`
	Src        string    `json:"src"`
	Dst        string    `json:"dst"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Tool       string    `json:"tool"`
	Sequence   []string  `json:"sequence"`
	Connected  bool      `json:"connected"`
	Connection string    `json:"connection"`
	Note       string    `json:"note"`

	src, dst netip.Addr
}

// Mode is one kind of input the scorecard runs knockwatch over.
type Mode struct {
	Name  string
	Title string
	// Files are the scenario files the mode reads, if present.
	Files []string
	// Packets must be set for captures.
	NeedsPackets bool
}

// Modes are the inputs: what the firewall and the daemons logged, and
// what tcpdump captured. They are scored apart: fed together, every packet
// would be seen twice.
var Modes = []Mode{
	{Name: "logs", Title: "firewall and daemon logs (fw.log, knockd.log, fwknopd.log)", Files: []string{"fw.log", "knockd.log", "fwknopd.log"}},
	{Name: "pcap", Title: "packet capture (capture.pcap)", Files: []string{"capture.pcap"}, NeedsPackets: true},
}

const baselineName = "baseline"

// slack widens a label's interval when alerts are matched to it: packets
// are stamped by the kernel a little after the script's clock reads.
const slack = 2 * time.Second

// tick is the idle tick of the replay that times alerts: a live sensor
// advances event time at least this often when its inputs are quiet.
const tick = 100 * time.Millisecond

// Options configure a scorecard run.
type Options struct {
	Corpus string
	// Name is how the report names the corpus (default: Corpus).
	Name    string
	Config  config.Config
	Packets source.PacketOpener
}

// Outcome is what one detector did about one labelled activity.
type Outcome struct {
	// Severity is the highest severity among the alerts that matched.
	Severity alert.Severity
	// Hit: an alert at or above the detector's threshold matched.
	Hit bool
	// Latency is the event time from the completing packet to the first
	// matching alert at or above the threshold; -1 when not known.
	Latency time.Duration
	// Sequence is the sequence the highest-severity matching alert
	// reported, where the detector reports one.
	Sequence string
}

// Activity is a labelled activity with the outcomes per detector.
type Activity struct {
	Label    Label
	Complete int64 // time of the completing packet; 0 if not found
	Outcomes map[string]Outcome
}

// ModeResult is the scorecard for one input mode.
type ModeResult struct {
	Mode       Mode
	Available  bool
	Reason     string
	Activities []*Activity
	// Unlabelled are alerts at or above their threshold that match no
	// labelled activity (each counts as a false positive).
	Unlabelled []*alert.Alert
	Detectors  []string
	// Mismatch lists alerts of the hunt that the event-by-event replay did
	// not emit (as "detector id").
	Mismatch []string
	// Records, Events and DecodeErrors are the hunt's counts over all
	// scenarios; ErrorSamples locate the first decode errors.
	Records, Events, DecodeErrors int64
	ErrorSamples                  []string
}

// Scorecard is the whole evaluation.
type Scorecard struct {
	Corpus    string
	Scenarios int
	Modes     []*ModeResult
}

// threshold is the severity from which a detector's finding counts: the
// issue's bar (medium) for detectors that claim a knock, SPA or magic
// packet; any finding for the scan detector, whose findings are info.
func threshold(det string) alert.Severity {
	if det == "scan" {
		return alert.SeverityInfo
	}
	return alert.SeverityMedium
}

// targets says which labels a detector is meant to find.
func targets(det, label string) bool {
	knock := strings.HasPrefix(label, "knock")
	spa := strings.HasPrefix(label, "spa")
	switch det {
	case "sequence", baselineName:
		return knock
	case "spa":
		return spa
	case "daemon", "correlate":
		return knock || spa
	case "scan":
		return label == "scan"
	}
	return false
}

// required lists the labels every one of which the issue wants detected at
// medium or more, by any knockwatch detector that targets them.
var required = map[string]bool{
	"knock": true, "knock-udp": true, "knock-mixed": true, "knock-slow": true,
	"knock-straddle": true, "knock-hping": true, "spa": true,
}

// negative reports whether a label is activity that must not raise a knock
// or SPA alert of medium or more.
func negative(label string) bool { return label == "scan" || strings.HasPrefix(label, "benign") }

// Run evaluates every scenario folder under opts.Corpus.
func Run(ctx context.Context, opts Options) (*Scorecard, error) {
	entries, err := os.ReadDir(opts.Corpus)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	sc := &Scorecard{Corpus: cmp.Or(opts.Name, opts.Corpus)}
	for _, m := range Modes {
		mr := &ModeResult{Mode: m, Available: true}
		if m.NeedsPackets && opts.Packets == nil {
			mr.Available, mr.Reason = false, "packet capture input is not in this build yet"
		}
		sc.Modes = append(sc.Modes, mr)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(opts.Corpus, e.Name())
		labels, err := readLabels(filepath.Join(dir, "labels.jsonl"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		sc.Scenarios++
		boot, err := readBootTime(filepath.Join(dir, "boot-time"))
		if err != nil {
			return nil, err
		}
		for _, mr := range sc.Modes {
			if !mr.Available {
				continue
			}
			if err := scoreScenario(ctx, opts, mr, dir, boot, labels); err != nil {
				return nil, fmt.Errorf("%s (%s): %w", e.Name(), mr.Mode.Name, err)
			}
		}
	}
	for _, mr := range sc.Modes {
		mr.Detectors = detectorOrder(mr)
	}
	return sc, nil
}

func readLabels(path string) ([]Label, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Label
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var l Label
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		if l.src, err = netip.ParseAddr(l.Src); err != nil {
			return nil, fmt.Errorf("%s:%d: src: %w", path, i+1, err)
		}
		if l.dst, err = netip.ParseAddr(l.Dst); err != nil {
			return nil, fmt.Errorf("%s:%d: dst: %w", path, i+1, err)
		}
		if l.Label == "" || l.Start.IsZero() || l.End.Before(l.Start) {
			return nil, fmt.Errorf("%s:%d: incomplete label (label, start, end)", path, i+1)
		}
		out = append(out, l)
	}
	return out, nil
}

func readBootTime(path string) (time.Time, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func scoreScenario(ctx context.Context, opts Options, mr *ModeResult, dir string, boot time.Time, labels []Label) error {
	var files []string
	for _, f := range mr.Mode.Files {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	acts := make([]*Activity, len(labels))
	for i, l := range labels {
		acts[i] = &Activity{Label: l, Outcomes: map[string]Outcome{}}
	}
	mr.Activities = append(mr.Activities, acts...)
	if len(files) == 0 {
		return nil
	}
	hopts := hunt.Options{
		Paths:    files,
		Config:   opts.Config,
		Location: time.UTC,
		BootTime: boot,
		Packets:  opts.Packets,
		Shards:   1,
		Workers:  1,
	}
	res, err := hunt.Run(ctx, hopts)
	if err != nil {
		return err
	}
	if len(res.IOErrors) > 0 {
		return errors.Join(res.IOErrors...)
	}
	mr.Records += res.Stats.Records.Load()
	mr.Events += res.Stats.Events.Load()
	mr.DecodeErrors += res.Stats.TotalErrors()
	for _, e := range res.Stats.ErrorSamples() {
		if len(mr.ErrorSamples) < 5 {
			mr.ErrorSamples = append(mr.ErrorSamples, relPath(e, opts.Corpus))
		}
	}
	events, err := readEvents(ctx, hopts, files)
	if err != nil {
		return err
	}
	for _, act := range acts {
		act.Complete = completing(act.Label, events)
	}
	final := flatten(res.Alerts)
	emitted := replay(opts.Config, events)
	byID := map[string]bool{}
	for _, e := range emitted {
		byID[e.alert.ID] = true
	}
	for _, a := range final {
		if a.Kind != "incident" && !byID[a.ID] {
			mr.Mismatch = append(mr.Mismatch, a.Detector+" "+a.ID)
		}
	}
	for _, a := range final {
		matched := false
		for _, act := range acts {
			if !matches(a, act.Label) {
				continue
			}
			matched = true
			act.record(a.Detector, a.Severity)
			if a.Detector == "sequence" && a.Severity >= act.Outcomes[a.Detector].Severity {
				o := act.Outcomes[a.Detector]
				o.Sequence = alert.SequenceString(a.Sequence)
				act.Outcomes[a.Detector] = o
			}
		}
		if !matched && a.Severity >= threshold(a.Detector) {
			mr.Unlabelled = append(mr.Unlabelled, a)
		}
	}
	// Time to alert: the first alert a live sensor would have sent, which
	// may be one a later alert superseded (the hunt keeps the last).
	for _, e := range emitted {
		if e.alert.Severity < threshold(e.alert.Detector) {
			continue
		}
		for _, act := range acts {
			if matches(e.alert, act.Label) {
				act.timed(e.alert.Detector, e.at)
			}
		}
	}
	for _, f := range baseline.Run(baseline.Default(), events) {
		matched := false
		for _, act := range acts {
			if f.Src == act.Label.src && !f.Last.Before(act.Label.Start.Add(-slack)) && !f.First.After(act.Label.End.Add(slack)) {
				matched = true
				act.record(baselineName, alert.SeverityMedium)
				act.timed(baselineName, f.Fired.UnixNano())
			}
		}
		if !matched {
			mr.Unlabelled = append(mr.Unlabelled, &alert.Alert{
				Detector: baselineName, Severity: alert.SeverityMedium, Src: f.Src, Time: f.Fired,
				Summary: fmt.Sprintf("%s: %d events on ports %v in the bin starting %s", f.Src, f.Events, f.Ports, f.BinStart.Format(time.TimeOnly)),
			})
		}
	}
	return nil
}

// record notes an alert of det at sev.
func (act *Activity) record(det string, sev alert.Severity) {
	o, seen := act.Outcomes[det]
	if !seen {
		o.Latency = -1
	}
	o.Severity = max(o.Severity, sev)
	if sev >= threshold(det) {
		o.Hit = true
	}
	act.Outcomes[det] = o
}

// timed notes that det alerted (at or above its threshold) at event time at.
func (act *Activity) timed(det string, at int64) {
	o, ok := act.Outcomes[det]
	if !ok || !o.Hit || act.Complete == 0 {
		return
	}
	// An emission before the completing packet comes from a source with
	// coarse times (knockd's LogFile stamps the minute): no latency.
	if lat := time.Duration(at - act.Complete); lat >= 0 && (o.Latency < 0 || lat < o.Latency) {
		o.Latency = lat
		act.Outcomes[det] = o
	}
}

// flatten lists the hunt's findings with every incident's members beside
// it, so each detector is scored on its own alerts (the correlator shows
// members inside their incident).
func flatten(alerts []*alert.Alert) []*alert.Alert {
	var out []*alert.Alert
	var walk func([]*alert.Alert)
	walk = func(as []*alert.Alert) {
		for _, a := range as {
			out = append(out, a)
			walk(a.MemberAlerts)
		}
	}
	walk(alerts)
	return out
}

// matches reports whether an alert is about a labelled activity: same
// source (and destination, where the alert names one) and overlapping time.
// An alert stamped on a whole minute may come from a source with minute
// precision (knockd's LogFile), so its minute is enough.
func matches(a *alert.Alert, l Label) bool {
	if a.Src != l.src || (a.Dst.IsValid() && a.Dst != l.dst) {
		return false
	}
	first, last := a.FirstSeen, a.LastSeen
	if first.IsZero() {
		first, last = a.Time, a.Time
	}
	lo, hi := l.Start.Add(-slack), l.End.Add(slack)
	if first.Equal(first.Truncate(time.Minute)) {
		lo = lo.Truncate(time.Minute)
	}
	return !last.Before(lo) && !first.After(hi)
}

// completing finds the packet that completed a labelled sequence: the last
// attempt from the source to the destination on one of the sequence's
// ports within the label's interval.
func completing(l Label, events []event.Event) int64 {
	if len(l.Sequence) == 0 {
		return 0
	}
	type pp struct {
		port  uint16
		proto event.Proto
	}
	var want []pp
	for _, s := range l.Sequence {
		p, err := config.ParsePortSpec(s)
		if err != nil {
			continue
		}
		want = append(want, pp{p.Port, p.Proto})
	}
	lo, hi := l.Start.Add(-slack).UnixNano(), l.End.Add(slack).UnixNano()
	var t int64
	for i := range events {
		ev := &events[i]
		if ev.Kind != event.KindAttempt || ev.Time < lo || ev.Time > hi || ev.Src != l.src || ev.Dst != l.dst || ev.Action == event.ActionAllowed {
			continue
		}
		if slices.Contains(want, pp{ev.DstPort, ev.Proto}) {
			t = max(t, ev.Time)
		}
	}
	return t
}

// readEvents decodes the inputs again, the way hunt.Run does, and returns
// every event in time order (payloads copied, so they outlive the batches).
func readEvents(ctx context.Context, o hunt.Options, files []string) ([]event.Event, error) {
	op := &source.Opener{
		Inputs:  source.NewInputs(),
		Decode:  decode.Options{Year: o.Year, Location: o.Location, BootTime: o.BootTime},
		Workers: 1,
		Packets: o.Packets,
	}
	var all []event.Event
	for _, f := range files {
		s, c, err := op.Open(ctx, f)
		if errors.Is(err, source.ErrUnknownFormat) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for {
			b, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for _, ev := range b.Events {
				ev.Payload = bytes.Clone(ev.Payload)
				all = append(all, ev)
			}
			b.Release()
		}
		c.Close()
	}
	slices.SortStableFunc(all, func(a, b event.Event) int { return cmp.Compare(a.Time, b.Time) })
	return all, nil
}

// emission is an alert and the event time at which the detector sent it.
type emission struct {
	alert *alert.Alert
	at    int64
}

// replay runs the detectors over events one at a time, advancing event
// time in idle ticks between them as a live sensor does, and returns every
// alert with the event time at which it was emitted. The hunt batches its
// input, so its own emission times say nothing about latency.
func replay(cfg config.Config, events []event.Event) []emission {
	var out []emission
	var now int64
	dets := detect.New(cfg, 1, detect.Deps{Emit: func(a *alert.Alert) {
		out = append(out, emission{alert: a, at: now})
	}})
	advance := func(to int64) {
		for now+int64(tick) < to {
			now += int64(tick)
			for _, d := range dets {
				d.Advance(now)
			}
		}
		now = max(now, to)
		for _, d := range dets {
			d.Advance(now)
		}
	}
	for i := range events {
		ev := &events[i]
		if now == 0 {
			now = ev.Time
		}
		advance(ev.Time)
		for _, d := range dets {
			d.Observe(ev)
		}
		for _, d := range dets {
			d.Advance(now)
		}
	}
	if now != 0 {
		advance(now + int64(cfg.Sequence.FollowWindow) + int64(cfg.Sequence.ScanHorizon))
	}
	for _, d := range dets {
		d.Flush()
	}
	return out
}

// detectorOrder lists the detectors to show: knockwatch's in a fixed order,
// any others that alerted, then the baseline.
func detectorOrder(mr *ModeResult) []string {
	fixed := []string{"sequence", "spa", "magic", "daemon", "process", "scan", "correlate"}
	seen := map[string]bool{}
	for _, act := range mr.Activities {
		for d := range act.Outcomes {
			seen[d] = true
		}
	}
	for _, a := range mr.Unlabelled {
		seen[a.Detector] = true
	}
	var out []string
	for _, d := range fixed {
		if seen[d] || d == "sequence" || d == "spa" || d == "scan" {
			out = append(out, d)
		}
		delete(seen, d)
	}
	delete(seen, baselineName)
	var rest []string
	for d := range seen {
		rest = append(rest, d)
	}
	slices.Sort(rest)
	return append(append(out, rest...), baselineName)
}

// Counts are a detector's totals over its target labels.
type Counts struct {
	TP, FP, Miss int
	Latencies    []time.Duration
}

// Recall is TP over target activities.
func (c Counts) Recall() (float64, bool) {
	if c.TP+c.Miss == 0 {
		return 0, false
	}
	return float64(c.TP) / float64(c.TP+c.Miss), true
}

// Precision is TP over everything flagged.
func (c Counts) Precision() (float64, bool) {
	if c.TP+c.FP == 0 {
		return 0, false
	}
	return float64(c.TP) / float64(c.TP+c.FP), true
}

// Totals computes a detector's counts in one mode.
func (mr *ModeResult) Totals(det string) Counts {
	var c Counts
	for _, act := range mr.Activities {
		o := act.Outcomes[det]
		switch {
		case targets(det, act.Label.Label) && o.Hit:
			c.TP++
			if o.Latency >= 0 {
				c.Latencies = append(c.Latencies, o.Latency)
			}
		case targets(det, act.Label.Label):
			c.Miss++
		case o.Hit:
			c.FP++
		}
	}
	for _, a := range mr.Unlabelled {
		if a.Detector == det {
			c.FP++
		}
	}
	slices.Sort(c.Latencies)
	return c
}

// Write prints the scorecard. The output depends only on the corpus and
// the detectors, so it can be compared with a golden file.
func (sc *Scorecard) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	nacts := 0
	if len(sc.Modes) > 0 {
		nacts = len(sc.Modes[0].Activities)
	}
	p("knockwatch scorecard over %s: %d scenarios, %d labelled activities\n", filepath.ToSlash(sc.Corpus), sc.Scenarios, nacts)
	p("A detector's finding counts at medium severity or more (scan findings: at any severity).\n")
	p("baseline = the fixed-bin three-branch SIEM rule (1-minute bins, 3-8 distinct ports, 3-12 deny events, 1-30 s span).\n")
	p("Cells: activities flagged / activities, then the median time from the completing packet to the first alert.\n")
	for _, mr := range sc.Modes {
		p("\n== input: %s\n", mr.Mode.Title)
		if !mr.Available {
			p("not scored: %s\n", mr.Reason)
			continue
		}
		sc.writeMode(bw, mr)
	}
	return bw.Flush()
}

func (sc *Scorecard) writeMode(bw *bufio.Writer, mr *ModeResult) {
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	dets := mr.Detectors
	p("%d records, %d events, %d decode errors\n", mr.Records, mr.Events, mr.DecodeErrors)
	for _, e := range mr.ErrorSamples {
		p("  decode error: %s\n", e)
	}

	// Per label.
	var labels []string
	byLabel := map[string][]*Activity{}
	for _, act := range mr.Activities {
		l := act.Label.Label
		if _, ok := byLabel[l]; !ok {
			labels = append(labels, l)
		}
		byLabel[l] = append(byLabel[l], act)
	}
	slices.SortFunc(labels, func(a, b string) int { return cmp.Compare(labelRank(a)+a, labelRank(b)+b) })
	p("\nper label\n")
	p("%-18s %3s", "label", "n")
	for _, d := range dets {
		p("  %-14s", d)
	}
	p("\n")
	for _, l := range labels {
		acts := byLabel[l]
		p("%-18s %3d", l, len(acts))
		for _, d := range dets {
			hits := 0
			var lats []time.Duration
			for _, act := range acts {
				if o := act.Outcomes[d]; o.Hit {
					hits++
					if o.Latency >= 0 {
						lats = append(lats, o.Latency)
					}
				}
			}
			cell := fmt.Sprintf("%d/%d", hits, len(acts))
			if len(lats) > 0 {
				slices.Sort(lats)
				cell += " " + fmtLatency(lats[(len(lats)-1)/2])
			}
			p("  %-14s", cell)
		}
		p("\n")
	}

	// Per detector.
	p("\nper detector (targets: sequence and baseline knock*, spa spa*, daemon and correlate knock* and spa*, scan scan)\n")
	p("%-10s %4s %4s %5s %7s %10s  %s\n", "detector", "TP", "FP", "miss", "recall", "precision", "time to alert: median / max")
	for _, d := range dets {
		c := mr.Totals(d)
		r, rok := c.Recall()
		pr, pok := c.Precision()
		lat := "-"
		if n := len(c.Latencies); n > 0 {
			lat = fmtLatency(c.Latencies[(n-1)/2]) + " / " + fmtLatency(c.Latencies[n-1])
		}
		p("%-10s %4d %4d %5d %7s %10s  %s\n", d, c.TP, c.FP, c.Miss, fmtRatio(r, rok), fmtRatio(pr, pok), lat)
	}

	// Per activity.
	p("\nper activity (highest severity per detector; baseline: fired or -)\n")
	for _, act := range mr.Activities {
		l := act.Label
		p("%-18s %-16s %-15s", l.Scenario, l.Label, l.Src)
		for _, d := range dets {
			o, ok := act.Outcomes[d]
			switch {
			case !ok:
				p(" %s=-", d)
			case d == baselineName:
				p(" %s=fired", d)
			default:
				p(" %s=%s", d, o.Severity)
			}
			if ok && o.Hit && o.Latency >= 0 {
				p("@%s", fmtLatency(o.Latency))
			}
		}
		p("\n")
	}
	var wrongSeq []string
	for _, act := range mr.Activities {
		l := act.Label
		o := act.Outcomes["sequence"]
		if o.Hit && len(l.Sequence) > 0 && strings.HasPrefix(l.Label, "knock") && !strings.Contains(o.Sequence, strings.Join(l.Sequence, ",")) {
			wrongSeq = append(wrongSeq, fmt.Sprintf("  %s/%s reported %s, labelled %s\n", l.Scenario, l.Src, o.Sequence, strings.Join(l.Sequence, ",")))
		}
	}
	if len(wrongSeq) > 0 {
		p("\nknock alerts whose sequence does not hold the labelled one\n%s", strings.Join(wrongSeq, ""))
	}
	if len(mr.Unlabelled) > 0 {
		p("\nfindings matching no labelled activity (false positives)\n")
		for _, a := range mr.Unlabelled {
			p("  %s %s %s %s\n", a.Detector, a.Severity, a.Src, a.Summary)
		}
	}
	if len(mr.Mismatch) > 0 {
		p("\nnote: %d alert(s) of the hunt differ in the event-by-event replay that times alerts: %s\n", len(mr.Mismatch), strings.Join(mr.Mismatch, ", "))
	}

	// The bar.
	var missing, noisy []string
	for _, act := range mr.Activities {
		l := act.Label
		if required[l.Label] {
			var by []string
			for _, d := range dets {
				if d != baselineName && targets(d, l.Label) && act.Outcomes[d].Hit {
					by = append(by, d)
				}
			}
			if len(by) == 0 {
				missing = append(missing, fmt.Sprintf("%s/%s %s", l.Scenario, l.Src, l.Label))
			}
		}
		if negative(l.Label) {
			for _, d := range dets {
				if d != baselineName && d != "scan" && act.Outcomes[d].Hit {
					noisy = append(noisy, fmt.Sprintf("%s/%s %s by %s", l.Scenario, l.Src, l.Label, d))
				}
			}
		}
	}
	p("\nevery knock, slow, straddling, UDP, mixed, hping3 knock and accepted SPA detected at medium+ by a knockwatch detector: %s\n", verdict(missing))
	p("no scan or benign activity raised a knock, SPA, daemon or incident alert of medium+: %s\n", verdict(noisy))
}

// relPath shortens the corpus folder out of a message, so the output does
// not depend on where the corpus lives.
func relPath(msg, corpus string) string {
	return strings.ReplaceAll(msg, filepath.Clean(corpus)+string(filepath.Separator), "")
}

func verdict(bad []string) string {
	if len(bad) == 0 {
		return "yes"
	}
	return "NO (" + strings.Join(bad, "; ") + ")"
}

// labelRank orders labels: knocks, SPA, scans, benign, others.
func labelRank(l string) string {
	switch {
	case strings.HasPrefix(l, "knock"):
		return "0"
	case strings.HasPrefix(l, "spa"):
		return "1"
	case l == "scan":
		return "2"
	case strings.HasPrefix(l, "benign"):
		return "3"
	}
	return "4"
}

func fmtRatio(x float64, ok bool) string {
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

// fmtLatency rounds to 0.1 s: the replay's tick.
func fmtLatency(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return strconv.FormatFloat(d.Round(tick).Seconds(), 'f', 1, 64) + "s"
}
