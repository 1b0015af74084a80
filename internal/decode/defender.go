package decode

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads Microsoft Defender XDR advanced-hunting exports
// (formats.md 5.1; columns per
// https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-deviceprocessevents-table
// and .../advanced-hunting-devicefileevents-table): DeviceProcessEvents rows
// become process events, DeviceFileEvents rows (FileCreated, FileModified,
// FileRenamed, FileDeleted) file events.
//
// CSV: a header row names the columns in any order (the portal's export
// may add " [UTC]" to datetime columns); fields are RFC 4180, so a quoted
// command line may hold commas, "" and line breaks, and a record may span
// lines. JSON: one object per line, flat as KQL and the API write a row, or
// the streaming API's {"category":"AdvancedHunting-…","properties":{…}}
// record, or a {"records":[…]} / {"Results":[…]} envelope or a JSON array
// held on one line. Pretty-printed JSON spanning lines is not read.

// defenderLateness: an export is in the order of its query, which the
// portal sorts newest first; holding a whole export is affordable (advanced
// hunting returns at most 100,000 rows).
const defenderLateness = 100 * 365 * 24 * time.Hour

var defenderFormat = Format{
	Name:     "defender",
	Summary:  "Microsoft Defender XDR DeviceProcessEvents / DeviceFileEvents exports, CSV with a header row or JSON",
	Sniff:    sniffDefender,
	New:      func(o Options) Decoder { return &defenderDecoder{clk: newClock(o)} },
	Parallel: false, // the header row sets the columns; records may span lines
	Lateness: defenderLateness,
	Header:   true,
}

var _ Decoder = (*defenderDecoder)(nil)

// Columns read.
const (
	dfNone uint8 = iota
	dfTimestamp
	dfDeviceName
	dfActionType
	dfFileName
	dfFolderPath
	dfCommandLine
	dfOriginalName
	dfProcessID
	dfAccountName
	dfParentFileName
	dfParentFolderPath
	dfParentCommandLine
	dfParentID
	dfGrandparentFileName
	dfParentAccountName
	dfColumns
)

var defenderColumns = map[string]uint8{
	"Timestamp":                          dfTimestamp,
	"DeviceName":                         dfDeviceName,
	"ActionType":                         dfActionType,
	"FileName":                           dfFileName,
	"FolderPath":                         dfFolderPath,
	"ProcessCommandLine":                 dfCommandLine,
	"ProcessVersionInfoOriginalFileName": dfOriginalName,
	"ProcessId":                          dfProcessID,
	"AccountName":                        dfAccountName,
	"InitiatingProcessFileName":          dfParentFileName,
	"InitiatingProcessFolderPath":        dfParentFolderPath,
	"InitiatingProcessCommandLine":       dfParentCommandLine,
	"InitiatingProcessId":                dfParentID,
	"InitiatingProcessParentFileName":    dfGrandparentFileName,
	"InitiatingProcessAccountName":       dfParentAccountName,
}

func defenderColumn(name []byte) uint8 { return defenderColumns[string(cslColumnName(name))] }

var (
	tokDeviceName       = []byte("DeviceName")
	tokProcCommandLine  = []byte("ProcessCommandLine")
	tokInitiatingFile   = []byte("InitiatingProcessFileName")
	tokJSONDeviceName   = []byte(`"DeviceName"`)
	tokJSONAdvHuntingDP = []byte(`"AdvancedHunting-Device`)
)

// sniffDefender recognises the CSV header row, or a JSON row with Defender
// columns.
func sniffDefender(line []byte) int {
	if !bytes.Contains(line, tokDeviceName) || !(bytes.Contains(line, tokProcCommandLine) || bytes.Contains(line, tokInitiatingFile)) {
		return 0
	}
	t := bytes.TrimSpace(bytes.TrimPrefix(line, utf8BOM))
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if bytes.Contains(t, tokJSONDeviceName) || bytes.Contains(t, tokJSONAdvHuntingDP) {
			return 20
		}
		return 0
	}
	var seen [dfColumns]bool
	for i := 0; i >= 0; {
		v, next, st := csvField(t, i)
		if st != csvOK {
			return 0
		}
		seen[defenderColumn(v)] = true
		i = next
	}
	if seen[dfTimestamp] && seen[dfDeviceName] && (seen[dfCommandLine] || seen[dfParentFileName]) {
		return sniffHeader
	}
	return 0
}

