package decode

import (
	"errors"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

func newLogFileDecoder(loc *time.Location) Decoder {
	return knockdLogFormat.New(Options{Reference: labRef, Location: loc})
}

func TestKnockdLogFile(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	tests := []struct {
		line string
		loc  *time.Location
		when time.Time
		want daemonWant
	}{
		{"[2026-11-22 17:14] 198.51.100.7: openSSH: Stage 1", time.UTC, time.Date(2026, 11, 22, 17, 14, 0, 0, time.UTC),
			daemonWant{src: "198.51.100.7", what: "stage", door: "openSSH", stage: 1}},
		// Local time: the LogFile carries no zone.
		{"[2026-11-22 17:14] 198.51.100.7: openSSH: OPEN SESAME", berlin, time.Date(2026, 11, 22, 16, 14, 0, 0, time.UTC),
			daemonWant{src: "198.51.100.7", what: "open", door: "openSSH"}},
		{"[2026-11-22 17:14] openSSH: running command: /usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", time.UTC, time.Date(2026, 11, 22, 17, 14, 0, 0, time.UTC),
			daemonWant{src: "198.51.100.7", what: "command", door: "openSSH", command: "/usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", rule: "-A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT"}},
		{"[2025-11-22 10:20] 2001:db8::7 (laptop.example.net): opencloseSSH: command timeout", time.UTC, time.Date(2025, 11, 22, 10, 20, 0, 0, time.UTC),
			daemonWant{src: "2001:db8::7", what: "command_timeout", door: "opencloseSSH", srcName: "laptop.example.net"}},
	}
	for _, tt := range tests {
		evs, err := decodeOne(t, newLogFileDecoder(tt.loc), tt.line)
		if err != nil || len(evs) != 1 {
			t.Errorf("%q: %d events, %v", tt.line, len(evs), err)
			continue
		}
		checkDaemon(t, tt.line, evs[0], tt.want)
		if !time.Unix(0, evs[0].Time).Equal(tt.when) {
			t.Errorf("%q: time %v, want %v", tt.line, time.Unix(0, evs[0].Time).UTC(), tt.when)
		}
		if evs[0].Flags&event.FlagCoarseTime == 0 || evs[0].Daemon.Host != "" {
			t.Errorf("%q: want FlagCoarseTime and no host: %+v", tt.line, evs[0])
		}
	}
	for _, blank := range []string{"", "   ", "\t"} {
		if evs, err := decodeOne(t, newLogFileDecoder(time.UTC), blank); err != nil || len(evs) != 0 {
			t.Errorf("blank line %q: %d events, %v", blank, len(evs), err)
		}
	}
}

// TestKnockdLogFileSamples reads the lab's real LogFile (blank lines after
// the "\n"-terminated messages included) and the spec samples: the same
// events as the lab's syslog copy, in file order.
func TestKnockdLogFileSamples(t *testing.T) {
	counts, evs := daemonCounts(t, newLogFileDecoder(time.UTC), "testdata/knockd-log/knockd.log")
	sys, sysEvs := daemonCounts(t, newLabSyslog(), "testdata/knockd/syslog.log")
	if len(counts) == 0 || len(evs) != len(sysEvs) {
		t.Fatalf("LogFile %v, syslog %v", counts, sys)
	}
	for i := range evs {
		if evs[i].Daemon.Message != sysEvs[i].Daemon.Message || evs[i].Src != sysEvs[i].Src {
			t.Errorf("event %d: LogFile %q, syslog %q", i, evs[i].Daemon.Message, sysEvs[i].Daemon.Message)
		}
		if d := sysEvs[i].Time - evs[i].Time; d < 0 || d >= int64(time.Minute) {
			t.Errorf("event %d: LogFile time %v is not the minute of %v", i, time.Unix(0, evs[i].Time).UTC(), time.Unix(0, sysEvs[i].Time).UTC())
		}
	}
	if _, spec := daemonCounts(t, newLogFileDecoder(time.UTC), "testdata/knockd-log/spec.log"); len(spec) != 12 {
		t.Errorf("spec.log: %d events, want 12", len(spec))
	}
}

func TestKnockdLogFileErrors(t *testing.T) {
	want := []Reason{ReasonBadTime, ReasonBadTime, ReasonMalformed, ReasonBadField, ReasonBadTime, ReasonBadAddr}
	lines := readLines(t, "testdata/knockd-log/bad.log")
	if len(lines) != len(want) {
		t.Fatalf("%d bad lines, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		evs, err := newLogFileDecoder(time.UTC).Decode(l, event.Origin{Index: uint64(i + 1)}, nil)
		var de *Error
		if !errors.As(err, &de) || de.Reason != want[i] || len(evs) != 0 {
			t.Errorf("line %d %q: %v (%d events), want %s", i+1, l, err, len(evs), want[i])
		}
	}
}

func TestKnockdLogFileSniff(t *testing.T) {
	f, ok := Sniff(readLines(t, "testdata/knockd-log/knockd.log")[:5])
	if !ok || f.Name != "knockd-log" {
		t.Errorf("sniffed %q, %v; want knockd-log", f.Name, ok)
	}
	f, ok = Sniff(readLines(t, "testdata/knockd/syslog.log")[:5])
	if !ok || f.Name != "syslog" {
		t.Errorf("knockd syslog sniffed as %q, %v; want syslog", f.Name, ok)
	}
}

func FuzzKnockdLogFile(f *testing.F) {
	for _, file := range []string{"testdata/knockd-log/knockd.log", "testdata/knockd-log/spec.log", "testdata/knockd-log/bad.log"} {
		for _, l := range readLines(f, file) {
			f.Add(l)
		}
	}
	d := newLogFileDecoder(time.UTC)
	var dst []event.Event
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > 10240 {
			return
		}
		var err error
		dst, err = d.Decode(line, event.Origin{Index: 1}, dst[:0])
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == 0 || len(dst) != 0 {
				t.Fatalf("bad error %v with %d events", err, len(dst))
			}
			return
		}
		for _, ev := range dst {
			if ev.Flags&event.FlagCoarseTime == 0 || ev.Time%int64(time.Minute) != 0 {
				t.Fatalf("LogFile event without minute time: %+v", ev)
			}
		}
		checkDaemonEvents(t, "knockd", dst)
	})
}

func BenchmarkKnockdLogFile(b *testing.B) {
	lines := readLines(b, "testdata/knockd-log/knockd.log")
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	d := newLogFileDecoder(time.UTC)
	dst := make([]event.Event, 0, 4)
	b.ReportAllocs()
	b.SetBytes(int64(size / len(lines)))
	i := 0
	for b.Loop() {
		dst, _ = d.Decode(lines[i%len(lines)], event.Origin{Index: 1}, dst[:0])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
