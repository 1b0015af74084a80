package decode

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"

	"github.com/knockwatch/knockwatch/internal/event"
)

// This file reads Sysmon events as XML (formats.md 5.2): Sysmon for Linux
// writes each event as one line of XML, without declaration, to syslog under
// the ident "sysmon" (SysmonForLinux outputxml.cpp, FormatSyslogString);
// Windows Sysmon's events exported as XML have the same System and EventData
// shape, with the event-log namespace. Event ID 1 (ProcessCreate) becomes a
// process event; 11 (FileCreate) and 23/26 (FileDelete, FileDeleteDetected)
// become file events. Other event IDs yield nothing.
//
// A Sysmon line inside syslog reaches decodeSysmon through
// syslogDecoder.dispatch, whichever format the file was sniffed as (syslog,
// journald, Sentinel's Syslog table). The "sysmon" format itself takes bare
// <Event> lines, and hands every other line to the syslog decoder, so a
// /var/log/syslog that sniffs as sysmon still yields its netfilter and knock
// daemon lines.
//
// encoding/xml is used rather than a hand-written scanner: these events are
// rare next to firewall lines, and it gets entities, namespaces and
// attribute quoting right.

var sysmonFormat = Format{
	Name:     "sysmon",
	Summary:  "Sysmon events as XML, one <Event> per line, bare or in syslog lines (Sysmon for Linux); process creation and file events",
	Sniff:    sniffSysmon,
	New:      func(o Options) Decoder { return &sysmonDecoder{sys: newSyslogDecoder(o)} },
	Parallel: true,
}

var _ Decoder = (*sysmonDecoder)(nil)

type sysmonDecoder struct {
	sys *syslogDecoder
}

var (
	tokEventOpen  = []byte("<Event")
	tokSysmonProv = []byte("Sysmon")
)

// sniffSysmon scores an <Event> line with a Sysmon provider, bare or after
// a syslog header, above a netfilter (10) or daemon line.
func sniffSysmon(line []byte) int {
	i := bytes.Index(line, tokEventOpen)
	if i < 0 || !bytes.Contains(line[i:], tokSysmonProv) || !bytes.Contains(line[i:], []byte("<EventID")) {
		return 0
	}
	if i == 0 || len(bytes.TrimSpace(line[:i])) == 0 {
		return 20
	}
	return 12
}

// Decode reads a bare <Event> line, or a syslog line.
func (d *sysmonDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	t := bytes.TrimLeft(line, " \t")
	if bytes.HasPrefix(t, tokEventOpen) {
		return decodeSysmonXML(t, nil, len(line)-len(t), origin, dst)
	}
	return d.sys.Decode(line, origin, dst)
}

// decodeSysmon decodes the message of a syslog line from the sysmon tag.
func (d *syslogDecoder) decodeSysmon(line []byte, h *syslogLine, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	msg := h.msg
	i := bytes.Index(msg, tokEventOpen)
	if i < 0 {
		return dst, nil // sysmon's own start-up and error messages
	}
	return decodeSysmonXML(msg[i:], h.host, len(line)-len(msg)+i, origin, dst)
}

type sysmonXML struct {
	System struct {
		Provider struct {
			Name string `xml:"Name,attr"`
		} `xml:"Provider"`
		EventID     string `xml:"EventID"`
		TimeCreated struct {
			SystemTime string `xml:"SystemTime,attr"`
		} `xml:"TimeCreated"`
		Computer string `xml:"Computer"`
	} `xml:"System"`
	Data []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"EventData>Data"`
}

// decodeSysmonXML decodes one <Event> element. host is the syslog host, the
// fallback for <Computer>; off is where the XML starts in the line.
func decodeSysmonXML(b, host []byte, off int, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	var x sysmonXML
	if err := xml.Unmarshal(b, &x); err != nil {
		col := off + 1
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return dst, errorf(ReasonMalformed, "Event", col, fmt.Sprintf("XML line %d: %s", se.Line, se.Msg))
		}
		return dst, errorf(ReasonMalformed, "Event", col, err.Error())
	}
	id, err := strconv.Atoi(x.System.EventID)
	if err != nil {
		return dst, errorf(ReasonBadField, "EventID", off+1, fmt.Sprintf("%q is not a number", x.System.EventID))
	}
	data := make(map[string]string, len(x.Data))
	for _, dd := range x.Data {
		data[dd.Name] = dd.Value
	}
	p := &event.Process{Source: "sysmon", Host: x.System.Computer}
	if p.Host == "" {
		p.Host = string(host)
	}
	switch id {
	case 1:
		p.Operation = event.OpExec
		p.Image = data["Image"]
		p.OriginalName = dashEmpty(data["OriginalFileName"])
		p.CommandLine = data["CommandLine"]
		p.WorkingDir = dashEmpty(data["CurrentDirectory"])
		p.User = dashEmpty(data["User"])
		p.ParentImage = dashEmpty(data["ParentImage"])
		p.ParentCommandLine = dashEmpty(data["ParentCommandLine"])
		p.PID, _ = strconv.ParseInt(data["ProcessId"], 10, 64)
		p.PPID, _ = strconv.ParseInt(data["ParentProcessId"], 10, 64)
		if p.Image == "" && p.CommandLine == "" {
			return dst, errorf(ReasonMissingField, "Image", off+1, "ProcessCreate without Image or CommandLine")
		}
	case 11, 23, 26:
		p.Operation = event.OpWrite
		if id != 11 {
			p.Operation = event.OpDelete
		}
		p.FilePath = data["TargetFilename"]
		p.Image = data["Image"]
		p.User = dashEmpty(data["User"])
		p.PID, _ = strconv.ParseInt(data["ProcessId"], 10, 64)
		if p.FilePath == "" {
			return dst, errorf(ReasonMissingField, "TargetFilename", off+1, fmt.Sprintf("event %d without TargetFilename", id))
		}
	default:
		return dst, nil
	}
	t, ok := parseSentinelTime([]byte(data["UtcTime"]))
	if !ok {
		t, ok = parseSentinelTime([]byte(x.System.TimeCreated.SystemTime))
	}
	if !ok {
		return dst, errorf(ReasonBadTime, "UtcTime", off+1, fmt.Sprintf("neither UtcTime %q nor SystemTime %q is a time", data["UtcTime"], x.System.TimeCreated.SystemTime))
	}
	return append(dst, event.Event{Time: t, Origin: origin, Kind: event.KindProcess, Process: p}), nil
}

// dashEmpty maps Sysmon's "-" (no value) to "".
func dashEmpty(s string) string {
	if s == "-" {
		return ""
	}
	return s
}