// defenderRow is one row's values by column role.
type defenderRow [dfColumns]string

const (
	dfMaxRecordLines = 64
	dfMaxRecordBytes = 256 << 10
)

type defenderDecoder struct {
	clk   clock
	roles []uint8 // CSV columns; nil before the header row
	p     fastjson.Parser

	pending       []byte
	pendingOrigin event.Origin
	pendingLines  int
}

// Decode reads a CSV header row, a CSV record (or a line of one), or a JSON
// line.
func (d *defenderDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	if d.pendingLines == 0 {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			return d.json(t, origin, dst)
		}
		evs, st, err := d.csv(line, origin, dst)
		if st != csvOpenQuote {
			return evs, err
		}
		d.pending = append(d.pending[:0], line...)
		d.pendingOrigin = origin
		d.pendingLines = 1
		return dst, nil
	}
	d.pending = append(append(d.pending, '\n'), line...)
	d.pendingLines++
	evs, st, err := d.csv(d.pending, d.pendingOrigin, dst)
	if st == csvOpenQuote {
		if d.pendingLines < dfMaxRecordLines && len(d.pending) < dfMaxRecordBytes {
			return dst, nil
		}
		start := d.pendingOrigin.Index
		d.pendingLines = 0
		return dst, errorf(ReasonMalformed, "", 0, fmt.Sprintf("the quote opened on line %d does not close within %d lines", start, dfMaxRecordLines))
	}
	d.pendingLines = 0
	return evs, err
}

// csv reads a header row or a record.
func (d *defenderDecoder) csv(rec []byte, origin event.Origin, dst []event.Event) ([]event.Event, csvStatus, error) {
	if d.roles == nil || sniffDefender(rec) == sniffHeader {
		return dst, csvOK, d.header(rec)
	}
	var row defenderRow
	n := 0
	for i := 0; i >= 0; n++ {
		v, next, st := csvField(rec, i)
		switch st {
		case csvOpenQuote:
			return dst, st, nil
		case csvBadQuote:
			return dst, st, errorf(ReasonMalformed, "", colIn(rec, v), "text after a closing quote")
		}
		if n < len(d.roles) && d.roles[n] != dfNone {
			row[d.roles[n]] = csvUnquote(v)
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
	evs, err := row.event(origin, dst)
	return evs, csvOK, err
}

func (d *defenderDecoder) header(rec []byte) error {
	rec = bytes.TrimPrefix(rec, utf8BOM)
	roles := d.roles[:0]
	var seen [dfColumns]bool
	for i := 0; i >= 0; {
		v, next, st := csvField(rec, i)
		if st != csvOK {
			d.roles = nil
			return errorf(ReasonBadHeader, "", 0, "header row is not CSV")
		}
		r := defenderColumn(v)
		seen[r] = true
		roles = append(roles, r)
		i = next
	}
	if !seen[dfTimestamp] || !(seen[dfCommandLine] || seen[dfFileName] || seen[dfParentCommandLine]) {
		d.roles = nil
		return errorf(ReasonBadHeader, "", 0, "no header row with Timestamp and ProcessCommandLine, FileName or InitiatingProcessCommandLine before this row")
	}
	d.roles = roles
	return nil
}

// csvUnquote turns a csvField value into text: a doubled quote inside a
// quoted field is one quote.
func csvUnquote(v []byte) string {
	if bytes.IndexByte(v, '"') < 0 {
		return string(v)
	}
	return strings.ReplaceAll(string(v), `""`, `"`)
}

// json reads one line of JSON: a row, a streaming-API record, an envelope
// of rows or an array of rows.
func (d *defenderDecoder) json(b []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	v, err := d.p.ParseBytes(b)
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "not one JSON value on the line (pretty-printed exports are not read): "+err.Error())
	}
	var rows []*fastjson.Value
	switch v.Type() {
	case fastjson.TypeArray:
		rows, _ = v.Array()
	case fastjson.TypeObject:
		rows = []*fastjson.Value{v}
		for _, key := range [...]string{"records", "Results", "results"} {
			if a := v.GetArray(key); a != nil {
				rows = a
				break
			}
		}
	default:
		return dst, errorf(ReasonMalformed, "", 1, "JSON line is neither an object nor an array")
	}
	var firstErr error
	for _, r := range rows {
		if props := r.Get("properties"); props != nil && props.Type() == fastjson.TypeObject {
			r = props
		}
		o, err := r.Object()
		if err != nil {
			continue
		}
		var row defenderRow
		o.Visit(func(key []byte, val *fastjson.Value) {
			role := defenderColumn(key)
			if role == dfNone {
				return
			}
			switch val.Type() {
			case fastjson.TypeString:
				row[role] = string(val.GetStringBytes())
			case fastjson.TypeNumber:
				row[role] = val.String()
			}
		})
		var e error
		dst, e = row.event(origin, dst)
		if e != nil && firstErr == nil {
			firstErr = e
		}
	}
	return dst, firstErr
}

