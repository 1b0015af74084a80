package kafka

import (
	"net/netip"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/event"
)

// AppendKey appends the partition key of an event to dst and reports
// whether it has one. It mirrors how the engine spreads events over its
// shards (engine.shardOf), so that one partition holds what one shard
// would: a knock daemon's lines by host (some name no source, and the
// host's inventory finding must come from one place), everything else by
// source address, or by destination when there is no source. Addresses are
// written canonically (addr.Unmap().String(): "::ffff:198.51.100.7" and
// "198.51.100.7" are one key), without a zone.
func AppendKey(dst []byte, ev *event.Event) ([]byte, bool) {
	if ev.Kind == event.KindDaemon && ev.Daemon != nil {
		dst = append(dst, "host:"...)
		return append(dst, ev.Daemon.Host...), true
	}
	a := ev.Src
	if !a.IsValid() {
		a = ev.Dst
	}
	if !a.IsValid() {
		return dst, false
	}
	return canonical(a).AppendTo(dst), true
}

// canonical is the form of an address used in keys.
func canonical(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// AlertKey is the key of an alert or incident in the alerts topic: its
// source address, canonical, so a consumer of that topic keyed by source
// sees one source's findings in order; else its host, else none.
func AlertKey(a *alert.Alert) []byte {
	switch {
	case a.Src.IsValid():
		return canonical(a.Src).AppendTo(nil)
	case a.Host != "":
		return append([]byte("host:"), a.Host...)
	}
	return nil
}
