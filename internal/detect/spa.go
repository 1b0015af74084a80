package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/state"
)

// The spa detector recognises fwknop's single-packet authorization by its
// payload, on any port and transport (UDP, a TCP segment, an ICMP message,
// an HTTP GET), from the shape fwknop's encoding gives it
// (../shared/formats.md 2.2):
//
//   - 140 to 1500 bytes (fwknopd drops anything else), all in the base64
//     alphabet without '=' padding;
//   - in Rijndael mode the first character is one of 8 9 + /: the
//     constant "Salted__" prefix is cut after ten characters, which leaves
//     a character made of two fixed '_' bits and two salt bits;
//   - the length fits the encoding: with n = len - h + 10 (h the length of
//     the appended HMAC in base64: none, MD5 22, SHA-1 27, SHA-256 43,
//     SHA-384 64, SHA-512 86), n mod 4 != 1 and floor(3n/4) is a multiple
//     of 16 of at least 32 (salt header plus AES blocks);
//   - characters as evenly spread as random data's.
//
// A packet with all four is reported at medium severity; more when it is
// sent to fwknop's default port, goes unanswered (fwknopd never replies) or
// is followed by a successful connection from the same source (the door it
// opened). The same payload seen again is a replay. A firewall log shows no
// payload: a UDP datagram to 62201 whose size fits the encoding is reported
// as a candidate at low severity and confidence, because only its size and
// port say SPA; it is never counted as a scan.

const (
	// spaDefaultPort is fwknop's default destination (FKO_DEFAULT_PORT).
	spaDefaultPort = 62201
	// spaReplayCap bounds the payload hashes remembered per shard.
	spaReplayCap = 4096
	// spaQuiet suppresses further candidates from one source for a while
	// after an alert, so a flood of look-alikes cannot flood alerts.
	spaQuiet = int64(10 * time.Second)
)

// spaHMACLens are the base64 lengths of fwknop's HMAC digests (*_B64_LEN),
// 0 for no HMAC.
var spaHMACLens = [...]struct {
	n    int
	name string
}{{43, "sha256"}, {0, "none"}, {22, "md5"}, {27, "sha1"}, {64, "sha384"}, {86, "sha512"}}

type spaMemo struct {
	a        *alert.Alert
	dst      netip.Addr
	t        int64
	followed bool
}

type spaSource struct {
	memos     [2]spaMemo
	lastAlert int64
}

type replayEntry struct {
	a   *alert.Alert
	t   int64
	key [32]byte
}

// SPA is the single-packet-authorization detector of one shard.
type SPA struct {
	follow int64
	admin  []netip.Prefix
	deps   Deps
	table  *state.Table[spaSource]
	now    int64

	// Replays: payload digests of recent SPA packets, oldest dropped first.
	replays    map[[32]byte]int32
	replayRing []replayEntry
	replayNext int

	sources    atomic.Int64
	evictions  atomic.Uint64
	candidates atomic.Uint64
}

var _ Detector = (*SPA)(nil)

var spaEntryBytes = int64(unsafe.Sizeof(spaSource{})) + 64

// NewSPA makes the detector for one of shards shards.
func NewSPA(cfg config.Config, shards int, deps Deps) *SPA {
	shards = max(shards, 1)
	// SPA state is small and rare: a sixteenth of the state budget.
	capacity := int(int64(cfg.State.MaxBytes) / 16 / spaEntryBytes / int64(shards))
	d := &SPA{
		follow:  int64(cfg.Sequence.FollowWindow),
		admin:   cfg.Allowlist.AdminNetworks,
		deps:    deps,
		table:   state.New[spaSource](max(capacity, 1024)),
		replays: make(map[[32]byte]int32),
	}
	d.table.OnEvict = func(state.Key, *spaSource) { d.evictions.Add(1) }
	return d
}

// Stats reports state size and evictions.
func (d *SPA) Stats() Stats {
	return Stats{Name: "spa", Sources: d.sources.Load(), Capacity: int64(d.table.Cap()), Evictions: d.evictions.Load()}
}

