package source

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// frames runs a framer to the end and returns the messages and the
// reasons of the errors, in order ("!" marks a fatal one, which ends it).
func frames(r io.Reader, max int) (msgs []string, errs []string, framing Framing) {
	fr := NewFramer(r, max)
	for {
		msg, err := fr.Next()
		if err == nil {
			msgs = append(msgs, string(msg))
			continue
		}
		var fe *FrameError
		if errors.As(err, &fe) {
			e := fe.Reason.String()
			if fe.Fatal {
				errs = append(errs, "!"+e)
				return msgs, errs, fr.Framing()
			}
			errs = append(errs, e)
			continue
		}
		if last := fr.Last(); last != nil {
			msgs = append(msgs, string(last))
		}
		return msgs, errs, fr.Framing()
	}
}

func TestFramer(t *testing.T) {
	const rfc5424 = `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] An application event`
	tests := []struct {
		name    string
		in      string
		max     int
		want    []string
		errs    []string
		framing Framing
	}{
		{"lf", "<13>a\n<14>b\r\n", 100, []string{"<13>a", "<14>b"}, nil, FramingNonTransparent},
		{"lf last without newline", "<13>a\n<14>b", 100, []string{"<13>a", "<14>b"}, nil, FramingNonTransparent},
		{"octet counting", "5 <13>a6 <14>bc", 100, []string{"<13>a", "<14>bc"}, nil, FramingOctetCounting},
		// RFC 6587 3.4.1 example with an RFC 5424 message (RFC 5424 6.5 example 4).
		{"octet counting 5424", itoa(len(rfc5424)) + " " + rfc5424, 200, []string{rfc5424}, nil, FramingOctetCounting},
		{"octet counting with LF inside", "9 <13>a\nb\n\n", 100, []string{"<13>a\nb"}, nil, FramingOctetCounting},
		{"lf oversize skipped whole", "<13>aaaaaaaaaaaaaaaaaaaa\n<14>b\n", 10, []string{"<14>b"}, []string{"too_long"}, FramingNonTransparent},
		{"lf oversize at end", "<13>aaaaaaaaaaaaaaaaaaaa", 10, nil, []string{"too_long"}, FramingNonTransparent},
		{"octet oversize skipped by count", "20 <13>aaaaaaaaaaaaaaaa5 <14>b", 10, []string{"<14>b"}, []string{"too_long"}, FramingOctetCounting},
		{"octet bad header", "12x <13>a", 100, nil, []string{"!bad_header"}, FramingOctetCounting},
		{"octet leading zero", "05 <13>a", 100, nil, []string{"!bad_header"}, FramingOctetCounting},
		{"octet count too long", "12345678901 <13>a", 100, nil, []string{"!bad_header"}, FramingOctetCounting},
		{"octet cut by eof", "9 <13>a", 100, nil, nil, FramingOctetCounting},
		{"nul padding trimmed", "<13>a\x00\n", 100, []string{"<13>a"}, nil, FramingNonTransparent},
		{"garbage as lf", "\xff\xfe\x00garbage\nmore", 100, []string{"\xff\xfe\x00garbage", "more"}, nil, FramingNonTransparent},
		{"empty", "", 100, nil, nil, FramingUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tc.in)
				if split {
					r = iotest.OneByteReader(r)
				}
				msgs, errs, framing := frames(r, tc.max)
				if strings.Join(msgs, "|") != strings.Join(tc.want, "|") || strings.Join(errs, ",") != strings.Join(tc.errs, ",") {
					t.Errorf("split=%v: messages %q errors %v, want %q %v", split, msgs, errs, tc.want, tc.errs)
				}
				if framing != tc.framing {
					t.Errorf("split=%v: framing %s, want %s", split, framing, tc.framing)
				}
			}
		})
	}
}

// FuzzFramer: any byte stream is framed without panicking or looping,
// every message respects the maximum, and how the stream is cut into reads
// changes nothing.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{
		"<13>a\n<14>b\r\n", "5 <13>a6 <14>bc", "20 <13>aaaaaaaaaaaaaaaaa5 <14>b", "12x <13>a",
		"<13>aaaaaaaaaaaaaaaaaaaa\n<14>b\n", "\xff\xfe\x00garbage\nmore", "9 <13>a\nb\n\n",
		"110 <165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event",
	} {
		f.Add([]byte(s), uint16(16))
		f.Add([]byte(s), uint16(480))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		m := int(max%2048) + 1
		whole, wErrs, _ := frames(bytes.NewReader(data), m)
		bytewise, bErrs, _ := frames(iotest.OneByteReader(bytes.NewReader(data)), m)
		if strings.Join(whole, "\x01") != strings.Join(bytewise, "\x01") || strings.Join(wErrs, ",") != strings.Join(bErrs, ",") {
			t.Fatalf("reads change the framing:\nwhole    %q %v\nbytewise %q %v", whole, wErrs, bytewise, bErrs)
		}
		total := 0
		for _, msg := range whole {
			if len(msg) > m {
				t.Fatalf("message of %d bytes with max %d", len(msg), m)
			}
			total += len(msg)
		}
		if total > len(data) {
			t.Fatalf("%d message bytes from %d input bytes", total, len(data))
		}
	})
}

func BenchmarkFramer(b *testing.B) {
	line := "<4>Nov 22 10:15:02 gw01 kernel: [ 4821.000000] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0"
	for _, tc := range []struct {
		name  string
		frame func(string) string
	}{
		{"lf", func(s string) string { return s + "\n" }},
		{"octet", func(s string) string { return strings.Join([]string{itoa(len(s)), " ", s}, "") }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			stream := []byte(strings.Repeat(tc.frame(line), 1000))
			r := bytes.NewReader(stream)
			fr := NewFramer(r, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(len(stream)))
			for b.Loop() {
				r.Reset(stream)
				fr.r, fr.start, fr.end, fr.err, fr.mode = r, 0, 0, nil, FramingUnknown
				n := 0
				for {
					if _, err := fr.Next(); err != nil {
						break
					}
					n++
				}
				if n != 1000 {
					b.Fatalf("%d messages", n)
				}
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestFramerAllocs: framing allocates nothing per message.
func TestFramerAllocs(t *testing.T) {
	stream := []byte(strings.Repeat("<13>Nov 22 10:15:02 gw01 kernel: KNOCK-DROP SRC=198.51.100.7\n", 200))
	r := bytes.NewReader(stream)
	fr := NewFramer(r, 64<<10)
	allocs := testing.AllocsPerRun(50, func() {
		r.Reset(stream)
		fr.r, fr.start, fr.end, fr.err, fr.mode = r, 0, 0, nil, FramingUnknown
		for {
			if _, err := fr.Next(); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per stream, want 0", allocs)
	}
}
