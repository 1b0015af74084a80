package sink

import (
	"strconv"
	"strings"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// CEF renders alerts in ArcSight's Common Event Format (CEF:0), the form
// most SIEMs parse from syslog:
//
//	CEF:0|knockwatch|knockwatch|<version>|<detector>:<technique>|<summary>|<severity>|<extension>
//
// Header fields escape '\' and '|'; extension values escape '\', '=' and
// line ends (\n, \r), per the CEF specification (Micro Focus "Implementing
// ArcSight CEF", rev. 25). Severity maps info..critical to 1, 3, 5, 8, 10.
type CEF struct {
	// Version is the product version in the header.
	Version string
}

var cefSeverity = [...]int{0, 1, 3, 5, 8, 10}

// Format renders one alert (without a syslog header).
func (c CEF) Format(a *alert.Alert) string {
	var b strings.Builder
	b.Grow(512)
	b.WriteString("CEF:0|knockwatch|knockwatch|")
	cefHeader(&b, c.Version)
	b.WriteByte('|')
	cefHeader(&b, a.Detector+":"+a.Technique)
	b.WriteByte('|')
	cefHeader(&b, a.Summary)
	b.WriteByte('|')
	sev := 0
	if int(a.Severity) < len(cefSeverity) {
		sev = cefSeverity[a.Severity]
	}
	b.WriteString(strconv.Itoa(sev))
	b.WriteByte('|')
	first := true
	ext := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(k)
		b.WriteByte('=')
		cefValue(&b, v)
	}
	ext("rt", strconv.FormatInt(a.Time.UnixMilli(), 10))
	ext("externalId", a.ID)
	ext("cat", a.Detector)
	if a.Src.IsValid() {
		ext("src", a.Src.String())
	}
	if a.Dst.IsValid() {
		ext("dst", a.Dst.String())
	}
	ext("dhost", a.Host)
	ext("start", strconv.FormatInt(a.FirstSeen.UnixMilli(), 10))
	ext("end", strconv.FormatInt(a.LastSeen.UnixMilli(), 10))
	if a.FollowedBy != nil {
		ext("dpt", strconv.Itoa(int(a.FollowedBy.Port)))
		ext("proto", a.FollowedBy.Proto)
	}
	ext("cs1Label", "technique")
	ext("cs1", a.Technique)
	if len(a.Sequence) > 0 {
		ext("cs2Label", "sequence")
		ext("cs2", alert.SequenceString(a.Sequence))
	}
	if a.Authorized {
		ext("cs3Label", "authorized_as")
		ext("cs3", a.AuthorizedAs)
	}
	if a.Supersedes != "" {
		ext("cs4Label", "supersedes")
		ext("cs4", a.Supersedes)
	}
	if a.Incident != "" {
		ext("cs5Label", "incident")
		ext("cs5", a.Incident)
	}
	ext("cn1Label", "confidence_pct")
	ext("cn1", strconv.Itoa(int(a.Confidence*100+0.5)))
	ext("msg", strings.Join(a.Reasons, "; "))
	return b.String()
}

func cefHeader(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n', '\r':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
}

func cefValue(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
}
