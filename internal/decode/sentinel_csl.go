package decode

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fastjson"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads exports of Microsoft Sentinel's CommonSecurityLog table
// (formats.md 4.10; columns per
// https://learn.microsoft.com/en-us/azure/azure-monitor/reference/tables/commonsecuritylog):
// the CEF records a Log Analytics workspace holds, one row each, as CSV with
// a header row or as JSON objects. Two formats, because the two need
// different sniffing and different state, but one mapping from columns to
// an event (cslRecord.event).
//
// CSV: the header row names the columns, in any order. The portal's
// "Export to CSV" writes datetime columns as "TimeGenerated [UTC]" with
// values like "11/22/2025, 10:15:02.118 AM"; KQL and the API write ISO 8601.
// Fields may be quoted, with "" for a quote and line breaks inside quotes
// (a Message spanning lines), so a record may span lines.
//
// JSON: one object per row, in any of the shapes exports come in: one object
// per line, a JSON array on one line, an array with one object per line and
// ",", or a pretty-printed array (az monitor log-analytics query). Objects
// are found by a brace scanner and parsed one at a time with fastjson; a
// whole array is never held. An object is read over several lines only when
// its opening brace ends its line, as pretty-printers write it, so a
// truncated one-line object is an error of its own line and never swallows
// the rows after it. The REST API's {"tables":[{"columns","rows"}]}
// shape is not read.
//
// Time: ReceiptTime (the CEF rt text, as the device wrote it) where the row
// has one, else TimeGenerated (the ingestion time).

// cslLateness: an export is in the order of the query that made it, which
// is none unless the query sorts (the portal shows newest first), so a
// whole export may be reversed. Holding an export whole is affordable: Log
// Analytics returns at most 500,000 rows to a query (Azure Monitor service
// limits), about 70 MB of events. The value is "longer than any export
// spans", chosen so that subtracting it from any event time cannot
// overflow.
const cslLateness = 100 * 365 * 24 * time.Hour

var sentinelCSLCSVFormat = Format{
	Name:     "sentinel-csl-csv",
	Summary:  "Microsoft Sentinel CommonSecurityLog exported as CSV with a header row (portal, KQL or API export)",
	Sniff:    sniffCSLCSV,
	New:      func(o Options) Decoder { return newCSLCSVDecoder(o) },
	Parallel: false, // the header row sets the columns; records may span lines
	Lateness: cslLateness,
	Header:   true,
}

var sentinelCSLJSONFormat = Format{
	Name:     "sentinel-csl-json",
	Summary:  "Microsoft Sentinel CommonSecurityLog exported as JSON (objects per line, or an array, also pretty-printed)",
	Sniff:    sniffCSLJSON,
	New:      func(o Options) Decoder { return newCSLJSONDecoder(o) },
	Parallel: false, // a pretty-printed object spans lines
	Lateness: cslLateness,
}

// CommonSecurityLog column roles.
const (
	cslNone uint8 = iota
	cslTimeGenerated
	cslReceiptTime
	cslDeviceAction
	cslEventOutcome
	cslActivity
	cslClassID
	cslSourceIP
	cslSourcePort
	cslDestinationIP
	cslDestinationPort
	cslProtocol
	cslEventCount
	// cslVendor marks columns only CommonSecurityLog has, for sniffing.
	cslVendor
	cslRoles
)

func cslRole(name []byte) uint8 {
	switch string(name) {
	case "TimeGenerated":
		return cslTimeGenerated
	case "ReceiptTime":
		return cslReceiptTime
	case "DeviceAction":
		return cslDeviceAction
	case "EventOutcome":
		return cslEventOutcome
	case "Activity":
		return cslActivity
	case "DeviceEventClassID":
		return cslClassID
	case "SourceIP":
		return cslSourceIP
	case "SourcePort":
		return cslSourcePort
	case "DestinationIP":
		return cslDestinationIP
	case "DestinationPort":
		return cslDestinationPort
	case "Protocol":
		return cslProtocol
	case "EventCount":
		return cslEventCount
	case "DeviceVendor", "DeviceProduct":
		return cslVendor
	}
	return cslNone
}