// Advance forgets memos older than the follow window.
func (d *SPA) Advance(now int64) {
	if now > d.now {
		d.now = now
	}
	for n := 0; n < 64; n++ {
		i, ok := d.table.Oldest()
		if !ok {
			break
		}
		s := d.table.At(i)
		if now-max(s.lastAlert, s.memos[0].t, s.memos[1].t) <= d.follow {
			break
		}
		d.table.Delete(i)
	}
	d.sources.Store(int64(d.table.Len()))
}

// Flush has nothing pending: SPA alerts are emitted when seen.
func (d *SPA) Flush() {}

// Observe processes one event.
func (d *SPA) Observe(ev *event.Event) {
	if ev.Kind != event.KindAttempt || !ev.Src.IsValid() {
		return
	}
	if ev.Time > d.now {
		d.now = ev.Time
	}
	if isConnection(ev) {
		d.connection(ev)
	}
	switch {
	case ev.Payload != nil:
		f, ok := AnalyzeSPA(ev.Proto, ev.Payload)
		if !ok {
			return
		}
		d.candidates.Add(1)
		d.packet(ev, &f)
	case ev.Flags&event.FlagPacket == 0 && ev.Proto == event.ProtoUDP && ev.DstPort == spaDefaultPort:
		if n := int(ev.PayloadLen); n >= 140 && n <= 1500 {
			if h := spaLengthFits(n); h != "" {
				d.candidates.Add(1)
				d.fromLog(ev, h)
			}
		}
	}
}

// SPAFacts is what the payload shows.
type SPAFacts struct {
	// Mode is "rijndael" or "gnupg"; Transport "udp", "tcp", "icmp" or
	// "http".
	Mode, Transport string
	// HMAC names the digest whose length the payload fits ("" for gnupg).
	HMAC    string
	Length  int
	Entropy float64
	First   byte
}

// AnalyzeSPA checks a payload against fwknop's SPA shape.
func AnalyzeSPA(proto event.Proto, p []byte) (SPAFacts, bool) {
	f := SPAFacts{Transport: proto.String()}
	if proto == event.ProtoTCP && len(p) > 5 && string(p[:5]) == "GET /" {
		// fwknop -P http puts the data in the request path with - and _
		// for + and / (URL-safe).
		path := p[5:]
		end := 0
		for end < len(path) && path[end] != ' ' && path[end] != '?' && path[end] != '\r' {
			end++
		}
		buf := make([]byte, end)
		for i, c := range path[:end] {
			switch c {
			case '-':
				c = '+'
			case '_':
				c = '/'
			}
			buf[i] = c
		}
		p = buf
		f.Transport = "http"
	}
	n := len(p)
	if n < 140 || n > 1500 {
		return f, false
	}
	var counts [256]uint16
	for _, c := range p {
		if !isB64(c) {
			return f, false
		}
		counts[c]++
	}
	// fwknopd refuses data that still carries these prefixes.
	if string(p[:10]) == "U2FsdGVkX1" || (string(p[:2]) == "hQ" && n > 400) {
		return f, false
	}
	f.Length, f.First = n, p[0]
	switch c := p[0]; {
	case c == '8' || c == '9' || c == '+' || c == '/':
		f.Mode = "rijndael"
		if f.HMAC = spaLengthFits(n); f.HMAC == "" {
			return f, false
		}
	case n >= 400 && c >= 'E' && c <= 'L':
		f.Mode = "gnupg"
	default:
		return f, false
	}
	// Random data encoded in base64 spreads over 64 characters; the
	// plug-in estimate falls short of 6 bits by about 63/(2n ln 2).
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			q := float64(c) / float64(n)
			h -= q * math.Log2(q)
		}
	}
	f.Entropy = h
	if h < 6-63/(2*float64(n)*math.Ln2)-0.35 {
		return f, false
	}
	return f, true
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// spaLengthFits returns the HMAC digests whose length makes n a valid
// Rijndael-mode SPA length ("sha256 or none"), "" if none does. Lengths
// are ambiguous: a payload without HMAC can be as long as one with.
func spaLengthFits(n int) string {
	var mask uint8
	for i, h := range spaHMACLens {
		m := n - h.n + 10
		if m <= 0 || m%4 == 1 {
			continue
		}
		if b := m * 3 / 4; b >= 32 && b%16 == 0 {
			mask |= 1 << i
		}
	}
	return spaHMACNames[mask]
}

