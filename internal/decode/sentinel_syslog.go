package decode

import (
	"bytes"
	"strconv"

	"github.com/valyala/fastjson"

	"github.com/knockwatch/knockwatch/internal/event"
)

// sentinelSyslogFormat reads an export of the Syslog table of Microsoft
// Sentinel / Azure Monitor Log Analytics (columns documented at
// https://learn.microsoft.com/azure/azure-monitor/reference/tables/syslog):
//
//   - CSV as the portal's "Export to CSV" writes it: a header row naming the
//     columns (datetime columns may carry a " [UTC]" suffix), then one row
//     per record, fields quoted where they hold commas or quotes;
//   - JSON lines as workspace data export and `az monitor log-analytics
//     query` pipelines write them: one object per line (a line that is an
//     element of a JSON array, with its "[", "," or "]", is accepted too).
//
// Each record is turned into a syslog header (host, program, PID, PRI, time)
// and its SyslogMessage goes through syslogDecoder.dispatch, so knockd,
// fwknopd and netfilter messages decode exactly as they do from a file.
var sentinelSyslogFormat = Format{
	Name:    "sentinel-syslog",
	Summary: "Microsoft Sentinel / Log Analytics Syslog table export (CSV with header row, or JSON lines)",
	Sniff:   sniffSentinelSyslog,
	New:     func(o Options) Decoder { return newSentinelSyslogDecoder(o) },
	// CSV columns are named by the header row, so the stream decodes in
	// one piece.
	Parallel: false,
}

var _ Decoder = (*sentinelSyslogDecoder)(nil)

// Columns the decoder reads, in the order of sentinelColumns.
const (
	scTimeGenerated = iota
	scEventTime
	scComputer
	scHostName
	scHostIP
	scProcessName
	scProcessID
	scFacility
	scSeverityLevel
	scSyslogMessage
	scCount
)

var sentinelColumns = [scCount]string{
	"TimeGenerated", "EventTime", "Computer", "HostName", "HostIP",
	"ProcessName", "ProcessID", "Facility", "SeverityLevel", "SyslogMessage",
}

type sentinelSyslogDecoder struct {
	sys        *syslogDecoder
	cols       [scCount]int
	nCols      int
	haveHeader bool
	fields     [][]byte
	unq        []byte
	vals       [scCount][]byte
	p          fastjson.Parser
	h          syslogLine
}

func newSentinelSyslogDecoder(o Options) *sentinelSyslogDecoder {
	return &sentinelSyslogDecoder{sys: newSyslogDecoder(o)}
}

var (
	tokSyslogMessage = []byte("SyslogMessage")
	tokTimeGenerated = []byte("TimeGenerated")
)

func sniffSentinelSyslog(line []byte) int {
	if !bytes.Contains(line, tokSyslogMessage) || !bytes.Contains(line, tokTimeGenerated) {
		return 0
	}
	if bytes.Contains(line, []byte(`"SyslogMessage"`)) && bytes.IndexByte(line, '{') >= 0 {
		return 20 // one JSON record: outscores the netfilter text it may hold
	}
	// A CSV header row: it must outscore the syslog format, which scores
	// every data row holding netfilter text.
	return 1000
}

// Decode decodes one CSV row, the CSV header or one JSON record.
func (s *sentinelSyslogDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	rec := bytes.TrimSpace(line)
	if len(rec) == 0 {
		return dst, nil
	}
	s.vals = [scCount][]byte{}
	if rec[0] == '{' || rec[0] == '[' || (rec[0] == ',' && len(rec) > 1) {
		if err := s.jsonRecord(rec); err != nil {
			return dst, err
		}
		if s.vals[scSyslogMessage] == nil && s.vals[scTimeGenerated] == nil {
			return dst, nil // "[" or "]" alone
		}
	} else {
		if err := s.splitCSV(line); err != nil {
			return dst, err
		}
		if s.isHeader() {
			s.readHeader()
			return dst, nil
		}
		if !s.haveHeader {
			return dst, errorf(ReasonBadHeader, "", 1, "CSV row before the header row naming the columns")
		}
		for c := range s.vals {
			if i := s.cols[c]; i >= 0 {
				if i >= len(s.fields) {
					return dst, errorf(ReasonMissingField, sentinelColumns[c], 0, "row has fewer fields than the header")
				}
				s.vals[c] = s.fields[i]
			}
		}
	}
	return s.record(origin, dst)
}