// cslColumnName strips what exports add to a column name: the portal's
// " [UTC]" after datetime columns.
func cslColumnName(b []byte) []byte {
	if i := bytes.IndexByte(b, '['); i > 0 && b[len(b)-1] == ']' {
		b = b[:i]
	}
	return bytes.TrimSpace(b)
}

// cslRecord holds the columns knockwatch reads, as text.
type cslRecord struct {
	v [cslRoles][]byte
}

// event maps a row onto an attempt. line is the text the values were sliced
// from (for error columns), nil when they were not. A row without both
// addresses (a CEF event that is not traffic) or without a destination
// port (traffic that is not a port attempt) yields nothing.
func (r *cslRecord) event(c *clock, line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	col := func(v []byte) int {
		if line == nil {
			return 0
		}
		return colIn(line, v)
	}
	v := &r.v
	if len(v[cslSourceIP]) == 0 || len(v[cslDestinationIP]) == 0 {
		return dst, nil
	}
	ev := event.Event{Origin: origin, Kind: event.KindAttempt}
	var ok bool
	if ev.Src, ok = parseAddr(v[cslSourceIP]); !ok {
		return dst, errorf(ReasonBadAddr, "SourceIP", col(v[cslSourceIP]), "not an IP address")
	}
	if ev.Dst, ok = parseAddr(v[cslDestinationIP]); !ok {
		return dst, errorf(ReasonBadAddr, "DestinationIP", col(v[cslDestinationIP]), "not an IP address")
	}
	if p := v[cslProtocol]; len(p) > 0 {
		if ev.Proto, ok = parseProtoWord(p); !ok {
			return dst, errorf(ReasonBadProto, "Protocol", col(p), "unknown protocol")
		}
		if ev.Proto == event.ProtoICMP && ev.Src.Is6() {
			ev.Proto = event.ProtoICMPv6
		}
	}
	icmp := ev.Proto == event.ProtoICMP || ev.Proto == event.ProtoICMPv6
	if len(v[cslDestinationPort]) == 0 && !icmp {
		return dst, nil
	}
	if ev.Proto == 0 {
		return dst, errorf(ReasonMissingField, "Protocol", 0, "a port attempt without its protocol")
	}
	if !icmp {
		if b := v[cslSourcePort]; len(b) > 0 {
			n, ok := parseUint(b, 65535)
			if !ok {
				return dst, errorf(ReasonBadPort, "SourcePort", col(b), "not a port number")
			}
			ev.SrcPort = uint16(n)
		}
		if b := v[cslDestinationPort]; len(b) > 0 {
			n, ok := parseUint(b, 65535)
			if !ok {
				return dst, errorf(ReasonBadPort, "DestinationPort", col(b), "not a port number")
			}
			ev.DstPort = uint16(n)
		}
	}
	if ev.Proto == event.ProtoTCP {
		ev.Flags |= event.FlagNoTCPFlags
	}
	if b := v[cslEventCount]; len(b) > 0 {
		n, ok := parseUint(b, 1<<32-1)
		if !ok {
			return dst, errorf(ReasonBadField, "EventCount", col(b), "not a count")
		}
		ev.Count = uint32(n)
	}
	switch {
	case len(v[cslReceiptTime]) > 0:
		b := v[cslReceiptTime]
		if ev.Time, ok = parseCEFTime(b, c); !ok {
			return dst, errorf(ReasonBadTime, "ReceiptTime", col(b), "not a CEF rt time (epoch milliseconds or MMM dd yyyy HH:mm:ss)")
		}
	case len(v[cslTimeGenerated]) > 0:
		b := v[cslTimeGenerated]
		if ev.Time, ok = parseTimeGenerated(b, c); !ok {
			return dst, errorf(ReasonBadTime, "TimeGenerated", col(b), "not ISO 8601 or M/d/yyyy, h:mm:ss.fff AM|PM")
		}
	default:
		return dst, errorf(ReasonMissingField, "TimeGenerated", 0, "neither ReceiptTime nor TimeGenerated")
	}
	for _, role := range [...]uint8{cslDeviceAction, cslEventOutcome, cslActivity, cslClassID} {
		if ev.Action = actionWord(v[role]); ev.Action != event.ActionUnknown {
			break
		}
	}
	return append(dst, ev), nil
}