// spaHMACNames names every set of fitting digests, so a check allocates
// nothing.
var spaHMACNames = func() (names [1 << len(spaHMACLens)]string) {
	for mask := range names {
		s := ""
		for i, h := range spaHMACLens {
			if mask&(1<<i) != 0 {
				if s != "" {
					s += " or "
				}
				s += h.name
			}
		}
		names[mask] = s
	}
	return names
}()

func (d *SPA) packet(ev *event.Event, f *SPAFacts) {
	key := sha256.Sum256(ev.Payload)
	if i, ok := d.replays[key]; ok {
		orig := d.replayRing[i].a
		a := d.candidateAlert(ev, f, key)
		MarkSPAReplay(a, orig)
		d.emit(ev, a, false)
		return
	}
	a := d.candidateAlert(ev, f, key)
	if !d.emit(ev, a, true) {
		return
	}
	d.remember(key, a, ev.Time)
}

// candidateAlert builds the alert for one SPA-shaped packet.
func (d *SPA) candidateAlert(ev *event.Event, f *SPAFacts, key [32]byte) *alert.Alert {
	t := time.Unix(0, ev.Time).UTC()
	conf := 0.55
	reasons := []string{fmt.Sprintf("payload of %d bytes, all base64 without padding", f.Length)}
	if f.Mode == "rijndael" {
		reasons = append(reasons,
			fmt.Sprintf("first character %q, as fwknop's Rijndael mode always sends", f.First),
			fmt.Sprintf("length fits fwknop's encoding (HMAC: %s)", f.HMAC))
	} else {
		conf = 0.4
		reasons = append(reasons, fmt.Sprintf("%d bytes starting %q: fwknop's GnuPG mode (shape derived, not confirmed against captures)", f.Length, f.First))
	}
	reasons = append(reasons, fmt.Sprintf("entropy %.2f bits per character, as encoded random data", f.Entropy))
	port := portKey(ev)
	if (ev.Proto == event.ProtoUDP || ev.Proto == event.ProtoTCP) && ev.DstPort == spaDefaultPort {
		conf += 0.15
		reasons = append(reasons, fmt.Sprintf("sent to %d/%s, fwknop's default port", ev.DstPort, ev.Proto))
	}
	if ev.Proto == event.ProtoUDP {
		switch ev.Action {
		case event.ActionAllowed:
			conf -= 0.15
			reasons = append(reasons, "the receiver answered (fwknopd never does)")
		default:
			conf += 0.05
			reasons = append(reasons, "nothing answered it, as fwknopd does not")
		}
	}
	sev := alert.SeverityMedium
	if inPrefixes(ev.Src, d.admin) {
		sev = alert.SeverityLow
		reasons = append(reasons, "source is in an admin network")
	}
	hash := hex.EncodeToString(key[:8])
	a := &alert.Alert{
		Kind:       "alert",
		Detector:   "spa",
		Technique:  alert.TechniquePortKnocking,
		Severity:   sev,
		Confidence: clamp01(conf),
		Reasons:    reasons,
		Src:        ev.Src,
		Dst:        ev.Dst,
		Time:       t,
		FirstSeen:  t,
		LastSeen:   t,
		Attributes: map[string]string{
			"transport":      f.Transport,
			"mode":           f.Mode,
			"payload_len":    strconv.Itoa(f.Length),
			"payload_sha256": hash,
		},
		Evidence:      []string{d.resolve(ev.Origin)},
		EvidenceTotal: 1,
	}
	if f.HMAC != "" {
		a.Attributes["hmac"] = f.HMAC
	}
	where := fmt.Sprintf("%d/%s", port, ev.Proto)
	if ev.Proto == event.ProtoICMP || ev.Proto == event.ProtoICMPv6 {
		where = fmt.Sprintf("%s type %d", ev.Proto, ev.ICMPType)
	}
	a.Attributes["port"] = where
	a.Summary = fmt.Sprintf("%s sent an fwknop SPA packet to %s on %s", ev.Src, ev.Dst, where)
	a.ID = alert.IDOf("spa", ev.Src, ev.Dst, t, hash)
	return a
}

