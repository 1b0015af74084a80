// Package hunt runs knockwatch over files: discover the inputs, sniff and
// open them, merge their events in time order, run the detectors and return
// the findings in a stable order. The CLI's hunt and explain commands, the
// scorecard and the end-to-end tests all go through Run, so they see the
// same engine the sensor runs.
package hunt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/correlate"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// Options configure a hunt.
type Options struct {
	Paths  []string
	Config config.Config
	// Format forces one format for every input; empty sniffs.
	Format   string
	Year     int
	Location *time.Location
	BootTime time.Time
	// Workers and Shards default to the number of CPUs.
	Workers int
	Shards  int
	// Trace records the detectors' reasoning about one source.
	Trace *detect.Trace
	// Stdin replaces os.Stdin for the "-" input.
	Stdin io.Reader
	// Packets opens packet captures; nil reports them as unsupported.
	Packets source.PacketOpener
	// Stats, if set, receives the counters (so a progress display can read
	// them while the hunt runs).
	Stats *stats.Run
}

// Result is what a hunt found.
type Result struct {
	Alerts []*alert.Alert
	Stats  *stats.Run
	State  []detect.Stats
	Inputs *source.Inputs
	// Files are the inputs that were opened.
	Files []string
	// IOErrors are inputs that could not be read.
	IOErrors []error
}

// Run hunts over opts.Paths.
func Run(ctx context.Context, opts Options) (*Result, error) {
	files, err := source.Discover(opts.Paths)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no input files")
	}
	cpus := runtime.GOMAXPROCS(0)
	workers := opts.Workers
	if workers <= 0 {
		workers = cpus
		if len(files) > 2 {
			workers = 1 // files decode in parallel with each other
		}
	}
	shards := opts.Shards
	if shards <= 0 {
		shards = cpus
	}
	st := opts.Stats
	if st == nil {
		st = stats.New()
	}
	res := &Result{Stats: st, Inputs: source.NewInputs()}
	opener := &source.Opener{
		Inputs:  res.Inputs,
		Stats:   st,
		Format:  opts.Format,
		Decode:  decode.Options{Year: opts.Year, Location: opts.Location, BootTime: opts.BootTime},
		Workers: workers,
		Packets: opts.Packets,
		Stdin:   opts.Stdin,
	}
	if opts.Format != "" {
		if _, err := decode.Lookup(opts.Format); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var streams []source.Stream
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, f := range files {
		s, c, err := opener.Open(ctx, f)
		if err != nil {
			if errors.Is(err, source.ErrUnknownFormat) {
				st.Skip(err.Error())
				continue
			}
			res.IOErrors = append(res.IOErrors, err)
			continue
		}
		streams = append(streams, s)
		closers = append(closers, c)
		res.Files = append(res.Files, f)
	}

	var mu sync.Mutex
	collect := func(a *alert.Alert) {
		mu.Lock()
		res.Alerts = append(res.Alerts, a)
		mu.Unlock()
	}
	eng := engine.New(opts.Config, engine.Options{Shards: shards, Origins: res.Inputs, Trace: opts.Trace, Alerts: collect})
	eng.RunStreams(ctx, streams, func(err error) { res.IOErrors = append(res.IOErrors, err) })
	eng.Close()
	res.State = eng.Stats()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Alerts = Finish(res.Alerts)
	return res, nil
}

// Finish puts alerts in their stable order (time, then id), adds what only
// the whole stream shows (a knock sequence seen from several sources), and
// joins the branches of one knock into incidents (package correlate). It
// returns what the hunt reports: the incidents and the alerts no incident
// took; an incident carries its members.
func Finish(alerts []*alert.Alert) []*alert.Alert {
	slices.SortStableFunc(alerts, func(a, b *alert.Alert) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	NewEnricher(0).Each(alerts)
	detect.SPAReplays(alerts) // replays whose packets went to different shards
	return correlate.Fold(alerts, correlate.Options{})
}

// Enricher adds cross-source facts to alerts in time order. Its memory is
// capped: it remembers at most capacity sequences.
type Enricher struct {
	capacity int
	seen     map[string]map[string]struct{} // dst+sequence -> sources
	order    []string
	copies   daemonCopies
}

// NewEnricher remembers up to capacity sequences (0: 10000).
func NewEnricher(capacity int) *Enricher {
	if capacity <= 0 {
		capacity = 10000
	}
	return &Enricher{capacity: capacity, seen: map[string]map[string]struct{}{}, copies: daemonCopies{capacity: capacity, last: map[string]daemonCopy{}}}
}

// Each enriches alerts in order.
func (e *Enricher) Each(alerts []*alert.Alert) {
	for _, a := range alerts {
		e.Enrich(a)
	}
}

// Enrich raises the confidence of a knock whose exact sequence to the same
// host came earlier from other sources: a shared secret in use. It links
// the two reports of one knockd event, from its LogFile and from syslog
// (see daemonCopies).
func (e *Enricher) Enrich(a *alert.Alert) {
	if a.Detector == "daemon" {
		e.copies.link(a)
		return
	}
	if a.Detector != "sequence" || len(a.Sequence) == 0 {
		return
	}
	key := a.Dst.String() + " " + alert.SequenceString(a.Sequence)
	srcs, ok := e.seen[key]
	if !ok {
		if len(e.order) >= e.capacity {
			delete(e.seen, e.order[0])
			e.order = e.order[1:]
		}
		srcs = map[string]struct{}{}
		e.seen[key] = srcs
		e.order = append(e.order, key)
	}
	src := a.Src.String()
	others := len(srcs)
	if _, self := srcs[src]; self {
		others--
	}
	if others > 0 {
		a.Confidence = min(0.99, a.Confidence+0.1)
		a.Reasons = append(a.Reasons, fmt.Sprintf("same sequence to this host seen from %d other source(s)", others))
	}
	if len(srcs) < 64 {
		srcs[src] = struct{}{}
	}
}
