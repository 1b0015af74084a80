package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// CaptureOptions configure how packet captures become events.
type CaptureOptions struct {
	// Interest decides which payloads (and which packets that are not
	// attempts) detectors see; build it from the magic rules with
	// packet.NewInterest. Nil keeps no payloads.
	Interest *packet.Interest
	// AnswerTimeout, FlowCap and MaxPending: see packet.Options.
	AnswerTimeout time.Duration
	FlowCap       int
	MaxPending    int
}

func (o CaptureOptions) decoder(input uint32) *packet.Decoder {
	return packet.NewDecoder(packet.Options{
		Input:         input,
		AnswerTimeout: o.AnswerTimeout,
		FlowCap:       o.FlowCap,
		MaxPending:    o.MaxPending,
		Interest:      o.Interest,
	})
}

// CaptureOpener reads pcap and pcapng files (gzip is unwrapped by Opener
// before it gets here). It implements PacketOpener.
type CaptureOpener struct {
	Options CaptureOptions
}

var _ PacketOpener = (*CaptureOpener)(nil)

// NewCaptureOpener makes an opener for pcap and pcapng files.
func NewCaptureOpener(o CaptureOptions) *CaptureOpener { return &CaptureOpener{Options: o} }

// captureBatch is how many events a capture stream hands over at once.
const captureBatch = 1024

// OpenCapture starts reading a capture.
func (o *CaptureOpener) OpenCapture(ctx context.Context, name string, r io.Reader, input uint32, st *stats.Run) (Stream, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: capture: %w", name, err)
	}
	s := &CaptureStream{
		name:    name,
		st:      st,
		dec:     o.Options.decoder(input),
		batches: make(chan *Batch, 4),
	}
	var read func() ([]byte, gopacket.CaptureInfo, layers.LinkType, error)
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		s.format = "pcapng"
		// WantMixedLinkType: libpcap's default silently drops the packets
		// of every interface whose link type differs from the first
		// (tcpdump -i any beside an Ethernet interface); here each one is
		// decoded with its own link type, or counted if unsupported.
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("%s: pcapng: %w", name, err)
		}
		read = func() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
			data, ci, err := ng.ZeroCopyReadPacketData()
			link := layers.LinkTypeEthernet
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					link = lt
				}
			}
			return data, ci, link, err
		}
	} else {
		s.format = "pcap"
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: pcap: %w", name, err)
		}
		link := pr.LinkType()
		if !packet.LinkSupported(link) {
			return nil, fmt.Errorf("%s: pcap: link type %s (%d) is not supported (Ethernet, Linux SLL/SLL2, raw IP and BSD loopback are)", name, link, uint16(link))
		}
		read = func() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
			data, ci, err := pr.ZeroCopyReadPacketData()
			return data, ci, link, err
		}
	}
	go s.run(ctx, read)
	return s, nil
}

// CaptureStream is a capture file decoded into events in time order: each
// attempt is held until its answer arrives or its window passes, so the
// events behind it wait too (see packet.Decoder).
type CaptureStream struct {
	name    string
	format  string
	st      *stats.Run
	dec     *packet.Decoder
	batches chan *Batch

	mu     sync.Mutex
	pstats packet.Stats
}

// Name returns the capture's name.
func (s *CaptureStream) Name() string { return s.name }

// Lateness is the answer timeout: how long an event may be held back.
func (s *CaptureStream) Lateness() time.Duration { return s.dec.Lateness() }

// Next returns the next batch, or io.EOF.
func (s *CaptureStream) Next() (*Batch, error) {
	b, ok := <-s.batches
	if !ok {
		return nil, io.EOF
	}
	return b, nil
}

// PacketStats returns the packet decoder's counters (flow table size and
// evictions, held events, payloads kept), as of the last batch.
func (s *CaptureStream) PacketStats() packet.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pstats
}

func (s *CaptureStream) run(ctx context.Context, read func() ([]byte, gopacket.CaptureInfo, layers.LinkType, error)) {
	defer close(s.batches)
	b := NewBatch()
	var frame, counted uint64
	send := func() bool {
		s.account(frame - counted)
		counted = frame
		if len(b.Events) == 0 {
			return true
		}
		if s.st != nil {
			s.st.Events.Add(int64(len(b.Events)))
		}
		select {
		case s.batches <- b:
			b = NewBatch()
			return true
		case <-ctx.Done():
			b.Release()
			return false
		}
	}
	for {
		data, ci, link, err := read()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.readError(frame+1, err)
			}
			break
		}
		frame++
		var derr error
		b.Events, derr = s.dec.Packet(ci.Timestamp.UnixNano(), frame, link, data, b.Events)
		if derr != nil {
			s.frameError(frame, derr)
		}
		if len(b.Events) >= captureBatch || (frame%4096 == 0 && len(b.Events) > 0) {
			if !send() {
				return
			}
		}
		if frame%4096 == 0 && ctx.Err() != nil {
			b.Release()
			return
		}
	}
	b.Events = s.dec.Finish(b.Events)
	send()
}

func (s *CaptureStream) account(frames uint64) {
	if s.st != nil && frames > 0 {
		s.st.Records.Add(int64(frames))
	}
	ps := s.dec.Stats()
	s.mu.Lock()
	s.pstats = ps
	s.mu.Unlock()
}

// frameError counts a frame that could not be decoded, located as
// name#frame.
func (s *CaptureStream) frameError(frame uint64, err error) {
	if s.st == nil {
		return
	}
	de := &decode.Error{Reason: decode.ReasonMalformed, Detail: err.Error(), Format: s.format, Input: s.name, Index: frame, Frame: true}
	var fe *packet.FrameError
	if errors.As(err, &fe) {
		de.Reason, de.Field, de.Detail = fe.Reason, fe.Layer, fe.Detail
	}
	s.st.DecodeError(de)
}

// readError records why the file could not be read past a frame: a
// capture cut short (tcpdump killed) or a damaged record header. pcap has no
// way to resynchronise, so the rest of the file is lost, but the frames
// before it count.
func (s *CaptureStream) readError(frame uint64, err error) {
	if s.st == nil {
		return
	}
	de := &decode.Error{Format: s.format, Input: s.name, Index: frame, Frame: true}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		de.Reason, de.Field, de.Detail = decode.ReasonTruncated, "record", "the file ends inside this frame"
	} else {
		de.Reason, de.Field, de.Detail = decode.ReasonBadHeader, "record", err.Error()+"; the rest of the file is skipped"
	}
	s.st.DecodeError(de)
	s.st.Records.Add(1)
}