// parseTimeGenerated reads a Log Analytics datetime, always UTC: ISO 8601
// with or without its Z ("2025-11-22T10:15:02.1183110Z", "2025-11-22
// 10:15:02.118"), or the portal's "11/22/2025, 10:15:02.118 AM".
func parseTimeGenerated(b []byte, c *clock) (int64, bool) {
	if len(b) >= 19 && b[4] == '-' {
		if t, ok := parseISOTime(b); ok {
			return t, true
		}
		// Without a zone: UTC, as every Kusto datetime.
		y, ok := atoi4(b)
		if !ok || y < minEventYear || y >= maxEventYear {
			return 0, false
		}
		var buf [40]byte
		if len(b) >= len(buf) {
			return 0, false
		}
		return parseISOTime(append(append(buf[:0], b...), 'Z'))
	}
	if len(b) > 0 && digit(b[0]) {
		return parseUSTime(b, c, 0, true)
	}
	return 0, false
}

// sniffCSLCSV recognises the header row: both address columns and a column
// only CommonSecurityLog has.
func sniffCSLCSV(line []byte) int {
	if !bytes.Contains(line, []byte("SourceIP")) {
		return 0
	}
	var seen [cslRoles]bool
	rest := bytes.TrimPrefix(line, utf8BOM)
	for i := 0; i >= 0; {
		v, next, st := csvField(rest, i)
		if st != csvOK {
			return 0
		}
		seen[cslRole(cslColumnName(v))] = true
		i = next
	}
	if seen[cslSourceIP] && seen[cslDestinationIP] &&
		(seen[cslVendor] || seen[cslDeviceAction] || seen[cslReceiptTime] || seen[cslActivity] || seen[cslClassID]) {
		return sniffHeader
	}
	return 0
}

var (
	tokJSONDeviceVendor  = []byte(`"DeviceVendor"`)
	tokJSONDeviceProduct = []byte(`"DeviceProduct"`)
	tokJSONDeviceAction  = []byte(`"DeviceAction"`)
)

// sniffCSLJSON scores a line with a CommonSecurityLog key above a CEF (12)
// or netfilter (10) line quoted in its Message; in a pretty-printed export
// each of these keys is a line of its own.
func sniffCSLJSON(line []byte) int {
	if bytes.Contains(line, tokJSONDeviceVendor) || bytes.Contains(line, tokJSONDeviceProduct) || bytes.Contains(line, tokJSONDeviceAction) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && (t[0] == '{' || t[0] == '"' || t[0] == '[') {
			return 20
		}
	}
	return 0
}

// csvStatus says how reading a field, or a record, ended.
type csvStatus uint8

const (
	csvOK csvStatus = iota
	// csvOpenQuote: the line ended inside a quoted field.
	csvOpenQuote
	// csvBadQuote: text follows a closing quote.
	csvBadQuote
	// csvBadCount: a record with more or fewer fields than the header.
	csvBadCount
)

// csvField reads the RFC 4180 field starting at rec[i] and returns its
// value (without the enclosing quotes; a doubled "" inside stays doubled,
// which no value knockwatch reads can hold), the index of the next field,
// -1 after the last. Hand-written rather than encoding/csv, which needs an
// io.Reader (and so a csv.Reader) per line here, since a record may go on
// past its line, and allocates the record's strings: for a portal row,
// encoding/csv takes about 8x the time of this whole decoder and 20
// allocations (BenchmarkSentinelCSLCSVEncodingCSV against
// BenchmarkSentinelCSLCSV).
func csvField(rec []byte, i int) ([]byte, int, csvStatus) {
	if i < len(rec) && rec[i] == '"' {
		j := i + 1
		for {
			k := bytes.IndexByte(rec[j:], '"')
			if k < 0 {
				return rec[i+1:], -1, csvOpenQuote
			}
			j += k
			if j+1 < len(rec) && rec[j+1] == '"' {
				j += 2
				continue
			}
			v := rec[i+1 : j]
			switch {
			case j+1 == len(rec):
				return v, -1, csvOK
			case rec[j+1] == ',':
				return v, j + 2, csvOK
			}
			return v, -1, csvBadQuote
		}
	}
	k := bytes.IndexByte(rec[i:], ',')
	if k < 0 {
		return rec[i:], -1, csvOK
	}
	return rec[i : i+k], i + k + 1, csvOK
}

