package engine

import (
	"sync"
	"time"
)

// ManualClock is a Clock that moves only when told, for tests of the
// sensor that cannot run in a testing/synctest bubble (they wait on real
// files and sockets). Each Advance delivers one tick to every ticker.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []chan time.Time
}

// NewManualClock starts at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker returns a channel that receives a tick on every Advance; the
// interval is ignored.
func (c *ManualClock) NewTicker(time.Duration) (<-chan time.Time, func()) {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.tickers = append(c.tickers, ch)
	c.mu.Unlock()
	return ch, func() {}
}

// Advance moves the clock by d and ticks. A tick not yet taken is replaced,
// as time.Ticker drops ticks for slow receivers.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	ts := append([]chan time.Time(nil), c.tickers...)
	c.mu.Unlock()
	for _, ch := range ts {
		select {
		case ch <- now:
		default:
		}
	}
}