// event turns a row into a process or file event; rows of other actions
// yield nothing.
func (r *defenderRow) event(origin event.Origin, dst []event.Event) ([]event.Event, error) {
	ts := r[dfTimestamp]
	if ts == "" {
		return dst, errorf(ReasonMissingField, "Timestamp", 0, "row without a Timestamp")
	}
	t, ok := parseSentinelTime([]byte(ts))
	if !ok {
		return dst, errorf(ReasonBadTime, "Timestamp", 0, fmt.Sprintf("%q is not ISO 8601 or M/d/yyyy, h:mm:ss AM|PM", ts))
	}
	p := &event.Process{Source: "defender", Host: r[dfDeviceName]}
	action := r[dfActionType]
	switch {
	case strings.HasPrefix(action, "File"):
		switch action {
		case "FileCreated", "FileModified", "FileRenamed":
			p.Operation = event.OpWrite
		case "FileDeleted":
			p.Operation = event.OpDelete
		default:
			return dst, nil
		}
		p.FilePath = joinFolder(r[dfFolderPath], r[dfFileName])
		p.Image = joinFolder(r[dfParentFolderPath], r[dfParentFileName])
		p.CommandLine = r[dfParentCommandLine]
		p.User = r[dfParentAccountName]
		p.PID, _ = strconv.ParseInt(r[dfParentID], 10, 64)
		// The initiating process is the writer here, so its parent is
		// the writer's parent.
		p.ParentImage = r[dfGrandparentFileName]
		if p.FilePath == "" {
			return dst, errorf(ReasonMissingField, "FolderPath", 0, "file event without FolderPath or FileName")
		}
	case action == "" || action == "ProcessCreated":
		p.Operation = event.OpExec
		p.Image = joinFolder(r[dfFolderPath], r[dfFileName])
		p.CommandLine = r[dfCommandLine]
		p.OriginalName = r[dfOriginalName]
		p.User = r[dfAccountName]
		p.PID, _ = strconv.ParseInt(r[dfProcessID], 10, 64)
		p.PPID, _ = strconv.ParseInt(r[dfParentID], 10, 64)
		p.ParentImage = joinFolder(r[dfParentFolderPath], r[dfParentFileName])
		p.ParentCommandLine = r[dfParentCommandLine]
		p.GrandparentImage = r[dfGrandparentFileName]
		if p.Image == "" && p.CommandLine == "" {
			return dst, errorf(ReasonMissingField, "ProcessCommandLine", 0, "ProcessCreated row without FileName or ProcessCommandLine")
		}
	default:
		return dst, nil
	}
	return append(dst, event.Event{Time: t, Origin: origin, Kind: event.KindProcess, Process: p}), nil
}

// joinFolder makes a path from Defender's FolderPath and FileName:
// FolderPath holds the file name in DeviceProcessEvents rows and only the
// folder in some DeviceFileEvents rows.
func joinFolder(folder, file string) string {
	switch {
	case folder == "":
		return file
	case file == "" || strings.HasSuffix(folder, file):
		return folder
	}
	sep := "/"
	if strings.IndexByte(folder, '\\') >= 0 {
		sep = `\`
	}
	return strings.TrimRight(folder, `/\`) + sep + file
}
