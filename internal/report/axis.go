package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// An axis maps a span of time (nanoseconds) onto a pixel range and chooses
// tick marks a person can read, whether the span is a microsecond (the
// default knock client sends three SYNs within one) or minutes (a daemon's
// door closing, an SPA rule expiring).

// tickSteps are the steps an axis may use, in nanoseconds: 1-2-5 below a
// second, clock-friendly multiples above it.
var tickSteps = func() []int64 {
	var s []int64
	for p := int64(1); p < int64(time.Second); p *= 10 {
		s = append(s, p, 2*p, 5*p)
	}
	for _, sec := range []int64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
		s = append(s, sec*int64(time.Second))
	}
	for _, d := range []int64{2, 7, 14, 30, 60, 180, 365} {
		s = append(s, d*86400*int64(time.Second))
	}
	return s
}()

// maxTicks is the most tick labels an axis shows.
const maxTicks = 7

// niceStep is the smallest step that gives at most maxTicks ticks over span.
func niceStep(span int64) int64 {
	for _, s := range tickSteps {
		if span/s < maxTicks {
			return s
		}
	}
	return tickSteps[len(tickSteps)-1]
}

// axis is a linear map from [lo, hi] (ns) to [x0, x1] (px).
type axis struct {
	lo, hi int64
	x0, x1 float64
}

// newAxis pads [lo, hi] by a margin so marks at the ends are not cut, and
// shows a single instant in the middle of two seconds, so its clock labels
// say when it was.
func newAxis(lo, hi int64, x0, x1 float64) axis {
	span := hi - lo
	if span <= 0 {
		span = 2 * int64(time.Second)
		lo -= span / 2
		hi = lo + span
	}
	pad := max(span/20, 1)
	return axis{lo: lo - pad, hi: hi + pad, x0: x0, x1: x1}
}

// x places a time on the axis, clamped to its ends.
func (a axis) x(t int64) float64 {
	t = min(max(t, a.lo), a.hi)
	return a.x0 + (a.x1-a.x0)*float64(t-a.lo)/float64(a.hi-a.lo)
}

type tick struct {
	X     float64
	Label string
}

// relativeTicks labels offsets from origin ("0", "100 µs", "1.5 s").
func (a axis) relativeTicks(origin int64) []tick {
	step := niceStep(a.hi - a.lo)
	unit, name := unitFor(max(abs64(a.hi-origin), abs64(a.lo-origin), step))
	dec := decimals(step, unit)
	var out []tick
	for t := ceilDiv(a.lo-origin, step) * step; origin+t <= a.hi; t += step {
		label := "0"
		if t != 0 {
			label = formatUnits(t, unit, dec, name)
		}
		out = append(out, tick{X: a.x(origin + t), Label: label})
	}
	return out
}

// clockTicks labels wall-clock times in loc, to the precision the step
// needs ("17:52:09", "17:52:09.5", "17:52:09.567"). Below a millisecond a
// clock label would be all digits, so those axes are labelled as offsets
// from their start instead (the caption gives the start).
func (a axis) clockTicks(loc *time.Location) (ticks []tick, relative bool, origin int64) {
	step := niceStep(a.hi - a.lo)
	if step < int64(time.Millisecond) {
		origin = a.lo + (a.hi-a.lo)/20 // the padded start: the first mark
		return a.relativeTicks(origin), true, origin
	}
	_, off := time.Unix(0, a.lo).In(loc).Zone()
	shift := int64(off) * int64(time.Second)
	first := ceilDiv(a.lo+shift, step)*step - shift
	layout := "15:04:05"
	switch {
	case step >= int64(time.Minute):
		layout = "15:04"
	case step >= int64(time.Second):
	default:
		layout += "." + strings.Repeat("0", decimals(step, int64(time.Second)))
	}
	day := ""
	for t := first; t <= a.hi; t += step {
		tt := time.Unix(0, t).In(loc)
		label := tt.Format(layout)
		// A new day on the axis is named once.
		if d := tt.Format("Jan 2"); d != day {
			if day != "" {
				label = d + " " + label
			}
			day = d
		}
		ticks = append(ticks, tick{X: a.x(t), Label: label})
	}
	return ticks, false, 0
}

// unitFor picks the unit in which a magnitude reads best.
func unitFor(mag int64) (int64, string) {
	switch {
	case mag < int64(time.Microsecond):
		return 1, "ns"
	case mag < int64(time.Millisecond):
		return int64(time.Microsecond), "µs"
	case mag < int64(time.Second):
		return int64(time.Millisecond), "ms"
	case mag < 2*int64(time.Minute):
		return int64(time.Second), "s"
	case mag < 2*int64(time.Hour):
		return int64(time.Minute), "min"
	default:
		return int64(time.Hour), "h"
	}
}

// decimals is how many decimals a step needs when written in unit.
func decimals(step, unit int64) int {
	d := 0
	for p := unit; step%p != 0 && d < 9; p /= 10 {
		d++
	}
	return d
}

func formatUnits(v, unit int64, dec int, name string) string {
	return strconv.FormatFloat(float64(v)/float64(unit), 'f', dec, 64) + " " + name
}

// fmtDuration writes a duration with three significant digits in the unit
// that suits it: "296 µs", "1.27 s", "2 min 5 s".
func fmtDuration(d int64) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d == 0:
		s = "0 s"
	case d >= int64(2*time.Minute):
		m := d / int64(time.Minute)
		sec := (d % int64(time.Minute)) / int64(time.Second)
		if m >= 120 {
			s = fmt.Sprintf("%d h %d min", m/60, m%60)
		} else {
			s = fmt.Sprintf("%d min %d s", m, sec)
		}
	default:
		unit, name := unitFor(d)
		v := float64(d) / float64(unit)
		dec := 0
		if v < 10 {
			dec = 2
		} else if v < 100 {
			dec = 1
		}
		s = strconv.FormatFloat(v, 'f', dec, 64)
		if dec > 0 {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		s += " " + name
	}
	if neg {
		return "-" + s
	}
	return s
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// px formats a coordinate for SVG with one decimal, so output is stable.
func px(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}