// MarkSPAReplay turns a into the report of a replay of orig's payload. The
// detector does it when one shard saw both packets; SPAReplays does it
// after a hunt for replays whose packets went to different shards, with
// the same result.
func MarkSPAReplay(a, orig *alert.Alert) {
	a.Attributes["replay_of"] = orig.ID
	a.Attributes["first_sent_by"] = orig.Src.String()
	a.Severity = max(a.Severity, alert.SeverityHigh)
	a.Confidence = clamp01(max(a.Confidence, 0.6) + 0.2)
	a.Reasons = append(a.Reasons, fmt.Sprintf("replay: the same payload was sent by %s at %s (%s); fwknopd rejects replays, so this is a captured packet sent again",
		orig.Src, orig.FirstSeen.Format(time.RFC3339Nano), orig.ID))
	a.Summary = fmt.Sprintf("%s replayed an fwknop SPA packet first sent by %s to %s", a.Src, orig.Src, a.Dst)
	if len(orig.Evidence) > 0 && len(a.Evidence) < alert.MaxEvidence {
		a.Evidence = append(a.Evidence, orig.Evidence[0])
		a.EvidenceTotal++
	}
}

// SPAReplays marks, in alerts sorted by time, every SPA alert whose payload
// an earlier SPA alert already carried. Hunts call it after the run: the
// engine shards by source, so a replay from another address can land on
// another shard than the packet it copies.
func SPAReplays(alerts []*alert.Alert) {
	first := map[string]*alert.Alert{}
	for _, a := range alerts {
		if a.Detector != "spa" || a.Attributes == nil {
			continue
		}
		h := a.Attributes["payload_sha256"]
		if h == "" {
			continue
		}
		orig, seen := first[h]
		if !seen {
			first[h] = a
			continue
		}
		if a.FirstSeen.After(orig.FirstSeen) && a.Attributes["replay_of"] == "" {
			MarkSPAReplay(a, orig)
		}
	}
}

// fromLog reports a firewall-log line that can only be SPA by size and
// port.
func (d *SPA) fromLog(ev *event.Event, hmac string) {
	t := time.Unix(0, ev.Time).UTC()
	a := &alert.Alert{
		Kind:       "alert",
		Detector:   "spa",
		Technique:  alert.TechniquePortKnocking,
		Severity:   alert.SeverityLow,
		Confidence: 0.3,
		Reasons: []string{
			fmt.Sprintf("UDP datagram to %d, fwknop's default port", ev.DstPort),
			fmt.Sprintf("payload of %d bytes, a length fwknop's encoding produces (HMAC: %s)", ev.PayloadLen, hmac),
			"a log shows no payload, so only size and port say SPA: a candidate, not a finding",
		},
		Summary:       fmt.Sprintf("%s sent a possible fwknop SPA packet (%d bytes) to %s on %d/udp", ev.Src, ev.PayloadLen, ev.Dst, ev.DstPort),
		Src:           ev.Src,
		Dst:           ev.Dst,
		Time:          t,
		FirstSeen:     t,
		LastSeen:      t,
		Attributes:    map[string]string{"transport": "udp", "payload_len": strconv.Itoa(int(ev.PayloadLen)), "port": fmt.Sprintf("%d/udp", ev.DstPort), "hmac": hmac},
		Evidence:      []string{d.resolve(ev.Origin)},
		EvidenceTotal: 1,
	}
	a.ID = alert.IDOf("spa", ev.Src, ev.Dst, t, "log", strconv.Itoa(int(ev.PayloadLen)))
	d.emit(ev, a, true)
}