// cslMaxRecordLines and cslMaxRecordBytes bound a record joined from lines
// inside quotes: a stray quote must not swallow the file.
const (
	cslMaxRecordLines = 64
	cslMaxRecordBytes = 256 << 10
	// cslMaxObjectLines: a pretty-printed row puts each of its about 150
	// columns on a line of its own.
	cslMaxObjectLines = 1024
)

type cslCSVDecoder struct {
	clk clock
	// roles[i] is what column i holds; nil until a header row.
	roles []uint8
	rec   cslRecord
	// pending is a record whose quoted field continues on the next line.
	pending       []byte
	pendingOrigin event.Origin
	pendingLines  int
	// pendingIndex are the line numbers of the pending lines (blank lines
	// between them never reach the decoder).
	pendingIndex [cslMaxRecordLines]uint64
}

func newCSLCSVDecoder(o Options) *cslCSVDecoder {
	return &cslCSVDecoder{clk: newClock(o)}
}

var _ Decoder = (*cslCSVDecoder)(nil)

// Decode reads one line: a header row, a record, or part of a record.
func (d *cslCSVDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	if d.pendingLines == 0 {
		evs, st, err := d.record(line, origin, dst)
		if st != csvOpenQuote {
			return evs, err
		}
		d.pending = append(d.pending[:0], line...)
		d.pendingOrigin = origin
		d.pendingIndex[0] = origin.Index
		d.pendingLines = 1
		return dst, nil
	}
	d.pending = append(append(d.pending, '\n'), line...)
	d.pendingIndex[d.pendingLines] = origin.Index
	d.pendingLines++
	evs, st, err := d.record(d.pending, d.pendingOrigin, dst)
	switch {
	case st == csvOpenQuote && d.pendingLines < len(d.pendingIndex) && len(d.pending) < cslMaxRecordBytes:
		return dst, nil // still inside the quoted field
	case st == csvOK:
		d.pendingLines = 0
		if err != nil {
			err = withDetail(err, fmt.Sprintf("in the record from line %d", d.pendingOrigin.Index))
		}
		return evs, err
	}
	// The lines joined do not make a record (text after the closing quote,
	// a wrong number of fields, or no closing quote within the bounds): the
	// quote that opened the join was a stray one. Report it, and read the
	// lines after it on their own, so the rows it swallowed are not lost
	// (their own errors, if any, go unreported: a call returns one).
	start, index, lines := d.pendingOrigin, d.pendingIndex, d.pendingLines
	joined := d.pending
	d.pending, d.pendingLines = nil, 0 // joined keeps the old buffer
	err = errorf(ReasonMalformed, "", 0, fmt.Sprintf("the quote opened on line %d does not close a field", start.Index))
	rest := joined[bytes.IndexByte(joined, '\n')+1:]
	for k := 1; k < lines; k++ {
		l := rest
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			l, rest = rest[:nl], rest[nl+1:]
		}
		dst, _ = d.Decode(l, event.Origin{Input: start.Input, Index: index[k]}, dst)
	}
	return dst, err
}

// withDetail adds context to a decode error's detail.
func withDetail(err error, ctx string) error {
	var e *Error
	if errors.As(err, &e) {
		if e.Detail != "" {
			e.Detail += " "
		}
		e.Detail += "(" + ctx + ")"
		e.Column = 0
	}
	return err
}

