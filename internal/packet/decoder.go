package packet

import (
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/knockwatch/knockwatch/internal/event"
)

// Defaults for Options.
const (
	// DefaultAnswerTimeout is how long an attempt waits for its answer. A
	// LAN answers in well under a millisecond and most of the Internet in
	// under 300 ms; a later answer still turns the attempt into a
	// connection, as a second event. It is also the delay before a live
	// knock reaches the detectors, so it stays well under a second.
	DefaultAnswerTimeout = 500 * time.Millisecond
	DefaultFlowCap       = 1 << 16
	DefaultMaxPending    = 1 << 16
	// MaxKeptPayload caps the bytes kept of one payload (fwknopd reads at
	// most 1500).
	MaxKeptPayload = 2048

	// tcpKeep is how long a settled TCP attempt is remembered: a
	// retransmitted SYN is not a new attempt, and a late SYN-ACK still
	// makes the attempt a connection.
	tcpKeep = int64(5 * time.Second)
	// udpIdle is how long a quiet UDP flow is remembered, so the datagrams
	// of one exchange are not each a new attempt.
	udpIdle = int64(30 * time.Second)
	// sweepPerPacket bounds the expired flows dropped per packet.
	sweepPerPacket = 2
)

// Options configure a Decoder.
type Options struct {
	// Input is the origin input id stamped on every event.
	Input uint32
	// AnswerTimeout: see DefaultAnswerTimeout.
	AnswerTimeout time.Duration
	// FlowCap caps the flow table; MaxPending caps the events held back
	// in time order behind an unanswered attempt.
	FlowCap    int
	MaxPending int
	// Interest decides which payloads are kept and which other packets
	// become events; nil keeps none.
	Interest *Interest
}

// Stats count what a Decoder did.
type Stats struct {
	Frames uint64
	// Errors counts frames that could not be decoded.
	Errors uint64
	// NonIP counts frames that carry no IP (ARP, LLDP); Fragments the
	// non-first IP fragments; OtherProto IP protocols other than TCP,
	// UDP, ICMP and ICMPv6. None of them is an error.
	NonIP, Fragments, OtherProto uint64
	// Events handed out; Attempts among them; Allowed attempts answered
	// as connections; Late connections whose answer came after the
	// timeout; Retransmits are repeated SYNs folded into their attempt.
	Events, Attempts, Allowed, Late, Retransmits uint64
	// PayloadsKept counts payloads copied for detectors.
	PayloadsKept uint64
	// Flows is the flow table's size and FlowCap its cap; FlowEvictions
	// counts flows dropped to make room; Forced counts attempts settled
	// before their answer window ended because a table was full.
	Flows, FlowCap int
	FlowEvictions  uint64
	Forced         uint64
	// HeldMax is the most events held back at once.
	HeldMax int
}

type item struct {
	ev       event.Event
	deadline int64
	flow     int32
	pending  bool
	// onTimeout is the verdict when no answer comes.
	onTimeout event.Action
}

// Decoder turns the frames of one capture into events in time order. It is
// not safe for concurrent use: a capture has one.
type Decoder struct {
	opts    Options
	timeout int64
	flows   *flowTable
	// q is a ring of held events; qhead and qtail are absolute positions.
	q            []item
	qhead, qtail uint64
	// out holds events settled early (a full queue) until the next drain.
	out   []event.Event
	hdr   Header
	now   int64
	arena arena
	st    Stats
}

