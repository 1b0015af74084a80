package watch

import (
	"container/heap"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/correlate"
	"github.com/knockwatch/knockwatch/internal/hunt"
	"github.com/knockwatch/knockwatch/internal/sink"
)

// post is the streaming form of hunt.Finish: what a hunt does to the whole
// list of alerts at the end, the sensor does as they come.
//
//   - Order: shards emit alerts as their deadlines pass, not in time order.
//     Alerts are held until every shard's watermark is the reorder window
//     past them, then released in (time, id) order, as hunt.Finish sorts
//     them. An alert that arrives after later ones were released is late:
//     it goes out at once, and is counted.
//   - Enrichment: the same hunt.Enricher, over the released order.
//   - Correlation: alerts go out as they are released; incidents
//     (correlate.Join over a sliding window) go out once no later alert
//     can join them, i.e. when the released watermark is the correlation
//     window past their last member. A hunt folds members into their
//     incident; a stream cannot take back what it sent, so here members
//     go out on their own first and the incident after them.
//   - De-duplication: alerts whose id is in the delivered journal (sent
//     before a restart and rebuilt by the replay) are not sent again.
//   - Delivery: each alert is handed to every sink; once all have taken it
//     (delivered, spooled or refused) its id is journaled. The delivered
//     watermark, up to which every alert is out, drives the replay
//     positions.
type post struct {
	window int64
	sinks  []*sink.Deliverer
	jrnl   *journal
	onOut  func(*alert.Alert) // metrics, called for each alert sent

	// mu orders alerts; epMu guards the epochs (taken alone by sinks'
	// completion callbacks, which may run inside Submit, under mu).
	mu       sync.Mutex
	epMu     sync.Mutex
	held     alert.Heap
	released int64 // alerts at or before this time have been released
	enricher *hunt.Enricher
	corr     *correlate.Stream
	epochs   []*epoch
	// delivered: every alert at or before it is out (Unix ns).
	delivered atomic.Int64

	late    atomic.Int64
	deduped atomic.Int64
	pending atomic.Int64
}

type epoch struct {
	threshold   int64
	outstanding int
	sealed      bool
}

func newPost(window time.Duration, corrWindow time.Duration, sinks []*sink.Deliverer, j *journal, onOut func(*alert.Alert)) *post {
	p := &post{window: int64(window), sinks: sinks, jrnl: j, onOut: onOut, released: math.MinInt64, enricher: hunt.NewEnricher(0), corr: correlate.NewStream(corrWindow, 0)}
	p.delivered.Store(math.MinInt64)
	return p
}

// add takes an alert from a shard.
func (p *post) add(a *alert.Alert) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := a.Time.UnixNano()
	if t <= p.released {
		p.late.Add(1)
		p.send(a, p.current())
		return
	}
	heap.Push(&p.held, a)
}

// current is the epoch a late alert joins: a new one, sealed at once (its
// threshold is what was already released).
func (p *post) current() *epoch {
	p.epMu.Lock()
	defer p.epMu.Unlock()
	e := &epoch{threshold: p.released, sealed: true}
	p.epochs = append(p.epochs, e)
	return e
}

// progress releases what the shards' watermark allows; final releases
// everything (the engine has stopped).
func (p *post) progress(watermark int64, final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	threshold := watermark - p.window
	if threshold < p.released {
		threshold = p.released
	}
	e := &epoch{threshold: threshold}
	p.epMu.Lock()
	p.epochs = append(p.epochs, e)
	p.epMu.Unlock()
	for p.held.Len() > 0 && (final || p.held[0].Time.UnixNano() <= threshold) {
		a := heap.Pop(&p.held).(*alert.Alert)
		p.send(a, e)
	}
	p.released = threshold
	for _, inc := range p.corr.Advance(threshold, final) {
		p.send(inc, e)
	}
	p.epMu.Lock()
	e.sealed = true
	p.settle()
	p.epMu.Unlock()
}

// send enriches, de-duplicates and hands an alert to every sink.
func (p *post) send(a *alert.Alert, e *epoch) {
	if a.Kind != "incident" {
		p.enricher.Enrich(a)
		p.corr.Add(a)
	}
	if p.jrnl != nil && !p.jrnl.claim(a.ID, a.Time.UnixNano()) {
		p.deduped.Add(1)
		return
	}
	if p.onOut != nil {
		p.onOut(a)
	}
	p.epMu.Lock()
	e.outstanding++
	p.epMu.Unlock()
	p.pending.Add(1)
	left := int32(len(p.sinks))
	id, t := a.ID, a.Time.UnixNano()
	done := func() {
		if atomic.AddInt32(&left, -1) != 0 {
			return
		}
		if p.jrnl != nil {
			p.jrnl.add(id, t)
		}
		p.pending.Add(-1)
		p.epMu.Lock()
		e.outstanding--
		p.settle()
		p.epMu.Unlock()
	}
	if len(p.sinks) == 0 {
		left = 1
		done()
		return
	}
	for _, s := range p.sinks {
		s.Submit(a, done)
	}
}

// settle advances the delivered watermark over finished epochs. Called
// with p.epMu held.
func (p *post) settle() {
	n := 0
	for n < len(p.epochs) && p.epochs[n].sealed && p.epochs[n].outstanding == 0 {
		if t := p.epochs[n].threshold; t > p.delivered.Load() {
			p.delivered.Store(t)
		}
		n++
	}
	if n > 0 {
		clear(p.epochs[:n])
		p.epochs = p.epochs[n:]
	}
}