// record reads a header row or a record.
func (d *cslCSVDecoder) record(rec []byte, origin event.Origin, dst []event.Event) ([]event.Event, csvStatus, error) {
	if d.roles == nil || (bytes.Contains(rec, []byte("SourceIP")) && sniffCSLCSV(rec) > 0) {
		return dst, csvOK, d.header(rec)
	}
	r := &d.rec
	*r = cslRecord{}
	n := 0
	for i := 0; i >= 0; n++ {
		v, next, st := csvField(rec, i)
		switch st {
		case csvOpenQuote:
			return dst, st, nil
		case csvBadQuote:
			return dst, st, errorf(ReasonMalformed, "", colIn(rec, v), "text after a closing quote")
		}
		if n < len(d.roles) {
			r.v[d.roles[n]] = v
		}
		i = next
	}
	if n != len(d.roles) {
		reason := ReasonMalformed
		if n < len(d.roles) {
			reason = ReasonTruncated
		}
		return dst, csvBadCount, errorf(reason, "", 0, fmt.Sprintf("%d fields, the header row has %d", n, len(d.roles)))
	}
	r.v[cslNone], r.v[cslVendor] = nil, nil
	evs, err := r.event(&d.clk, rec, origin, dst)
	return evs, csvOK, err
}

// header reads the header row. A row without the columns a record needs
// leaves the decoder without a header, and every record reports that.
func (d *cslCSVDecoder) header(rec []byte) error {
	rec = bytes.TrimPrefix(rec, utf8BOM)
	roles := d.roles[:0]
	var seen [cslRoles]bool
	for i := 0; i >= 0; {
		v, next, st := csvField(rec, i)
		if st != csvOK {
			d.roles = nil
			return errorf(ReasonBadHeader, "", colIn(rec, v), "unbalanced quotes in the header row")
		}
		r := cslRole(cslColumnName(v))
		if r == cslVendor {
			r = cslNone
		}
		if r != cslNone && seen[r] {
			d.roles = nil
			return errorf(ReasonBadHeader, string(cslColumnName(v)), colIn(rec, v), "column named twice")
		}
		seen[r] = true
		roles = append(roles, r)
		i = next
	}
	switch {
	case !seen[cslSourceIP] || !seen[cslDestinationIP]:
		d.roles = nil
		return errorf(ReasonBadHeader, "SourceIP", 0, "not a CommonSecurityLog header row: no SourceIP and DestinationIP columns")
	case !seen[cslTimeGenerated] && !seen[cslReceiptTime]:
		d.roles = nil
		return errorf(ReasonBadHeader, "TimeGenerated", 0, "the header row has no TimeGenerated or ReceiptTime column")
	}
	d.roles = roles
	return nil
}

// cslJSONDecoder finds the objects of an export, whatever its layout, with
// a scanner that tracks nesting across lines, and decodes each.
type cslJSONDecoder struct {
	p   fastjson.Parser
	clk clock
	rec cslRecord
	num [cslRoles][24]byte

	// Scanner state inside an object that continues on the next line.
	depth int
	inStr bool
	// skipping: the object was too long to be a row and was reported; its
	// remaining lines are skipped.
	skipping bool
	// pending holds that object's text so far.
	pending       []byte
	pendingOrigin event.Origin
	pendingLines  int
}

func newCSLJSONDecoder(o Options) *cslJSONDecoder {
	return &cslJSONDecoder{clk: newClock(o)}
}

var _ Decoder = (*cslJSONDecoder)(nil)