// NewDecoder makes a Decoder.
func NewDecoder(o Options) *Decoder {
	if o.AnswerTimeout <= 0 {
		o.AnswerTimeout = DefaultAnswerTimeout
	}
	if o.FlowCap <= 0 {
		o.FlowCap = DefaultFlowCap
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	d := &Decoder{
		opts:    o,
		timeout: int64(o.AnswerTimeout),
		flows:   newFlowTable(o.FlowCap),
		q:       make([]item, min(64, ceilPow2(o.MaxPending))),
	}
	d.flows.onEvict = d.evicted
	return d
}

// Lateness is how long an event may be held back waiting for the answer to
// an attempt before it.
func (d *Decoder) Lateness() time.Duration { return d.opts.AnswerTimeout }

// Stats returns the counters.
func (d *Decoder) Stats() Stats {
	s := d.st
	s.Flows, s.FlowCap, s.FlowEvictions = d.flows.len(), d.flows.cap, d.flows.evictions
	return s
}

// Packet decodes one frame captured at ts (Unix ns) and appends the events
// that are ready to dst. frame is the 1-based frame number for evidence. A
// frame that cannot be decoded returns a *FrameError; the events already
// ready are still appended.
func (d *Decoder) Packet(ts int64, frame uint64, link layers.LinkType, data []byte, dst []event.Event) ([]event.Event, error) {
	d.st.Frames++
	if ts > d.now {
		d.now = ts
	}
	d.sweep()
	h := &d.hdr
	err := Decode(link, data, h)
	switch {
	case err != nil:
		d.st.Errors++
	case h.Network == 0:
		d.st.NonIP++
	case h.Fragment:
		d.st.Fragments++
	default:
		switch h.Proto {
		case event.ProtoTCP:
			d.tcp(ts, frame, h)
		case event.ProtoUDP:
			d.udp(ts, frame, h)
		case event.ProtoICMP, event.ProtoICMPv6:
			d.icmp(ts, frame, h)
		default:
			d.st.OtherProto++
		}
	}
	return d.ready(dst), err
}

// Advance moves event time to now without a packet (an idle capture) and
// appends the events whose answer window has passed.
func (d *Decoder) Advance(now int64, dst []event.Event) []event.Event {
	if now > d.now {
		d.now = now
	}
	d.sweep()
	return d.ready(dst)
}

// Held returns the time of the oldest event held back, if any. A live
// source must not declare event time past it, or that event would arrive
// after the engine moved on.
func (d *Decoder) Held() (int64, bool) {
	if len(d.out) > 0 {
		return d.out[0].Time, true
	}
	if d.qhead == d.qtail {
		return 0, false
	}
	return d.q[d.qhead&uint64(len(d.q)-1)].ev.Time, true
}

// Finish settles every held attempt as unanswered (the input ended) and
// appends all remaining events.
func (d *Decoder) Finish(dst []event.Event) []event.Event {
	for s := d.qhead; s < d.qtail; s++ {
		if it := &d.q[s&uint64(len(d.q)-1)]; it.pending {
			d.expire(it, s)
		}
	}
	return d.ready(dst)
}

func (d *Decoder) tcp(ts int64, frame uint64, h *Header) {
	f := h.TCPFlags
	switch {
	case f&event.FlagRST != 0:
		d.answered(reverseKey(h), event.ActionDenied, ts, frame, h)
	case f&event.FlagSYN != 0 && f&event.FlagACK != 0:
		d.answered(reverseKey(h), event.ActionAllowed, ts, frame, h)
	case f&event.FlagACK == 0:
		// A SYN, or a SYN-less probe (FIN, NULL, XMAS scans): an attempt.
		verdict := event.ActionDenied
		if f&event.FlagSYN == 0 {
			verdict = event.ActionUnknown // silence means open or filtered
		}
		d.attempt(ts, frame, h, verdict)
		return
	}
	d.interesting(ts, frame, h, event.ActionUnknown)
}

func (d *Decoder) udp(ts int64, frame uint64, h *Header) {
	if h.Dst.IsMulticast() || h.Dst == broadcast4 {
		// Nobody knocks on a broadcast address, and nothing answers it.
		d.interesting(ts, frame, h, event.ActionUnknown)
		return
	}
	k := forwardKey(h)
	if i, ok := d.live(&k, ts); ok {
		fl := d.flows.at(i)
		fl.last = ts
		d.flows.touch(i)
		action := event.ActionUnknown
		if fl.state == flowAllowed {
			action = event.ActionAllowed
		}
		d.interesting(ts, frame, h, action)
		return
	}
	rk := reverseKey(h)
	if i, ok := d.live(&rk, ts); ok {
		// The reply of an exchange.
		d.answered(rk, event.ActionAllowed, ts, frame, nil)
		d.flows.at(i).last = ts
		d.interesting(ts, frame, h, event.ActionAllowed)
		return
	}
	if h.SrcPort < 1024 && h.DstPort >= 1024 {
		// From a service port to an ephemeral one: the reply of an
		// exchange whose request came before the capture began (DNS, NTP,
		// QUIC answers in the first seconds of a capture). Made attempts,
		// a few of them to one client would read as a knock on high ports.
		i := d.flows.insert(&k)
		fl := d.flows.at(i)
		fl.state, fl.first, fl.last = flowAllowed, ts, ts
		d.interesting(ts, frame, h, event.ActionAllowed)
		return
	}
	d.attempt(ts, frame, h, event.ActionDenied)
}

var broadcast4 = netipAddr4(255, 255, 255, 255)

func (d *Decoder) icmp(ts int64, frame uint64, h *Header) {
	v6 := h.Proto == event.ProtoICMPv6
	t := h.ICMPType
	if h.Quoted.Valid && ((!v6 && t == 3) || (v6 && t == 1)) {
		// Destination unreachable: the quoted datagram was refused.
		q := &h.Quoted
		k := flowKey{src: q.Src.As16(), dst: q.Dst.As16(), sport: q.SrcPort, dport: q.DstPort, proto: uint8(q.Proto)}
		d.answered(k, event.ActionDenied, ts, frame, nil)
		return
	}
	if (!v6 && (t == 8 || t == 13 || t == 15 || t == 17)) || (v6 && t == 128) {
		ev := d.event(ts, frame, h)
		if d.opts.Interest.keepPayload(h) {
			d.keep(&ev, h)
		}
		d.st.Attempts++
		d.push(ev, false, 0, noSlot, 0)
		return
	}
	d.interesting(ts, frame, h, event.ActionUnknown)
}

// live finds a flow that has not expired; an expired one is dropped.
func (d *Decoder) live(k *flowKey, ts int64) (int32, bool) {
	return d.liveHash(k, k.hash(d.flows.seed), ts)
}

func (d *Decoder) liveHash(k *flowKey, kh uint64, ts int64) (int32, bool) {
	i, ok := d.flows.lookupHash(k, kh)
	if !ok {
		return noSlot, false
	}
	if d.expired(d.flows.at(i), ts) {
		d.flows.remove(i)
		return noSlot, false
	}
	return i, true
}

func (d *Decoder) expired(fl *flow, now int64) bool {
	if fl.state == flowPending {
		return false
	}
	keep := tcpKeep
	if event.Proto(fl.key.proto) == event.ProtoUDP {
		keep = udpIdle
	}
	return now-fl.last > keep
}

// attempt holds a new attempt until it is answered; a repeat on a live flow
// (a retransmission) is folded into it.
func (d *Decoder) attempt(ts int64, frame uint64, h *Header, verdict event.Action) {
	k := forwardKey(h)
	kh := k.hash(d.flows.seed)
	if i, ok := d.liveHash(&k, kh, ts); ok {
		fl := d.flows.at(i)
		fl.last = ts
		d.flows.touch(i)
		d.st.Retransmits++
		d.interesting(ts, frame, h, event.ActionUnknown)
		return
	}
	i := d.flows.insertHash(&k, kh)
	ev := d.event(ts, frame, h)
	if d.opts.Interest.keepPayload(h) {
		d.keep(&ev, h)
	}
	fl := d.flows.at(i)
	fl.state, fl.first, fl.last = flowPending, ts, ts
	d.st.Attempts++
	fl.qseq = d.push(ev, true, ts+d.timeout, i, verdict)
}

// answered settles the attempt keyed k with action, or, for an attempt that
// went unanswered past its window, adds a late connection. h, if set, is
// the answering packet, which may itself interest a detector.
func (d *Decoder) answered(k flowKey, action event.Action, ts int64, frame uint64, h *Header) {
	if i, ok := d.flows.lookup(&k); ok {
		fl := d.flows.at(i)
		switch fl.state {
		case flowPending:
			it := &d.q[fl.qseq&uint64(len(d.q)-1)]
			if fl.qseq < d.qhead || fl.qseq >= d.qtail || !it.pending || it.flow != i {
				break // settled already (cannot happen: settling marks the flow)
			}
			it.ev.Action = action
			it.pending = false
			if action == event.ActionAllowed {
				fl.state = flowAllowed
				d.st.Allowed++
			} else {
				fl.state = flowDenied
			}
		case flowSilent, flowDenied:
			if action == event.ActionAllowed && ts-fl.first <= tcpKeep {
				d.late(fl, ts, frame)
			}
		}
		fl.last = ts
		d.flows.touch(i)
	}
	if h != nil {
		d.interesting(ts, frame, h, event.ActionUnknown)
	}
}

// late reports a connection whose answer came after the attempt was
// settled as unanswered.
func (d *Decoder) late(fl *flow, ts int64, frame uint64) {
	fl.state = flowAllowed
	ev := event.Event{
		Time:    ts,
		Origin:  event.Origin{Input: d.opts.Input, Index: frame},
		Src:     netipFrom16(fl.key.src),
		Dst:     netipFrom16(fl.key.dst),
		SrcPort: fl.key.sport, DstPort: fl.key.dport,
		Kind:   event.KindAttempt,
		Proto:  event.Proto(fl.key.proto),
		Action: event.ActionAllowed,
		Flags:  event.FlagPacket,
	}
	if ev.Proto == event.ProtoTCP {
		ev.TCPFlags = event.FlagSYN
	}
	d.st.Allowed++
	d.st.Late++
	d.push(ev, false, 0, noSlot, 0)
}

// interesting makes an event of a packet that is not an attempt when a
// detector could want its payload or header.
func (d *Decoder) interesting(ts int64, frame uint64, h *Header, action event.Action) {
	in := d.opts.Interest
	if in == nil {
		return
	}
	keep := in.keepPayload(h)
	if !keep && !in.headerKey(h) {
		return
	}
	ev := d.event(ts, frame, h)
	ev.Action = action
	if keep {
		d.keep(&ev, h)
	}
	d.push(ev, false, 0, noSlot, 0)
}

func (d *Decoder) event(ts int64, frame uint64, h *Header) event.Event {
	return event.Event{
		Time:       ts,
		Origin:     event.Origin{Input: d.opts.Input, Index: frame},
		Src:        h.Src,
		Dst:        h.Dst,
		SrcPort:    h.SrcPort,
		DstPort:    h.DstPort,
		Kind:       event.KindAttempt,
		Proto:      h.Proto,
		TCPFlags:   h.TCPFlags,
		Shape:      Shape(h),
		Flags:      event.FlagPacket,
		ICMPType:   h.ICMPType,
		ICMPCode:   h.ICMPCode,
		TTL:        h.TTL,
		IPLen:      h.IPLen,
		IPID:       h.IPID,
		Window:     h.Window,
		PayloadLen: uint16(min(h.PayloadLen, 65535)),
		Seq:        h.Seq,
		Ack:        h.Ack,
		EchoID:     h.EchoID,
		EchoSeq:    h.EchoSeq,
	}
}

// keep copies the payload out of the frame buffer (see the package
// documentation for why it must never alias it).
func (d *Decoder) keep(ev *event.Event, h *Header) {
	p := h.Payload
	if len(p) > MaxKeptPayload {
		p = p[:MaxKeptPayload]
	}
	ev.Payload = d.arena.copy(p)
	d.st.PayloadsKept++
}

// push appends an event to the queue and returns its position.
func (d *Decoder) push(ev event.Event, pending bool, deadline int64, fl int32, verdict event.Action) uint64 {
	if n := int(d.qtail - d.qhead); n == len(d.q) {
		if len(d.q) < d.opts.MaxPending {
			d.grow()
		} else {
			d.forceHead()
		}
	}
	s := d.qtail
	d.q[s&uint64(len(d.q)-1)] = item{ev: ev, pending: pending, deadline: deadline, flow: fl, onTimeout: verdict}
	d.qtail++
	if n := int(d.qtail - d.qhead); n > d.st.HeldMax {
		d.st.HeldMax = n
	}
	return s
}

// grow doubles the ring, keeping every item at its absolute position.
func (d *Decoder) grow() {
	nq := make([]item, min(len(d.q)*2, ceilPow2(d.opts.MaxPending)))
	for s := d.qhead; s < d.qtail; s++ {
		nq[s&uint64(len(nq)-1)] = d.q[s&uint64(len(d.q)-1)]
	}
	d.q = nq
}

// forceHead settles the oldest held event early when the queue is full and
// moves it out, so a flood cannot grow memory.
func (d *Decoder) forceHead() {
	it := &d.q[d.qhead&uint64(len(d.q)-1)]
	if it.pending {
		d.expire(it, d.qhead)
		d.st.Forced++
	}
	d.out = append(d.out, it.ev)
	d.st.Events++
	*it = item{}
	d.qhead++
}

// expire settles a held attempt as unanswered.
func (d *Decoder) expire(it *item, pos uint64) {
	it.pending = false
	it.ev.Action = it.onTimeout
	if it.flow != noSlot {
		if fl := d.flows.at(it.flow); fl.used && fl.state == flowPending && fl.qseq == pos {
			fl.state = flowSilent
		}
	}
}

// evicted settles an attempt whose flow the table drops to make room.
func (d *Decoder) evicted(_ int32, fl *flow) {
	if fl.state != flowPending {
		return
	}
	if pos := fl.qseq; pos >= d.qhead && pos < d.qtail {
		it := &d.q[pos&uint64(len(d.q)-1)]
		if it.pending {
			it.pending = false
			it.ev.Action = it.onTimeout
			d.st.Forced++
		}
	}
}

// ready appends the events at the head of the queue that are settled, in
// order, settling those whose answer window has passed.
func (d *Decoder) ready(dst []event.Event) []event.Event {
	if len(d.out) > 0 {
		dst = append(dst, d.out...)
		clear(d.out)
		d.out = d.out[:0]
	}
	mask := uint64(len(d.q) - 1)
	for d.qhead < d.qtail {
		it := &d.q[d.qhead&mask]
		if it.pending {
			if it.deadline > d.now {
				break
			}
			d.expire(it, d.qhead)
		}
		dst = append(dst, it.ev)
		d.st.Events++
		*it = item{}
		d.qhead++
	}
	return dst
}

// sweep drops a few flows that have been quiet longer than they matter.
func (d *Decoder) sweep() {
	for n := 0; n < sweepPerPacket; n++ {
		i := d.flows.tail
		if i == noSlot {
			return
		}
		fl := d.flows.at(i)
		if !d.expired(fl, d.now) {
			return
		}
		d.flows.remove(i)
	}
}

func forwardKey(h *Header) flowKey {
	return flowKey{src: h.Src.As16(), dst: h.Dst.As16(), sport: h.SrcPort, dport: h.DstPort, proto: uint8(h.Proto)}
}

func reverseKey(h *Header) flowKey {
	return flowKey{src: h.Dst.As16(), dst: h.Src.As16(), sport: h.DstPort, dport: h.SrcPort, proto: uint8(h.Proto)}
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