// emit sends a candidate alert unless the source alerted a moment ago, and
// remembers it for the connection that may follow.
func (d *SPA) emit(ev *event.Event, a *alert.Alert, quiet bool) bool {
	i, created := d.table.Insert(state.KeyOf(ev.Src))
	s := d.table.At(i)
	if created {
		d.sources.Store(int64(d.table.Len()))
	}
	if quiet && s.lastAlert != 0 && ev.Time-s.lastAlert < spaQuiet && ev.Time >= s.lastAlert {
		if d.deps.Trace.On(ev.Src) {
			d.deps.Trace.Addf(fmt.Sprintf("%s spa: another SPA-shaped packet within %s of the last alert: counted, not reported", time.Unix(0, ev.Time).UTC().Format(time.RFC3339Nano), time.Duration(spaQuiet)))
		}
		return false
	}
	s.lastAlert = ev.Time
	slot := 0
	if s.memos[1].t < s.memos[0].t || s.memos[1].a == nil {
		slot = 1
	}
	s.memos[slot] = spaMemo{a: a, dst: ev.Dst, t: ev.Time}
	if d.deps.Trace.On(ev.Src) {
		d.deps.Trace.Addf(fmt.Sprintf("%s spa: reported %s severity=%s confidence=%.2f", a.Time.Format(time.RFC3339Nano), a.ID, a.Severity, a.Confidence))
	}
	d.deps.Emit(a)
	return true
}

func (d *SPA) remember(key [32]byte, a *alert.Alert, t int64) {
	if len(d.replayRing) < spaReplayCap {
		d.replayRing = append(d.replayRing, replayEntry{})
	} else {
		old := &d.replayRing[d.replayNext]
		if j, ok := d.replays[old.key]; ok && int(j) == d.replayNext {
			delete(d.replays, old.key)
		}
	}
	d.replayRing[d.replayNext] = replayEntry{a: a, t: t, key: key}
	d.replays[key] = int32(d.replayNext)
	d.replayNext = (d.replayNext + 1) % spaReplayCap
}

// connection raises an SPA alert whose source then connects to the host it
// sent the packet to.
func (d *SPA) connection(ev *event.Event) {
	i, ok := d.table.Peek(state.KeyOf(ev.Src))
	if !ok {
		return
	}
	s := d.table.At(i)
	for k := range s.memos {
		m := &s.memos[k]
		if m.a == nil || m.followed || m.dst != ev.Dst || ev.Time <= m.t || ev.Time-m.t > d.follow {
			continue
		}
		m.followed = true
		prev := m.a
		a := *prev
		a.Reasons = append([]string(nil), prev.Reasons...)
		a.Evidence = append([]string(nil), prev.Evidence...)
		a.Attributes = make(map[string]string, len(prev.Attributes))
		for k, v := range prev.Attributes {
			a.Attributes[k] = v
		}
		delay := ev.Time - m.t
		ct := time.Unix(0, ev.Time).UTC()
		a.FollowedBy = &alert.Connection{Time: ct, Port: ev.DstPort, Proto: ev.Proto.String(), DelayMS: float64(delay) / 1e6, Evidence: d.resolve(ev.Origin)}
		a.Reasons = append(a.Reasons, fmt.Sprintf("then connected to %d/%s %s after the SPA packet", ev.DstPort, ev.Proto, fmtDur(delay)), "supersedes "+prev.ID)
		a.Confidence = clamp01(prev.Confidence + 0.25)
		if a.Severity >= alert.SeverityMedium && a.Severity < alert.SeverityHigh {
			a.Severity = alert.SeverityHigh
		}
		a.Time, a.LastSeen = ct, ct
		a.Supersedes = prev.ID
		a.Summary += fmt.Sprintf(", then connected to %d/%s", ev.DstPort, ev.Proto)
		a.ID = alert.IDOf("spa", a.Src, a.Dst, a.FirstSeen, a.Attributes["payload_sha256"], fmt.Sprintf("%d/%s@%d", ev.DstPort, ev.Proto, ev.Time))
		a.EvidenceTotal++
		if len(a.Evidence) < alert.MaxEvidence {
			a.Evidence = append(a.Evidence, a.FollowedBy.Evidence)
		}
		if d.deps.Trace.On(ev.Src) {
			d.deps.Trace.Addf(fmt.Sprintf("%s spa: connection to %d/%s %s after SPA %s", ct.Format(time.RFC3339Nano), ev.DstPort, ev.Proto, fmtDur(delay), prev.ID))
		}
		d.deps.Emit(&a)
		return
	}
}

func (d *SPA) resolve(o event.Origin) string {
	if d.deps.Origins == nil {
		return fmt.Sprintf("input%d:%d", o.Input, o.Index)
	}
	return d.deps.Origins.Resolve(o)
}
