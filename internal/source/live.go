package source

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/bpf"

	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// Outgoing says what a live capture does with the packets the capturing
// host sends itself.
type Outgoing uint8

// Outgoing modes.
const (
	// OutgoingAuto drops them on loopback only: there AF_PACKET delivers
	// every packet twice, once outgoing and once incoming. On any other
	// interface the host's own packets are seen once, and its answers
	// (RST, SYN-ACK) are what tells a closed port from an open one.
	OutgoingAuto Outgoing = iota
	// OutgoingKeep keeps them.
	OutgoingKeep
	// OutgoingDrop drops them in the kernel.
	OutgoingDrop
)

// ParseOutgoing reads "auto", "keep" or "drop".
func ParseOutgoing(s string) (Outgoing, error) {
	switch s {
	case "auto", "":
		return OutgoingAuto, nil
	case "keep":
		return OutgoingKeep, nil
	case "drop":
		return OutgoingDrop, nil
	}
	return 0, fmt.Errorf("%q: want auto, keep or drop", s)
}

// LiveOptions configure a live capture.
type LiveOptions struct {
	// Interface to capture on (required).
	Interface string
	// BPF is a classic BPF program the kernel runs on each packet before
	// it is copied (see ParseBPF). Nil captures everything.
	BPF []bpf.RawInstruction
	// Outgoing: see Outgoing.
	Outgoing    Outgoing
	Promiscuous bool
	// RingMB is the size of the capture ring in MiB (default 32). Small
	// rings drop packets under bursts; the kernel counts the drops.
	RingMB int
	// Tick is how often an idle capture advances event time (default
	// 100ms), so held attempts and the detectors' quiet-time judgements
	// move on when no packet arrives.
	Tick time.Duration
	// Capture configures the packet decoder (interest, answer timeout).
	Capture CaptureOptions
	// Input is the origin input id of the interface (Inputs.Add(name,
	// true)), so evidence reads "eth0#1234".
	Input uint32
	// Stats, if set, counts packets, events and decode errors.
	Stats *stats.Run
}

// LiveStats are a live capture's counters.
type LiveStats struct {
	// Packets and Drops are the kernel's counts for the socket: packets
	// that passed the filter and packets dropped because the ring was
	// full. Freezes counts times the ring filled up (TPACKET_V3).
	Packets, Drops, Freezes uint64
	// Decoder holds the packet decoder's counters.
	Decoder packet.Stats
}

// LiveCapture is a Stream of events from an interface. It ends (io.EOF)
// when its context is cancelled, after settling every held attempt.
type LiveCapture struct {
	name    string
	opts    LiveOptions
	batches chan *Batch
	errMu   sync.Mutex
	err     error

	mu sync.Mutex
	ls LiveStats
}

var _ Stream = (*LiveCapture)(nil)

// Name returns the interface name.
func (c *LiveCapture) Name() string { return c.name }

// Lateness is the answer timeout: an attempt is held that long for its
// answer, and the events behind it with it.
func (c *LiveCapture) Lateness() time.Duration {
	if c.opts.Capture.AnswerTimeout > 0 {
		return c.opts.Capture.AnswerTimeout
	}
	return packet.DefaultAnswerTimeout
}

// Next returns the next batch. When no packet arrives it still returns,
// every Tick, a batch holding one idle-tick event (Kind 0, no addresses):
// detectors ignore it, but the engine's watermark moves to its time, which
// is how quiet time passes for the detectors of a live sensor.
func (c *LiveCapture) Next() (*Batch, error) {
	b, ok := <-c.batches
	if !ok {
		c.errMu.Lock()
		defer c.errMu.Unlock()
		if c.err != nil {
			return nil, c.err
		}
		return nil, io.EOF
	}
	return b, nil
}

// Stats returns the kernel's and the decoder's counters.
func (c *LiveCapture) Stats() LiveStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ls
}

func (c *LiveCapture) fail(err error) {
	c.errMu.Lock()
	c.err = err
	c.errMu.Unlock()
}

// IsTick reports whether ev is a live capture's idle tick, which carries
// only a time.
func IsTick(ev *event.Event) bool { return ev.Kind == 0 && !ev.Src.IsValid() && !ev.Dst.IsValid() }

// ParseBPF reads a classic BPF program as `tcpdump -dd` prints it
// ("{ 0x28, 0, 0, 0x0000000c },") or as `tcpdump -ddd` does (a count, then
// "code jt jf k" per line), and checks that it is a valid program. Without
// cgo there is no libpcap filter compiler, so compile the expression with
// tcpdump for the interface's link type:
//
//	tcpdump -y EN10MB -dd 'not port 22'
func ParseBPF(text string) ([]bpf.RawInstruction, error) {
	var prog []bpf.RawInstruction
	sc := bufio.NewScanner(strings.NewReader(text))
	line := 0
	declared := -1
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//") {
			continue
		}
		l = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(l, "{"), ","), "}")
		fields := strings.FieldsFunc(l, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '}' })
		if len(fields) == 1 && declared < 0 && len(prog) == 0 {
			n, err := strconv.Atoi(fields[0])
			if err != nil {
				return nil, fmt.Errorf("bpf: line %d: %q: not an instruction", line, sc.Text())
			}
			declared = n
			continue
		}
		if len(fields) != 4 {
			return nil, fmt.Errorf("bpf: line %d: %q: want code, jt, jf, k", line, sc.Text())
		}
		var v [4]uint64
		for i, f := range fields {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 0, 32)
			if err != nil || (i == 0 && n > 0xffff) || ((i == 1 || i == 2) && n > 0xff) {
				return nil, fmt.Errorf("bpf: line %d: %q: field %d out of range", line, sc.Text(), i+1)
			}
			v[i] = n
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	if len(prog) == 0 {
		return nil, errors.New("bpf: no instructions")
	}
	if declared >= 0 && declared != len(prog) {
		return nil, fmt.Errorf("bpf: the program declares %d instructions and has %d", declared, len(prog))
	}
	if err := checkBPF(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

func checkBPF(prog []bpf.RawInstruction) error {
	if len(prog) > 4096 {
		return fmt.Errorf("bpf: %d instructions, more than the kernel's 4096", len(prog))
	}
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		// Extensions (ld #type, ...) do not disassemble into the VM's
		// instruction set but are valid for the kernel; check the jumps.
		for i, r := range prog {
			if r.Op&0x07 == 0x05 && r.Op != 0x05 && (i+1+int(r.Jt) >= len(prog) || i+1+int(r.Jf) >= len(prog)) {
				return fmt.Errorf("bpf: instruction %d jumps past the end", i)
			}
		}
		return nil
	}
	if _, err := bpf.NewVM(ins); err != nil {
		return fmt.Errorf("bpf: %w", err)
	}
	return nil
}

// dropOutgoing prefixes a program with a test of the packet type (the
// ancillary load the kernel offers, SKF_AD_PKTTYPE) that drops what the
// host sends (PACKET_OUTGOING, 4).
func dropOutgoing(user []bpf.RawInstruction) ([]bpf.RawInstruction, error) {
	head := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	}
	if len(user) == 0 {
		head = append(head, bpf.RetConstant{Val: 262144})
	}
	raw, err := bpf.Assemble(head)
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	return append(raw, user...), nil
}
