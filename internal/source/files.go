package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// Discover expands paths into the files to read: files as given, folders
// recursively (in lexical order, hidden entries skipped), "-" for stdin.
func Discover(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == Stdin {
			out = append(out, p)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != p && len(name) > 0 && name[0] == '.' {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// Opener opens inputs as streams.
type Opener struct {
	Inputs *Inputs
	Stats  *stats.Run
	// Format forces a format by name; empty sniffs each input.
	Format string
	// Decode holds the options common to every input (year, time zone,
	// boot time); Input and Reference are set per input.
	Decode  decode.Options
	Workers int
	// Packets opens packet captures (pcap, pcapng). Nil means captures are
	// reported as unsupported.
	Packets PacketOpener
	// Stdin replaces os.Stdin (tests).
	Stdin io.Reader
}

// PacketOpener turns a capture file into a stream. st, if not nil, receives
// the capture's frame and event counts and its located decode errors.
type PacketOpener interface {
	OpenCapture(ctx context.Context, name string, r io.Reader, input uint32, st *stats.Run) (Stream, error)
}

// ErrUnknownFormat is returned for inputs whose format cannot be told.
var ErrUnknownFormat = errors.New("unknown format")

// Open opens one input. The returned closer releases the file.
func (o *Opener) Open(ctx context.Context, path string) (Stream, io.Closer, error) {
	var (
		f   io.ReadCloser
		ref time.Time
	)
	name := path
	if path == Stdin {
		name = "<stdin>"
		in := o.Stdin
		if in == nil {
			in = os.Stdin
		}
		f = io.NopCloser(in)
		ref = time.Now()
	} else {
		fh, err := os.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("input: %w", err)
		}
		st, err := fh.Stat()
		if err != nil {
			fh.Close()
			return nil, nil, fmt.Errorf("input: %w", err)
		}
		f, ref = fh, st.ModTime()
	}
	var r io.Reader = countingReader{r: f, stats: o.Stats}
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	head, _ := br.Peek(64 << 10)
	if isCapture(head) {
		if o.Packets == nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: packet capture input is not available in this build", name)
		}
		id := o.Inputs.Add(name, true)
		s, err := o.Packets.OpenCapture(ctx, name, br, id, o.Stats)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		o.count("pcap")
		return s, f, nil
	}
	var format decode.Format
	if o.Format != "" {
		var err error
		if format, err = decode.Lookup(o.Format); err != nil {
			f.Close()
			return nil, nil, err
		}
	} else {
		var ok bool
		format, ok = decode.Sniff(sampleLines(head, 32))
		if !ok {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w: no known format matches its first lines (force one with --format)", name, ErrUnknownFormat)
		}
	}
	o.count(format.Name)
	opts := o.Decode
	opts.Input = o.Inputs.Add(name, false)
	opts.Reference = ref
	s := NewTextStream(ctx, br, TextOptions{
		Name:    name,
		Format:  format,
		Decode:  opts,
		Workers: o.Workers,
		Stats:   o.Stats,
	})
	return s, f, nil
}

func (o *Opener) count(format string) {
	if o.Stats != nil {
		o.Stats.Format(format)
	}
}

// isCapture recognises pcap (either byte order, µs or ns) and pcapng.
func isCapture(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch string(b[:4]) {
	case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x0a\x0d\x0d\x0a":
		return true
	}
	return false
}

// sampleLines returns up to n non-empty lines from the start of an input,
// leaving out a last line that may be cut.
func sampleLines(head []byte, n int) [][]byte {
	var out [][]byte
	for len(head) > 0 && len(out) < n {
		nl := bytes.IndexByte(head, '\n')
		if nl < 0 {
			if len(head) < 64<<10 {
				out = append(out, head)
			}
			break
		}
		line := bytes.TrimRight(head[:nl], "\r")
		head = head[nl+1:]
		if len(bytes.TrimSpace(line)) > 0 {
			out = append(out, line)
		}
	}
	return out
}

type countingReader struct {
	r     io.Reader
	stats *stats.Run
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.stats != nil && n > 0 {
		c.stats.Bytes.Add(int64(n))
	}
	return n, err
}
