// Package packet turns captured frames into events: it decodes link, network
// and transport headers, tells closed ports from open ones with a small
// bounded flow table, recognises the header shapes of scanners and knock
// clients, keeps the payloads a detector could want, and hands the events
// over in time order.
//
// # From frames to events
//
// Decode reads the headers of one frame into a Header without allocating
// (Ethernet with 802.1Q/802.1ad tags, Linux cooked SLL and SLL2, raw IPv4 or
// IPv6, BSD loopback; IPv4 with options and fragments, IPv6 with extension
// headers; TCP, UDP, ICMP, ICMPv6 including the packet quoted by an ICMP
// error). Decoder feeds headers through the flow table:
//
//   - a TCP SYN (or a SYN-less FIN/NULL/XMAS probe) and the first UDP
//     datagram of a flow are attempts. They are held until answered: RST,
//     ICMP unreachable or no answer within AnswerTimeout make the attempt
//     event.ActionDenied; SYN-ACK or a UDP reply make it event.ActionAllowed,
//     a successful connection, so knock-then-connect works from packets
//     alone;
//   - an ICMP echo, timestamp, information or address-mask request is an
//     attempt at once;
//   - any other packet becomes an event only when its payload or header
//     passes the Interest prefilter (SPA shape, magic-packet rules).
//
// Events leave the Decoder in time order: an attempt waiting for its answer
// holds back the events behind it, so a stream declares AnswerTimeout as its
// lateness.
//
// # Payload lifetime
//
// Readers (pcapgo, afpacket) reuse one buffer per frame, and the engine
// copies events into shard batches, releases the source's batch and lets the
// shard read them later on another goroutine. A payload therefore must never
// alias a frame buffer. The Decoder copies the payloads it keeps into an
// arena of slabs that are filled once and never reused: a slab is dropped
// when full and freed by the garbage collector once no event refers to it.
// Packets whose payload is not kept cost no allocation at all, which is the
// steady state of a capture.
//
// # Bounded state
//
// The flow table is capped (FlowCap entries, least recently active evicted
// first, evictions counted); the queue of held events is capped
// (MaxPending, the oldest attempt is settled early when it is full). A flood
// of SYNs from random spoofed sources therefore runs in flat memory.
package packet
