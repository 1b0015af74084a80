package report

import (
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Geometry of a timeline drawing, in SVG user units (px at 100%).
const (
	svgWidth   = 960.0
	plotX0     = 124.0 // left of the plot; lane titles end at plotX0-10
	plotX1     = 944.0
	titleH     = 22.0 // a panel's title row
	labelRowH  = 13.0 // one row of mark labels
	maxRows    = 3    // label rows per lane before labels may overlap
	markHalf   = 8.0  // half the height of a mark
	laneGap    = 8.0
	axisH      = 30.0
	panelGap   = 12.0
	charW      = 6.3 // estimated width of one character at 11px
	maxLabel   = 34  // characters of a label drawn; the full text is in the tooltip and the list
	minLabelPx = 42.0
)

type svgView struct {
	Title  string
	Height string
	Panels []panelView
}

type panelView struct {
	Y       string // translate of the panel
	Title   string
	Class   string // "zoom" or "overview"
	Lanes   []laneView
	AxisY   string
	AxisX0  string
	AxisX1  string
	Ticks   []tickView
	TickY2  string
	LabelY  string
	Caption string
}

type tickView struct {
	X, Label string
}

type laneView struct {
	Name   string // lane key
	Title  string
	TitleY string
	LineY  string
	Marks  []markView
}

type markView struct {
	Shape string // bar, diamond, square, circle, band, link
	X, Y  string
	W, H  string
	// X2 ends a link.
	X2     string
	Points string
	Class  string
	Label  string
	LX, LY string
	Anchor string
	Title  string
	Knock  int
	Lane   string
	Approx bool
}

// layout draws a timeline: a zoomed panel per knock sequence (ports at
// their offsets from the first knock) and an overview of the whole finding
// on an absolute clock with a lane per kind of event. A finding that is
// only a knock sequence gets only the zoomed panel.
func layout(tl timeline, loc *time.Location, what string) svgView {
	v := svgView{Title: "Timeline of " + what}
	y := 0.0
	for _, g := range tl.Groups {
		if len(g.Events) < 2 {
			continue
		}
		last := g.Events[len(g.Events)-1].Offset
		ax := newAxis(0, last, plotX0, plotX1)
		p := panelView{Class: "zoom"}
		p.Title = fmt.Sprintf("Knock sequence (%s): %d knocks in %s", g.Label, len(g.Events), fmtDuration(last))
		lane := laneView{Name: laneKnock, Title: laneTitles[laneKnock]}
		var marks []markView
		for _, e := range g.Events {
			marks = append(marks, eventMark(e, ax.x(e.Offset), e.Label))
		}
		h := placeLane(&lane, marks, titleH)
		p.Lanes = append(p.Lanes, lane)
		p.Ticks = toTicks(ax.relativeTicks(0))
		p.Caption = "time since the first knock, at " + fmtClock(g.First, loc, true)
		finishPanel(&p, titleH+h)
		p.Y = px(y)
		y += titleH + h + axisH + panelGap
		v.Panels = append(v.Panels, p)
	}
	lanes := map[string][]event{}
	var order []string
	for _, e := range tl.Events {
		if _, ok := lanes[e.Lane]; !ok {
			order = append(order, e.Lane)
		}
		lanes[e.Lane] = append(lanes[e.Lane], e)
	}
	slices.SortStableFunc(order, func(a, b string) int { return laneRank(a) - laneRank(b) })
	zoomed := len(v.Panels)
	if len(tl.Events) == 0 || (len(order) == 1 && order[0] == laneKnock && len(tl.Groups) == 1 && zoomed == 1) {
		v.Height = px(max(y-panelGap, 1))
		return v
	}
	lo, hi := tl.Events[0].T, tl.Events[0].T
	for _, e := range tl.Events {
		lo, hi = min(lo, e.T), max(hi, e.T)
		if e.End > e.T && !e.Approx {
			hi = max(hi, e.End)
		}
	}
	ax := newAxis(lo, hi, plotX0, plotX1)
	p := panelView{Class: "overview", Title: "Overview"}
	if zoomed == 0 {
		p.Title = "Timeline"
	}
	laneY := titleH
	var lastKnock int64
	haveKnock := false
	for _, name := range order {
		evs := lanes[name]
		lane := laneView{Name: name, Title: laneTitles[name]}
		if lane.Title == "" {
			lane.Title = name
		}
		var marks []markView
		// Knocks of a zoomed sequence are labelled one by one only where
		// they stand apart; otherwise the first carries the count.
		spread := map[int]bool{}
		for _, g := range tl.Groups {
			if len(g.Events) < 2 {
				continue
			}
			minGap := 1e9
			for i := 1; i < len(g.Events); i++ {
				minGap = min(minGap, ax.x(g.Events[i].T)-ax.x(g.Events[i-1].T))
			}
			spread[g.Events[0].Group] = minGap >= minLabelPx
		}
		for _, e := range evs {
			label := e.Label
			if e.Lane == laneKnock && e.Knock > 0 {
				if !haveKnock || e.T > lastKnock {
					lastKnock, haveKnock = e.T, true
				}
				if sp, ok := spread[e.Group]; ok && !sp {
					label = ""
					if e.Knock == 1 {
						label = fmt.Sprintf("%d knocks", groupLen(tl, e.Group))
					}
				}
			}
			m := eventMark(e, ax.x(e.T), label)
			if e.End > e.T {
				m.Shape = "band"
				m.W = px(max(ax.x(e.End)-ax.x(e.T), 2))
				if e.Approx {
					m.Class += " approx"
				}
			}
			marks = append(marks, m)
		}
		if name == laneConn && haveKnock {
			for _, e := range evs {
				if e.T > lastKnock {
					marks = append([]markView{{Shape: "link", X: px(ax.x(lastKnock)), X2: px(ax.x(e.T)), Class: "link"}}, marks...)
					break
				}
			}
		}
		h := placeLane(&lane, marks, laneY)
		laneY += h
		p.Lanes = append(p.Lanes, lane)
	}
	ticks, relative, origin := ax.clockTicks(loc)
	p.Ticks = toTicks(ticks)
	p.Caption = fmtClock(lo, loc, true) + " to " + fmtClock(hi, loc, false) + " (" + fmtDuration(hi-lo) + ")"
	if hi == lo {
		p.Caption = "at " + fmtClock(lo, loc, true)
	} else if relative {
		p.Caption = "time since " + fmtClock(origin, loc, true) + "; " + p.Caption
	}
	finishPanel(&p, laneY)
	p.Y = px(y)
	y += laneY + axisH
	v.Panels = append(v.Panels, p)
	v.Height = px(y)
	return v
}

func groupLen(tl timeline, g int) int {
	for _, x := range tl.Groups {
		if len(x.Events) > 0 && x.Events[0].Group == g {
			return len(x.Events)
		}
	}
	return 0
}

// eventMark is the shape of an event at x; its vertical place is set by
// placeLane.
func eventMark(e event, x float64, label string) markView {
	m := markView{X: px(x), Class: e.Class, Label: clip(label), Title: e.Text, Knock: e.Knock, Lane: e.Lane, Approx: e.Approx}
	if e.Approx {
		m.Title += " (time known to the minute)"
	}
	switch e.Lane {
	case laneKnock:
		m.Shape = "bar"
	case laneConn:
		m.Shape = "diamond"
	case laneDaemon:
		m.Shape = "square"
	case laneProcess:
		m.Shape = "circle"
	default:
		m.Shape = "square"
	}
	return m
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}

// placeLane puts a lane's labels on up to maxRows rows above its marks so
// they do not overlap (where they must, the last row takes them), then
// sets the marks' vertical coordinates. It returns the lane's height.
func placeLane(l *laneView, marks []markView, top float64) float64 {
	idx := make([]int, len(marks))
	for i := range idx {
		idx[i] = i
	}
	xs := func(i int) float64 { v, _ := strconv.ParseFloat(marks[i].X, 64); return v }
	slices.SortStableFunc(idx, func(a, b int) int {
		xa, xb := xs(a), xs(b)
		switch {
		case xa < xb:
			return -1
		case xa > xb:
			return 1
		}
		return 0
	})
	var rowEnd [maxRows]float64
	for i := range rowEnd {
		rowEnd[i] = -1e9
	}
	row := make([]int, len(marks))
	rows := 0
	for _, i := range idx {
		m := &marks[i]
		if m.Label == "" || m.Shape == "link" {
			row[i] = -1
			continue
		}
		x := xs(i)
		w := float64(utf8.RuneCountInString(m.Label)) * charW
		left, anchor := x-w/2, "middle"
		switch {
		case left < plotX0-6:
			left, anchor = x-3, "start"
		case x+w/2 > svgWidth-2:
			left, anchor = x-w+3, "end"
		}
		r := -1
		for k := range maxRows {
			if rowEnd[k]+6 <= left {
				r = k
				break
			}
		}
		if r < 0 {
			r = maxRows - 1
			for k := range maxRows {
				if rowEnd[k] < rowEnd[r] {
					r = k
				}
			}
		}
		rowEnd[r] = max(rowEnd[r], left+w)
		row[i] = r
		rows = max(rows, r+1)
		m.Anchor = anchor
	}
	base := top + laneGap + float64(rows)*labelRowH + 4 + markHalf
	for i := range marks {
		m := &marks[i]
		x := xs(i)
		switch m.Shape {
		case "bar":
			m.Y, m.W, m.H = px(base-markHalf), "5", px(2*markHalf)
			m.X = px(x - 2.5)
		case "square":
			m.Y, m.W, m.H = px(base-5), "10", "10"
			m.X = px(x - 5)
		case "band":
			m.Y, m.H = px(base-markHalf), px(2*markHalf)
		case "circle":
			m.Y = px(base)
		case "diamond":
			m.Points = fmt.Sprintf("%s,%s %s,%s %s,%s %s,%s", px(x), px(base-7), px(x+7), px(base), px(x), px(base+7), px(x-7), px(base))
		case "link":
			m.Y = px(base)
		}
		if row[i] >= 0 {
			m.LX = px(x)
			if m.Anchor == "start" {
				m.LX = px(x - 3)
			} else if m.Anchor == "end" {
				m.LX = px(x + 3)
			}
			m.LY = px(base - markHalf - 5 - float64(rows-1-row[i])*labelRowH)
		}
	}
	l.Marks = marks
	l.LineY = px(base)
	l.TitleY = px(base + 4)
	return laneGap + float64(rows)*labelRowH + 4 + 2*markHalf + laneGap
}

func finishPanel(p *panelView, bottom float64) {
	p.AxisY = px(bottom + 2)
	p.AxisX0, p.AxisX1 = px(plotX0), px(plotX1)
	p.TickY2 = px(bottom + 7)
	p.LabelY = px(bottom + 19)
}

func toTicks(ts []tick) []tickView {
	out := make([]tickView, len(ts))
	for i, t := range ts {
		out[i] = tickView{X: px(t.X), Label: t.Label}
	}
	return out
}

// fmtClock writes a time with microseconds, and the date and zone when
// asked: "2026-11-22 17:52:09.567101 UTC".
func fmtClock(ns int64, loc *time.Location, full bool) string {
	t := time.Unix(0, ns).In(loc)
	layout := "15:04:05.000000"
	if t.Nanosecond()%int(time.Microsecond) != 0 {
		layout = "15:04:05.000000000"
	}
	if full {
		return t.Format("2006-01-02 " + layout + " MST")
	}
	return t.Format(layout)
}