// record turns the column values into a syslog header and dispatches the
// message.
func (s *sentinelSyslogDecoder) record(origin event.Origin, dst []event.Event) ([]event.Event, error) {
	v := &s.vals
	msg := v[scSyslogMessage]
	if msg == nil {
		return dst, errorf(ReasonMissingField, "SyslogMessage", 0, "")
	}
	h := &s.h
	*h = syslogLine{pri: -1, msg: msg, afterHost: msg}
	ts, field := v[scEventTime], "EventTime"
	if len(ts) == 0 {
		ts, field = v[scTimeGenerated], "TimeGenerated"
	}
	if len(ts) > 0 {
		t, ok := parseSentinelTime(ts)
		if !ok {
			return dst, errorf(ReasonBadTime, field, 0, "not an ISO 8601 or portal (M/D/YYYY, h:mm:ss AM) time")
		}
		h.time, h.hasTime = t, true
	}
	h.host = v[scHostName]
	if len(h.host) == 0 {
		h.host = v[scComputer]
	}
	h.tag = v[scProcessName]
	if pid := v[scProcessID]; len(pid) > 0 && !(len(pid) == 1 && pid[0] == '0') {
		h.pid = pid
	}
	if f, ok := facilityNumber(v[scFacility]); ok {
		if sev, ok := severityNumber(v[scSeverityLevel]); ok {
			h.pri = f*8 + sev
		}
	}
	n := len(dst)
	dst, err := s.sys.dispatch(msg, h, origin, dst)
	if hip, ok := parseAddr(v[scHostIP]); ok {
		for i := n; i < len(dst); i++ {
			if dst[i].Kind == event.KindDaemon && !dst[i].Dst.IsValid() {
				dst[i].Dst = hip
			}
		}
	}
	return dst, err
}

func (s *sentinelSyslogDecoder) isHeader() bool {
	for _, f := range s.fields {
		if bytes.Equal(f, tokSyslogMessage) {
			return true
		}
	}
	return false
}

func (s *sentinelSyslogDecoder) readHeader() {
	for c := range s.cols {
		s.cols[c] = -1
	}
	for i, f := range s.fields {
		name := f
		if k := bytes.IndexByte(name, ' '); k > 0 { // "TimeGenerated [UTC]"
			name = name[:k]
		}
		for c, want := range sentinelColumns {
			if string(name) == want {
				s.cols[c] = i
			}
		}
	}
	s.nCols = len(s.fields)
	s.haveHeader = true
}

// splitCSV splits one RFC 4180 row into s.fields. Quoted fields with
// doubled quotes are unescaped into s.unq, which is sized for the whole row
// first so the fields it holds never move. A row cannot continue on the
// next line here: a quoted field with a line break is reported as such.
func (s *sentinelSyslogDecoder) splitCSV(line []byte) *Error {
	s.fields = s.fields[:0]
	if cap(s.unq) < len(line) {
		s.unq = make([]byte, 0, len(line)+64)
	}
	s.unq = s.unq[:0]
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			start := len(s.unq)
			j := i + 1
			closed := false
			for j < len(line) {
				c := line[j]
				if c == '"' {
					if j+1 < len(line) && line[j+1] == '"' {
						s.unq = append(s.unq, '"')
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				s.unq = append(s.unq, c)
				j++
			}
			if !closed {
				return errorf(ReasonTruncated, "", i+1, "quoted CSV field not closed on this line (multi-line fields are not supported)")
			}
			s.fields = append(s.fields, s.unq[start:len(s.unq):len(s.unq)])
			if j < len(line) && line[j] != ',' {
				return errorf(ReasonMalformed, "", j+1, "text after a closing quote")
			}
			i = j
		} else {
			j := i
			for j < len(line) && line[j] != ',' {
				j++
			}
			s.fields = append(s.fields, line[i:j])
			i = j
		}
		if i >= len(line) {
			return nil
		}
		i++ // the comma
	}
}

