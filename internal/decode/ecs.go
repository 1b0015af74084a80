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

// This file reads Elastic Common Schema documents, one JSON object per line
// (formats.md 5.4; https://www.elastic.co/guide/en/ecs/current/ecs-process.html,
// ecs-file.html, ecs-event.html): what Elastic Agent, Auditbeat, Winlogbeat
// and Filebeat write to files or Kafka, and what an Elasticsearch export
// holds (a search hit's _source is read when the line is the whole hit).
// Fields may be nested objects or dotted keys at any level
// ({"process":{"parent.name":"bash"}}), as both occur.
//
// A document with event.category "process" and event.type "start" (or, when
// event.type is absent, process.args or process.command_line) becomes a
// process event; event.category "file" with event.type "creation", "change"
// or "deletion" a file event (file.path). Process ends, network and other
// documents yield nothing.

// ecsLateness: documents of one file come in the order their shipper saw
// them, within seconds; an export sorted by time may be reversed, which the
// process detector tolerates within its own windows.
const ecsLateness = 10 * time.Minute

var ecsFormat = Format{
	Name:     "ecs",
	Summary:  "Elastic Common Schema JSON lines (Elastic Agent, Auditbeat, Winlogbeat, Elasticsearch hits): process starts and file changes",
	Sniff:    sniffECS,
	New:      func(o Options) Decoder { return &ecsDecoder{} },
	Parallel: true,
	Lateness: ecsLateness,
}

var _ Decoder = (*ecsDecoder)(nil)

var (
	tokECSTimestamp = []byte(`"@timestamp"`)
	tokECSProcess   = []byte(`"process`)
	tokECSFile      = []byte(`"file`)
	tokECSCategory  = []byte(`category"`)
)

// sniffECS recognises an ECS document with process or file fields.
func sniffECS(line []byte) int {
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, tokECSTimestamp) {
		return 0
	}
	if bytes.Contains(t, tokECSProcess) && (bytes.Contains(t, []byte(`"executable"`)) || bytes.Contains(t, []byte(`"command_line"`)) || bytes.Contains(t, []byte(`"args"`)) ||
		bytes.Contains(t, []byte(`"process.executable"`)) || bytes.Contains(t, []byte(`"process.command_line"`)) || bytes.Contains(t, []byte(`"process.args"`))) {
		return 18
	}
	if bytes.Contains(t, tokECSFile) && bytes.Contains(t, tokECSCategory) && bytes.Contains(t, []byte(`path"`)) {
		return 16
	}
	return 0
}

type ecsDecoder struct {
	p fastjson.Parser
}

// Decode reads one document.
func (d *ecsDecoder) Decode(line []byte, origin event.Origin, dst []event.Event) ([]event.Event, error) {
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' {
		return dst, errorf(ReasonMalformed, "", 1, "not a JSON object")
	}
	doc, err := d.p.ParseBytes(t)
	if err != nil {
		return dst, errorf(ReasonMalformed, "", 0, "JSON: "+err.Error())
	}
	if src := doc.Get("_source"); src != nil && src.Type() == fastjson.TypeObject {
		doc = src
	}
	cats := ecsStrings(ecsGet(doc, "event", "category"))
	types := ecsStrings(ecsGet(doc, "event", "type"))
	p := &event.Process{Source: "ecs"}
	switch {
	case hasString(cats, "process"):
		if hasString(types, "end") || (len(types) > 0 && !hasString(types, "start")) {
			return dst, nil
		}
		p.Operation = event.OpExec
	case hasString(cats, "file"):
		switch {
		case hasString(types, "deletion"):
			p.Operation = event.OpDelete
		case hasString(types, "creation"), hasString(types, "change"):
			p.Operation = event.OpWrite
		default:
			return dst, nil
		}
		p.FilePath = ecsString(doc, "file", "path")
		if p.FilePath == "" {
			return dst, errorf(ReasonMissingField, "file.path", 0, "file event without file.path")
		}
	case len(cats) == 0 && (ecsGet(doc, "process", "args") != nil || ecsGet(doc, "process", "command_line") != nil):
		p.Operation = event.OpExec
	default:
		return dst, nil
	}
	ts, err := ecsTime(doc)
	if err != nil {
		return dst, err
	}
	p.Host = ecsString(doc, "host", "name")
	if p.Host == "" {
		p.Host = ecsString(doc, "host", "hostname")
	}
	p.User = ecsString(doc, "user", "name")
	if p.User == "" {
		p.User = ecsString(doc, "process", "user", "name")
	}
	if login := ecsString(doc, "user", "audit", "name"); login != "" && login != p.User {
		p.LoginUser = login
	}
	p.Image = ecsString(doc, "process", "executable")
	if p.Image == "" {
		p.Image = ecsString(doc, "process", "name")
	}
	p.OriginalName = ecsString(doc, "process", "pe", "original_file_name")
	p.Argv = ecsStrings(ecsGet(doc, "process", "args"))
	p.CommandLine = ecsString(doc, "process", "command_line")
	p.WorkingDir = ecsString(doc, "process", "working_directory")
	p.PID = ecsInt(doc, "process", "pid")
	p.PPID = ecsInt(doc, "process", "parent", "pid")
	p.ParentImage = ecsString(doc, "process", "parent", "executable")
	if p.ParentImage == "" {
		p.ParentImage = ecsString(doc, "process", "parent", "name")
	}
	p.ParentCommandLine = ecsString(doc, "process", "parent", "command_line")
	if p.ParentCommandLine == "" {
		if args := ecsStrings(ecsGet(doc, "process", "parent", "args")); len(args) > 0 {
			p.ParentCommandLine = strings.Join(args, " ")
		}
	}
	p.GrandparentImage = ecsString(doc, "process", "parent", "parent", "executable")
	if p.GrandparentImage == "" {
		p.GrandparentImage = ecsString(doc, "process", "parent", "parent", "name")
	}
	if p.Operation == event.OpExec && p.Image == "" && len(p.Argv) == 0 && p.CommandLine == "" {
		return dst, errorf(ReasonMissingField, "process.executable", 0, "process start without process.executable, process.args or process.command_line")
	}
	return append(dst, event.Event{Time: ts, Origin: origin, Kind: event.KindProcess, Process: p}), nil
}

