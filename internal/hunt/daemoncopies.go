package hunt

import (
	"fmt"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// daemonCopies links the two reports of one knockd event. knockd set up
// with both a LogFile and syslog writes every message to both; hunted (or
// followed) together, the two give one finding each, in different shards
// (the LogFile names no host). The LogFile copy, to the minute, comes
// first in time order; the syslog copy, which names the host and the
// second, then supersedes it, so a consumer that keeps the latest (and
// the report) shows the event once. In time order, so hunt and watch link
// the same pairs.
type daemonCopies struct {
	capacity int
	last     map[string]daemonCopy // event key -> its latest report
	order    []string
}

type daemonCopy struct {
	id          string
	coarse      bool // from the LogFile: times to the minute, no host
	host        string
	first, last time.Time
}

// daemonCopyAttrs are the attributes two reports of one event share.
var daemonCopyAttrs = []string{"program", "event", "door", "command", "stages", "max_stage", "attempts", "opens"}

func (c *daemonCopies) link(a *alert.Alert) {
	if !a.Src.IsValid() || a.Attributes["program"] != "knockd" {
		return
	}
	var b strings.Builder
	b.WriteString(a.Src.String())
	for _, k := range daemonCopyAttrs {
		b.WriteByte('|')
		b.WriteString(a.Attributes[k])
	}
	key := b.String()
	cur := daemonCopy{id: a.ID, coarse: a.Attributes["time_precision"] == "minute", host: a.Host, first: a.FirstSeen, last: a.LastSeen}
	if prev, ok := c.last[key]; ok && prev.coarse != cur.coarse && a.Supersedes == "" {
		lf, sl := prev, cur
		if cur.coarse {
			lf, sl = cur, prev
		}
		// The syslog copy's first line falls in the LogFile copy's minutes.
		if (lf.host == "" || lf.host == sl.host) && !sl.first.Before(lf.first) && sl.first.Before(lf.last.Add(time.Minute)) {
			a.Supersedes = prev.id
			if cur.coarse {
				a.Reasons = append(a.Reasons, fmt.Sprintf("the same event as %s, which knockd also logged to syslog", prev.id))
			} else {
				a.Reasons = append(a.Reasons, fmt.Sprintf("the same event as %s, which knockd also wrote to its LogFile", prev.id))
			}
			delete(c.last, key)
			return
		}
	}
	if _, ok := c.last[key]; !ok {
		if len(c.order) >= c.capacity {
			delete(c.last, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
	}
	c.last[key] = cur
}
