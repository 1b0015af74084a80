package decode

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

func newSentinel() Decoder {
	return sentinelSyslogFormat.New(Options{Reference: labRef, Location: time.UTC})
}

// TestSentinelSamples decodes the CSV and JSON-lines exports built from the
// lab's capture: the same daemon events as the syslog copy, with the time
// from EventTime (the portal's CSV keeps milliseconds) and the daemon
// host's address from HostIP.
func TestSentinelSamples(t *testing.T) {
	sysK, sysKEvs := daemonCounts(t, newLabSyslog(), "testdata/knockd/rfc5424.log")
	sysF, sysFEvs := daemonCounts(t, newLabSyslog(), "testdata/fwknopd/rfc5424.log")
	want := map[string]int{}
	for k, v := range sysK {
		want[k] += v
	}
	for k, v := range sysF {
		want[k] += v
	}
	want["knockd/command"]++ // the nft row with doubled quotes
	byMsg := map[string]event.Event{}
	seen := map[string]int{}
	for _, ev := range append(sysKEvs, sysFEvs...) {
		byMsg[ev.Daemon.Message] = ev
		seen[ev.Daemon.Message]++
	}
	for m, n := range seen {
		if n > 1 {
			delete(byMsg, m) // repeated messages: no one time to compare with
		}
	}
	for _, file := range []string{"testdata/sentinel-syslog/export.csv", "testdata/sentinel-syslog/export.jsonl"} {
		counts, evs := daemonCounts(t, newSentinel(), file)
		if fmt.Sprint(counts) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", file, counts, want)
		}
		attempts := 0
		for _, ev := range evs {
			if ev.Kind == event.KindAttempt {
				attempts++
				continue
			}
			if ev.Dst.String() != "203.0.113.10" || ev.Daemon.Host != "gw01" {
				t.Errorf("%s: %q: dst %s host %q, want HostIP and HostName", file, ev.Daemon.Message, ev.Dst, ev.Daemon.Host)
			}
			ref, ok := byMsg[ev.Daemon.Message]
			if !ok {
				continue
			}
			if d := ev.Time - ref.Time; d < -int64(time.Millisecond) || d > int64(time.Millisecond) {
				t.Errorf("%s: %q at %v, syslog says %v", file, ev.Daemon.Message, time.Unix(0, ev.Time).UTC(), time.Unix(0, ref.Time).UTC())
			}
		}
		if attempts != 1 {
			t.Errorf("%s: %d netfilter events, want 1", file, attempts)
		}
	}
	evs, err := decodeSentinelFile(t, "testdata/sentinel-syslog/export.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Daemon != nil && ev.Daemon.Door == "openNFT" && ev.Daemon.Command != `/usr/sbin/nft "add element inet filter knocked { 198.51.100.7 }"` {
			t.Errorf("quoted CSV field: %q", ev.Daemon.Command)
		}
	}
}

func decodeSentinelFile(t *testing.T, file string) ([]event.Event, error) {
	d := newSentinel()
	var all []event.Event
	for i, l := range readLines(t, file) {
		evs, err := d.Decode(l, event.Origin{Index: uint64(i + 1)}, nil)
		if err != nil {
			return nil, err
		}
		all = append(all, evs...)
	}
	return all, nil
}

func TestSentinelTimes(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-22T17:14:37.2397530Z", time.Date(2026, 11, 22, 17, 14, 37, 239753000, time.UTC)},
		{"2026-11-22 17:14:37.239", time.Date(2026, 11, 22, 17, 14, 37, 239000000, time.UTC)},
		{"11/22/2026, 5:14:37.239 PM", time.Date(2026, 11, 22, 17, 14, 37, 239000000, time.UTC)},
		{"1/2/2026, 12:05:09 AM", time.Date(2026, 1, 2, 0, 5, 9, 0, time.UTC)},
		{"1/2/2026, 12:05:09 PM", time.Date(2026, 1, 2, 12, 5, 9, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, ok := parseSentinelTime([]byte(tt.in))
		if !ok || !time.Unix(0, got).Equal(tt.want) {
			t.Errorf("%q: %v %v, want %v", tt.in, time.Unix(0, got).UTC(), ok, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "13/22/2026, 5:14:37 PM", "11/22/2026, 5:14:37", "2026-11-22T17:14:37+0x:00"} {
		if _, ok := parseSentinelTime([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestSentinelErrors(t *testing.T) {
	want := []Reason{ReasonBadHeader, 0, ReasonTruncated, ReasonBadTime, ReasonMissingField, ReasonMalformed, ReasonMalformed, ReasonBadTime, ReasonMissingField}
	lines := readLines(t, "testdata/sentinel-syslog/bad.csv")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	d := newSentinel()
	for i, l := range lines {
		evs, err := d.Decode(l, event.Origin{Index: uint64(i + 1)}, nil)
		if want[i] == 0 {
			if err != nil {
				t.Errorf("line %d: %v", i+1, err)
			}
			continue
		}
		var de *Error
		if !errors.As(err, &de) || de.Reason != want[i] || len(evs) != 0 {
			t.Errorf("line %d %q: %v (%d events), want %s", i+1, l, err, len(evs), want[i])
		}
	}
}

func TestSentinelSniff(t *testing.T) {
	for _, file := range []string{"testdata/sentinel-syslog/export.csv", "testdata/sentinel-syslog/export.jsonl"} {
		f, ok := Sniff(readLines(t, file))
		if !ok || f.Name != "sentinel-syslog" {
			t.Errorf("%s sniffed as %q", file, f.Name)
		}
	}
}

func FuzzSentinelSyslog(f *testing.F) {
	for _, file := range []string{"testdata/sentinel-syslog/export.csv", "testdata/sentinel-syslog/export.jsonl", "testdata/sentinel-syslog/bad.csv"} {
		for _, l := range readLines(f, file) {
			f.Add(l)
		}
	}
	header := readLines(f, "testdata/sentinel-syslog/export.csv")[0]
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) > 10240 {
			return
		}
		d := newSentinel()
		_, _ = d.Decode(header, event.Origin{Index: 1}, nil)
		dst, err := d.Decode(line, event.Origin{Index: 2}, nil)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == 0 || len(dst) != 0 {
				t.Fatalf("bad error %v with %d events", err, len(dst))
			}
			return
		}
		for _, ev := range dst {
			if ev.Kind == event.KindDaemon {
				checkDaemonEvents(t, ev.Daemon.Program, []event.Event{ev})
			}
		}
	})
}

func BenchmarkSentinelSyslog(b *testing.B) {
	for _, file := range []string{"export.csv", "export.jsonl"} {
		b.Run(file, func(b *testing.B) {
			lines := readLines(b, "testdata/sentinel-syslog/"+file)
			d := newSentinel()
			_, _ = d.Decode(lines[0], event.Origin{Index: 1}, nil)
			lines = lines[1:]
			size := 0
			for _, l := range lines {
				size += len(l) + 1
			}
			dst := make([]event.Event, 0, 4)
			b.ReportAllocs()
			b.SetBytes(int64(size / len(lines)))
			i := 0
			for b.Loop() {
				dst, _ = d.Decode(lines[i%len(lines)], event.Origin{Index: 1}, dst[:0])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