// Decode reads the objects that end on this line. A line may end none (a
// line inside a pretty-printed object), one, or several (an array on one
// line); it reports the first error and decodes the rest.
func (d *cslJSONDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	i := 0
	fastTried := false
	if d.skipping {
		end, done := d.scan(line, 0)
		if !done {
			return dst, nil
		}
		d.reset()
		i = end
	} else if d.depth > 0 {
		end, done := d.scan(line, 0)
		d.pending = append(d.pending, line[:end]...)
		d.pendingLines++
		if !done {
			if d.pendingLines >= cslMaxObjectLines || len(d.pending) >= cslMaxRecordBytes {
				d.skipping = true
				d.pending = d.pending[:0]
				return dst, errorf(ReasonTooLong, "", 0, fmt.Sprintf("the JSON object from line %d is not closed within %d lines or %d bytes; skipped to its end", d.pendingOrigin.Index, cslMaxObjectLines, cslMaxRecordBytes))
			}
			d.pending = append(d.pending, '\n')
			return dst, nil
		}
		var err error
		dst, err = d.object(d.pending, d.pendingOrigin, dst)
		if err != nil {
			err = withDetail(err, fmt.Sprintf("in the object from line %d", d.pendingOrigin.Index))
		}
		keep(err)
		d.reset()
		i = end
	}
	for {
		for i < len(line) {
			switch line[i] {
			case ' ', '\t', ',', '[', ']':
				i++
				continue
			}
			break
		}
		if i >= len(line) {
			return dst, firstErr
		}
		if line[i] != '{' {
			keep(errorf(ReasonMalformed, "", i+1, "text outside a JSON object"))
			return dst, firstErr
		}
		start := i
		if !fastTried {
			// One object making up the rest of the line (JSON lines, an
			// array with an object per line): parse it without scanning it
			// first. If it does not parse alone, the scanner sorts the line
			// out. Tried once per line: on a line of many objects, trying
			// at each would parse the line's tail again and again.
			fastTried = true
			last := len(line)
			for last > i && (line[last-1] == ' ' || line[last-1] == '\t' || line[last-1] == ',') {
				last--
			}
			if last > i && line[last-1] == '}' {
				if v, err := d.p.ParseBytes(line[i:last]); err == nil {
					var err error
					dst, err = d.mapObject(v, origin, dst)
					keep(err)
					i = last
					continue
				}
			}
		}
		end, done := d.scan(line, i)
		if !done {
			if len(bytes.TrimSpace(line[start+1:])) > 0 {
				// Pretty-printers end the line after an object's opening
				// brace; an object that starts with its fields on the line
				// is a one-line object cut short. Reading on would swallow
				// the rows after it.
				d.reset()
				keep(errorf(ReasonTruncated, "", start+1, "JSON object not closed on its line"))
				return dst, firstErr
			}
			d.pending = append(append(d.pending[:0], line[start:]...), '\n')
			d.pendingOrigin = origin
			d.pendingLines = 1
			return dst, firstErr
		}
		var err error
		dst, err = d.object(line[start:end], origin, dst)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Column > 0 {
				e.Column += start
			}
		}
		keep(err)
		i = end
	}
}

func (d *cslJSONDecoder) reset() {
	d.depth, d.inStr, d.skipping, d.pendingLines = 0, false, false, 0
	d.pending = d.pending[:0]
}

// scan advances the nesting state over b from i and returns the index just
// after the brace that closes the outermost object, or len(b) and false if
// the object goes on. Strings are skipped with IndexByte: a quote is escaped
// when an odd number of backslashes precede it.
func (d *cslJSONDecoder) scan(b []byte, i int) (int, bool) {
	for i < len(b) {
		if d.inStr {
			k := bytes.IndexByte(b[i:], '"')
			if k < 0 {
				return len(b), false
			}
			j := i + k
			bs := 0
			for j-1-bs >= i && b[j-1-bs] == '\\' {
				bs++
			}
			i = j + 1
			if bs%2 == 0 {
				d.inStr = false
			}
			continue
		}
		switch b[i] {
		case '"':
			d.inStr = true
		case '{', '[':
			d.depth++
		case '}', ']':
			d.depth--
			if d.depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return len(b), false
}

// object decodes one row object.
func (d *cslJSONDecoder) object(b []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	v, err := d.p.ParseBytes(b)
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "not JSON: "+err.Error())
	}
	return d.mapObject(v, origin, dst)
}

// mapObject maps a parsed row object onto an event.
func (d *cslJSONDecoder) mapObject(v *fastjson.Value, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	o, err := v.Object()
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "not a JSON object")
	}
	r := &d.rec
	*r = cslRecord{}
	var bad string
	o.Visit(func(key []byte, v *fastjson.Value) {
		role := cslRole(key)
		if role == cslNone || role == cslVendor || bad != "" {
			return
		}
		t, ok := jsonText(v, d.num[role][:0])
		if !ok {
			bad = string(key)
			return
		}
		r.v[role] = t
	})
	if bad != "" {
		return dst, errorf(ReasonBadField, bad, 0, "not a string, number or null")
	}
	return r.event(&d.clk, nil, origin, dst)
}