// jsonRecord reads one JSON object. The values alias the parser's buffer,
// valid until the next record.
func (s *sentinelSyslogDecoder) jsonRecord(rec []byte) *Error {
	rec = bytes.TrimLeft(rec, "[, \t")
	rec = bytes.TrimRight(rec, "], \t")
	if len(rec) == 0 {
		return nil
	}
	s.unq = s.unq[:0]
	v, err := s.p.ParseBytes(rec)
	if err != nil {
		return errorf(ReasonMalformed, "", 0, "not a JSON object: "+err.Error())
	}
	o, err := v.Object()
	if err != nil {
		return errorf(ReasonMalformed, "", 0, "JSON value is not an object")
	}
	var bad *Error
	o.Visit(func(k []byte, val *fastjson.Value) {
		for c, name := range sentinelColumns {
			if string(k) != name {
				continue
			}
			switch val.Type() {
			case fastjson.TypeString:
				b, _ := val.StringBytes()
				if b == nil {
					b = []byte{}
				}
				s.vals[c] = b
			case fastjson.TypeNumber:
				// ProcessID is an int column; keep its text. Earlier
				// values stay valid if s.unq grows: old arrays are
				// never written again.
				start := len(s.unq)
				s.unq = val.MarshalTo(s.unq)
				s.vals[c] = s.unq[start:]
			case fastjson.TypeNull:
			default:
				if bad == nil {
					bad = errorf(ReasonBadField, name, 0, "not a string")
				}
			}
		}
	})
	return bad
}

// parseSentinelTime reads the time forms exports use, all UTC:
// "2025-11-22T10:15:02.1183110Z" (ISO 8601, up to 7 fraction digits),
// "2025-11-22 10:15:02.118" (Kusto tools), and the portal's
// "11/22/2025, 10:15:02.118 AM".
func parseSentinelTime(b []byte) (int64, bool) {
	if len(b) >= 19 && digit(b[0]) && b[4] == '-' {
		if y, ok := atoi4(b); !ok || y < 1970 || y > 2200 {
			return 0, false // outside what Unix nanoseconds hold
		}
		if t, n, ok := parseRFC3339(b); ok && n == len(b) {
			return t, true
		}
		// No zone: the column is UTC.
		y, ok1 := atoi4(b)
		mo, ok2 := atoi2(b[5:])
		d, ok3 := atoi2(b[8:])
		h, mi, sec, ok4 := parseHMS(b[11:])
		if !ok1 || !ok2 || !ok3 || !ok4 || mo < 1 || mo > 12 || d < 1 || d > 31 || (b[10] != 'T' && b[10] != ' ') {
			return 0, false
		}
		ns, n := parseFraction(b[19:])
		if 19+n != len(b) {
			return 0, false
		}
		return utc(y, mo, d, h, mi, sec, ns, 0), true
	}
	// M/D/YYYY, h:mm:ss[.fff] AM
	i := 0
	num := func(maxDigits int) (int, bool) {
		start, n := i, 0
		for i < len(b) && digit(b[i]) && i-start < maxDigits {
			n = n*10 + int(b[i]-'0')
			i++
		}
		return n, i > start
	}
	expect := func(c byte) bool {
		if i < len(b) && b[i] == c {
			i++
			return true
		}
		return false
	}
	mo, ok1 := num(2)
	ok2 := expect('/')
	d, ok3 := num(2)
	ok4 := expect('/')
	y, ok5 := num(4)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || !expect(',') || !expect(' ') {
		return 0, false
	}
	h, ok6 := num(2)
	ok7 := expect(':')
	mi, ok8 := num(2)
	ok9 := expect(':')
	sec, ok10 := num(2)
	if !(ok6 && ok7 && ok8 && ok9 && ok10) {
		return 0, false
	}
	ns, n := parseFraction(b[i:])
	i += n
	if !expect(' ') || i+2 != len(b) {
		return 0, false
	}
	switch string(b[i:]) {
	case "AM", "am":
		if h == 12 {
			h = 0
		}
	case "PM", "pm":
		if h != 12 {
			h += 12
		}
	default:
		return 0, false
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970 || y > 2200 {
		return 0, false
	}
	return utc(y, mo, d, h, mi, min(sec, 59), ns, 0), true
}

var facilityNames = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

func facilityNumber(b []byte) (int, bool) {
	for i, n := range facilityNames {
		if string(b) == n {
			return i, true
		}
	}
	if n, err := strconv.Atoi(string(b)); err == nil && n >= 0 && n < 24 {
		return n, true
	}
	return 0, false
}

var severityNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

func severityNumber(b []byte) (int, bool) {
	for i, n := range severityNames {
		if string(b) == n {
			return i, true
		}
	}
	switch string(b) {
	case "emergency", "panic":
		return 0, true
	case "critical":
		return 2, true
	case "error":
		return 3, true
	case "warn":
		return 4, true
	}
	return 0, false
}
