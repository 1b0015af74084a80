package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/knockwatch/knockwatch/internal/stats"
)

// progress draws a bar over the bytes read, with the record rate, on a
// terminal. It reads the hunt's atomic counters from its own goroutine, so
// the decoders never touch the bar.
type progress struct {
	bar  *progressbar.ProgressBar
	done chan struct{}
	over chan struct{}
}

func startProgress(w io.Writer, st *stats.Run, total int64) *progress {
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetDescription("hunting"),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)
	p := &progress{bar: bar, done: make(chan struct{}), over: make(chan struct{})}
	go func() {
		defer close(p.over)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
				recs := st.Records.Load()
				rate := float64(recs) / time.Since(start).Seconds()
				bar.Describe(fmt.Sprintf("hunting: %d records (%.0f/s)", recs, rate))
				_ = bar.Set64(st.Bytes.Load())
			}
		}
	}()
	return p
}

func (p *progress) stop() {
	close(p.done)
	<-p.over
	_ = p.bar.Finish()
	_ = p.bar.Clear()
}