// ecsTime reads @timestamp: an ISO 8601 string, or epoch milliseconds as
// Elasticsearch returns a date field's sort value.
func ecsTime(doc *fastjson.Value) (int64, error) {
	v := doc.Get("@timestamp")
	if v == nil {
		return 0, errorf(ReasonMissingField, "@timestamp", 0, "document without @timestamp")
	}
	switch v.Type() {
	case fastjson.TypeString:
		b := v.GetStringBytes()
		if t, ok := parseSentinelTime(b); ok {
			return t, nil
		}
		return 0, errorf(ReasonBadTime, "@timestamp", 0, fmt.Sprintf("%q is not ISO 8601", b))
	case fastjson.TypeNumber:
		ms, err := v.Int64()
		if err == nil && ms >= 0 && ms < maxEpochSec*1000 {
			return ms * int64(time.Millisecond), nil
		}
	}
	return 0, errorf(ReasonBadTime, "@timestamp", 0, "neither an ISO 8601 string nor epoch milliseconds")
}

// ecsGet finds a field by its ECS path in nested objects, dotted keys, or
// any mix of the two.
func ecsGet(v *fastjson.Value, parts ...string) *fastjson.Value {
	if len(parts) == 0 {
		return v
	}
	if v == nil || v.Type() != fastjson.TypeObject {
		return nil
	}
	o, _ := v.Object()
	key := parts[0]
	for k := 1; k <= len(parts); k++ {
		if k > 1 {
			key += "." + parts[k-1]
		}
		if c := o.Get(key); c != nil {
			if r := ecsGet(c, parts[k:]...); r != nil {
				return r
			}
		}
	}
	return nil
}

// ecsString returns a string field ("" when absent or not a string; a
// number is rendered).
func ecsString(v *fastjson.Value, parts ...string) string {
	f := ecsGet(v, parts...)
	if f == nil {
		return ""
	}
	switch f.Type() {
	case fastjson.TypeString:
		return string(f.GetStringBytes())
	case fastjson.TypeNumber:
		return f.String()
	}
	return ""
}

func ecsInt(v *fastjson.Value, parts ...string) int64 {
	f := ecsGet(v, parts...)
	if f == nil {
		return 0
	}
	switch f.Type() {
	case fastjson.TypeNumber:
		n, _ := f.Int64()
		return n
	case fastjson.TypeString:
		n, _ := strconv.ParseInt(string(f.GetStringBytes()), 10, 64)
		return n
	}
	return 0
}

// ecsStrings reads a keyword field that may be one string or an array.
func ecsStrings(f *fastjson.Value) []string {
	if f == nil {
		return nil
	}
	switch f.Type() {
	case fastjson.TypeString:
		return []string{string(f.GetStringBytes())}
	case fastjson.TypeArray:
		a, _ := f.Array()
		out := make([]string, 0, len(a))
		for _, e := range a {
			switch e.Type() {
			case fastjson.TypeString:
				out = append(out, string(e.GetStringBytes()))
			case fastjson.TypeNumber:
				out = append(out, e.String())
			}
		}
		return out
	}
	return nil
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
