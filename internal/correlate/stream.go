package correlate

import (
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// Stream is Join over an unbounded stream of alerts: it keeps a sliding
// window of them and hands out each incident once no later alert can join
// it. A hunt folds members into their incident; a stream cannot take back
// what it sent, so its user sends members on their own and the incident
// after them. The sensor (package watch) and the Kafka correlator use it.
//
// Alerts must be added in time order (the caller reorders them first);
// Advance is called with the time up to which every alert has been
// added. One that comes later still joins: an alert superseding a member
// (the knock, now followed by its connection) or a member out of order.
// The incident it makes then has other members than the one already
// handed out, hence another id, and names that one in Supersedes, as an
// alert names the one it replaces: a consumer keeps the newest.
type Stream struct {
	window  int64
	buf     []*alert.Alert
	emitted map[string]int64
	// memberOf maps the members of incidents handed out, and the alerts
	// superseding them, to the newest such incident.
	memberOf map[string]memberRef
	dirty    bool
	// max caps the window's alerts; beyond it the oldest are dropped from
	// correlation (the caller still delivers them).
	max int
	// dropped counts alerts dropped by that cap.
	dropped int64
}

type memberRef struct {
	incident string
	last     int64 // the incident's last member time, for expiry
}

// DefaultStreamCap is how many alerts a Stream holds at most.
const DefaultStreamCap = 4096

// NewStream makes a Stream over windows of the given length (0: the
// default Join window) that holds at most maxAlerts (0: DefaultStreamCap).
func NewStream(window time.Duration, maxAlerts int) *Stream {
	if window <= 0 {
		window = Options{}.window()
	}
	if maxAlerts <= 0 {
		maxAlerts = DefaultStreamCap
	}
	return &Stream{window: int64(window), emitted: map[string]int64{}, memberOf: map[string]memberRef{}, max: maxAlerts}
}

// Add takes the next alert (incidents are ignored).
func (c *Stream) Add(a *alert.Alert) {
	if a.Kind == "incident" {
		return
	}
	if len(c.buf) == c.max {
		c.buf[0] = nil
		c.buf = c.buf[1:]
		c.dropped++
	}
	c.buf = append(c.buf, a)
	c.dirty = true
	if ref, ok := c.memberOf[a.Supersedes]; a.Supersedes != "" && ok {
		c.memberOf[a.ID] = ref
	}
}

// Advance returns the incidents whose last member is a window before
// released (Unix ns; every alert up to it has been added), or all of them
// when final, each once; then it forgets alerts too old to join anything
// still to come.
func (c *Stream) Advance(released int64, final bool) []*alert.Alert {
	if len(c.buf) < 2 || (!c.dirty && !final) {
		c.expire(released)
		return nil
	}
	// Join marks its members; give it copies so what the caller sent is
	// not changed under it.
	cp := make([]*alert.Alert, len(c.buf))
	for i, a := range c.buf {
		x := *a
		cp[i] = &x
	}
	incidents := Join(cp, Options{Window: time.Duration(c.window)})
	var out []*alert.Alert
	stillOpen := false
	for _, in := range incidents {
		if _, done := c.emitted[in.ID]; done {
			continue
		}
		last := in.Time.UnixNano()
		for _, m := range in.MemberAlerts {
			last = max(last, m.LastSeen.UnixNano(), m.Time.UnixNano())
		}
		if !final && last+c.window > released {
			stillOpen = true
			continue
		}
		c.emitted[in.ID] = last
		var prev memberRef
		for _, id := range in.Members {
			if ref, ok := c.memberOf[id]; ok && (prev.incident == "" || ref.last >= prev.last) {
				prev = ref
			}
		}
		in.Supersedes = prev.incident
		for _, id := range in.Members {
			c.memberOf[id] = memberRef{incident: in.ID, last: last}
		}
		out = append(out, in)
	}
	c.dirty = stillOpen
	c.expire(released)
	return out
}

// Horizon is the oldest time (Unix ns) an alert still held can have after
// Advance(released): older ones can join nothing still to come.
func (c *Stream) Horizon(released int64) int64 { return released - 2*c.window }

// Len is how many alerts the window holds; Dropped how many the cap
// pushed out before their time.
func (c *Stream) Len() int       { return len(c.buf) }
func (c *Stream) Dropped() int64 { return c.dropped }

// expire drops alerts too old to join anything still to come.
func (c *Stream) expire(released int64) {
	cut := c.Horizon(released)
	i := 0
	for i < len(c.buf) && c.buf[i].Time.UnixNano() < cut {
		c.buf[i] = nil
		i++
	}
	c.buf = c.buf[i:]
	for id, t := range c.emitted {
		if t < cut {
			delete(c.emitted, id)
		}
	}
	for id, ref := range c.memberOf {
		if ref.last < cut {
			delete(c.memberOf, id)
		}
	}
}
