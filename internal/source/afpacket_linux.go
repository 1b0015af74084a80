//go:build linux

package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet"
)

// blockTimeout is how long the kernel fills a TPACKET_V3 block before it
// hands it over anyway: the latency floor of the capture.
const blockTimeout = 10 * time.Millisecond

// liveSend is how long the reader may keep events before handing them over.
const liveSend = 20 * time.Millisecond

// NewLiveCapture opens an AF_PACKET socket on opts.Interface with a
// TPACKET_V3 ring (no cgo, no libpcap) and starts decoding. Cancel ctx to
// stop; the stream then ends after handing over what it holds. Opening
// needs CAP_NET_RAW.
func NewLiveCapture(ctx context.Context, opts LiveOptions) (*LiveCapture, error) {
	if opts.Interface == "" {
		return nil, errors.New("live capture: no interface given")
	}
	ifc, err := net.InterfaceByName(opts.Interface)
	if err != nil {
		return nil, fmt.Errorf("live capture: interface %q: %w (have: %s)", opts.Interface, err, interfaceNames())
	}
	link, loopback, err := linkTypeOf(ifc.Name)
	if err != nil {
		return nil, fmt.Errorf("live capture: %s: %w", ifc.Name, err)
	}
	if opts.RingMB <= 0 {
		opts.RingMB = 32
	}
	if opts.Tick <= 0 {
		opts.Tick = 100 * time.Millisecond
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(ifc.Name),
		afpacket.TPacketVersion3,
		afpacket.OptFrameSize(1<<16),
		afpacket.OptBlockSize(1<<20),
		afpacket.OptNumBlocks(opts.RingMB),
		afpacket.OptBlockTimeout(blockTimeout),
		afpacket.OptPollTimeout(opts.Tick),
	)
	if err != nil {
		return nil, fmt.Errorf("live capture: %s: %w (needs root or CAP_NET_RAW)", ifc.Name, err)
	}
	prog := opts.BPF
	if opts.Outgoing == OutgoingDrop || (opts.Outgoing == OutgoingAuto && loopback) {
		if prog, err = dropOutgoing(prog); err != nil {
			tp.Close()
			return nil, err
		}
	}
	if len(prog) > 0 {
		if err := tp.SetBPF(prog); err != nil {
			tp.Close()
			return nil, fmt.Errorf("live capture: %s: attach filter: %w", ifc.Name, err)
		}
	}
	if opts.Promiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("live capture: %s: promiscuous mode: %w", ifc.Name, err)
		}
	}
	c := &LiveCapture{name: ifc.Name, opts: opts, batches: make(chan *Batch, 16)}
	dec := opts.Capture.decoder(opts.Input)
	go c.run(ctx, tp, dec, link)
	return c, nil
}

func (c *LiveCapture) run(ctx context.Context, tp *afpacket.TPacket, dec *packet.Decoder, link layers.LinkType) {
	defer close(c.batches)
	defer tp.Close()
	b := NewBatch()
	var frame, counted uint64
	lastSend := time.Now()
	var lastTime int64
	send := func() bool {
		if st := c.opts.Stats; st != nil {
			st.Records.Add(int64(frame - counted))
			st.Events.Add(int64(len(b.Events)))
		}
		counted = frame
		c.snapshot(tp, dec)
		if n := len(b.Events); n > 0 && b.Events[n-1].Time > lastTime {
			lastTime = b.Events[n-1].Time
		}
		select {
		case c.batches <- b:
			b = NewBatch()
			lastSend = time.Now()
			return true
		case <-ctx.Done():
			b.Release()
			return false
		}
	}
	for ctx.Err() == nil {
		data, ci, err := tp.ZeroCopyReadPacketData()
		switch {
		case err == nil:
			frame++
			var derr error
			b.Events, derr = dec.Packet(ci.Timestamp.UnixNano(), frame, link, data, b.Events)
			if derr != nil {
				c.frameError(frame, derr)
			}
			if len(b.Events) >= captureBatch || (len(b.Events) > 0 && time.Since(lastSend) >= liveSend) {
				if !send() {
					return
				}
			}
		case errors.Is(err, afpacket.ErrTimeout):
			// Idle: advance event time to what the kernel can no longer
			// be holding, but never past an event the decoder holds.
			now := time.Now().Add(-blockTimeout).UnixNano()
			b.Events = dec.Advance(now, b.Events)
			if held, ok := dec.Held(); ok && held-1 < now {
				now = held - 1
			}
			if len(b.Events) == 0 && now > lastTime {
				b.Events = append(b.Events, event.Event{Time: now})
			}
			if len(b.Events) > 0 && !send() {
				return
			}
		default:
			if ctx.Err() == nil {
				c.fail(fmt.Errorf("live capture: %s: %w", c.name, err))
			}
			b.Release()
			return
		}
	}
	b.Events = dec.Finish(b.Events)
	send()
}

func (c *LiveCapture) snapshot(tp *afpacket.TPacket, dec *packet.Decoder) {
	_, v3, err := tp.SocketStats()
	ds := dec.Stats()
	c.mu.Lock()
	if err == nil {
		c.ls.Packets, c.ls.Drops, c.ls.Freezes = uint64(v3.Packets()), uint64(v3.Drops()), uint64(v3.QueueFreezes())
	}
	c.ls.Decoder = ds
	c.mu.Unlock()
}

func (c *LiveCapture) frameError(frame uint64, err error) {
	st := c.opts.Stats
	if st == nil {
		return
	}
	de := &decode.Error{Reason: decode.ReasonMalformed, Detail: err.Error(), Format: "live", Input: c.name, Index: frame, Frame: true}
	var fe *packet.FrameError
	if errors.As(err, &fe) {
		de.Reason, de.Field, de.Detail = fe.Reason, fe.Layer, fe.Detail
	}
	st.DecodeError(de)
}

// linkTypeOf maps the interface's ARPHRD type to the link type its frames
// have on an AF_PACKET raw socket. It asks the kernel with SIOCGIFHWADDR on
// a socket of the calling thread's network namespace: /sys/class/net shows
// the namespace sysfs was mounted in, which need not be the same.
func linkTypeOf(name string) (layers.LinkType, bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, false, fmt.Errorf("hardware type: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, false, fmt.Errorf("hardware type: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, false, fmt.Errorf("hardware type: %w", err)
	}
	switch t := ifr.Uint16(); t {
	case unix.ARPHRD_ETHER: // veth, bridges, VLAN and bond devices too
		return layers.LinkTypeEthernet, false, nil
	case unix.ARPHRD_LOOPBACK: // a zeroed Ethernet header
		return layers.LinkTypeEthernet, true, nil
	case unix.ARPHRD_NONE, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT, unix.ARPHRD_IPGRE: // tun, WireGuard, IP tunnels: bare IP
		return layers.LinkTypeRaw, false, nil
	default:
		return 0, false, fmt.Errorf("hardware type %d is not supported (Ethernet, loopback and IP tunnels are)", t)
	}
}

func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "?"
	}
	names := make([]string, len(ifs))
	for i, ifc := range ifs {
		names[i] = ifc.Name
	}
	return strings.Join(names, ", ")
}
