// Package kafka runs knockwatch beyond one machine: a Kafka input for the
// sensor (a consumer group member that runs the detectors over the
// partitions it owns), a Kafka sink for alerts and incidents, and the
// router behind `knockwatch route`, which re-keys an unkeyed topic by
// source address, and the correlator behind `knockwatch correlate`, which
// joins the alerts of a whole group into incidents.
//
// # Partitions own sources
//
// Knock state belongs to a source, so topics are keyed by source address
// (AppendKey: the same choice the engine makes for its shards, written
// canonically, addr.Unmap().String()) and partitioned with Kafka's murmur2
// partitioner. Every instance of one consumer group owns whole partitions,
// hence whole sources, and needs no shared state; adding instances adds
// throughput. The group uses the cooperative-sticky balancer, so a
// rebalance moves only the partitions that change owner.
//
// # One engine per owned partition
//
// Each owned partition gets a live engine of its own (package engine, one
// lane, one shard), rather than one engine for the instance with a way to
// drop a partition's sources from the detectors. The reasons:
//
//   - Handing a partition over is stopping its engine: its state goes
//     with it, no detector needs to learn to forget sources by partition,
//     and the other partitions' state is untouched.
//   - Event time is the partition's own. Partitions are read at different
//     speeds (a new owner replays a backlog while the others are live); in
//     one engine the slowest would hold every other partition's watermark
//     back, or its events would all be late.
//   - What the detectors see of a partition does not depend on which other
//     partitions the instance owns, so any owner, replaying the same
//     records, emits the same alerts. That is what makes a takeover exact.
//
// Memory: each partition's detectors get state.max_bytes / max_partitions,
// the same whoever owns the partition. An instance owning more than
// max_partitions partitions uses more than state.max_bytes.
//
// Event time is the partition's own, a function of its records: the
// worker puts the events of a partition back in time order within the
// lateness (reorder.go: several routers or collectors write a partition,
// so it is nearly, not exactly, in order) and tells the engine how far time
// has got (the bound, newest event less the lateness) with a tick event.
// Event times are clamped to their record's Kafka timestamp plus
// max_time_skew, not to the local clock, so a replay clamps exactly as the
// first reading did. Whoever reads the same records gives the detectors
// the same events in the same order. The clock enters in one place: while
// a partition is read to its end and quiet for idle_tick, its time moves
// on by the quiet time, so the last knock of a burst is judged without
// waiting for the partition's next record.
//
// # Offsets, at least once, and replays
//
// A partition's worker hands its events to the engine in batches, each
// marked with the offset after the last record read and the newest event
// time so far. The engine reports progress (its watermark, and the marks
// it routed) once every alert emitted before the report went through the
// alert callback; an epoch (the alerts between two reports) is settled once
// the sinks took all of its alerts (delivered, or spooled and synced, or
// refused). Offsets are committed from settled epochs only, so a committed
// offset never skips a record whose alerts are not out.
//
// The offset committed is not "after the last record processed": the
// detectors hold state (a knock in progress, the ports a source tried in
// the last ten minutes) that only the records can rebuild. With W the
// engine watermark of the newest settled epoch and H the detectors'
// horizon (detect.Horizon plus the lateness: an alert not yet emitted at
// watermark W depends only on events at or after W-H), the offset
// committed is the newest mark before which every event is older than W-H
// (the replay position). With it, in the commit's metadata string
// ("knockwatch/1 t=<W> r=<resume>"), goes the resume position: the offset
// after the last record of the settled epochs.
//
// The next owner starts at the committed offset. The records before the
// resume position are read again only to rebuild state: they count as
// replayed, and the alerts they yield are not sent (the previous owner
// sent them). The worker stops at the resume position until the engine
// has reported it, so "yielded by the replay" is exact. From there on the
// new owner is where the previous one was, with the same state for every
// alert still to come, and goes on as it would have.
//
// On a clean handover (revoked partitions: a rebalance, SIGTERM) the old
// owner stops reading, waits until the engine reported everything it was
// sent, hands the alerts to the sinks and commits before the partition
// moves. Nothing is sent twice. Stopping an engine judges what its
// detectors still hold (its time moves to the clock); those judgments are
// premature and are not sent: the next owner makes them with every event
// (knockwatch_kafka_alerts_handed_over_total). After a crash, alerts sent
// after the crashed owner's last commit (at most commit_interval of them)
// are sent again: at least once, with the same ids and content.
//
// # One id, one content
//
// An alert id is a hash of what identifies a finding; a consumer of the
// alerts that de-duplicates by id must never see one id with two contents.
// Three things would break that, and are handled here:
//
//   - Post-processing that depends on history across sources: the
//     sensor's enrichment ("same sequence seen from N other sources") and
//     correlation into incidents look at every source's alerts, which in a
//     group are spread over instances and change with the assignment.
//     Alerts read from Kafka bypass both; their content is a function of
//     their source's own events. Incidents are made downstream, over the
//     alerts topic, where one reader sees them all (Correlator).
//   - A replay that starts too late: the replay position above is a
//     horizon back, so every alert the new owner sends is rebuilt from all
//     the events it depends on, in the same order.
//   - Findings whose id names a fact, not an event: the daemon detector's
//     inventory finding ("knockd runs on gw01") has one id per host and
//     program set, but its times and evidence say when the reader first
//     saw it. Its id is rebound here to include that first-seen time
//     (partition.rebind), so a new owner's finding has its own id.
//
// Known limits: a detector whose state outlives the horizon breaks the
// second point. The sequence detector's count of how often a source sent
// the same sequence before ("seen N time(s) before") lasts as long as the
// source stays in its table; a source repeating one knock at intervals
// shorter than the scan horizon for longer than two horizons gets a
// smaller count from a new owner, so an alert sent again after a crash (see
// above) can carry a different count and confidence under its id. State
// evicted under memory pressure (a spoofed-source flood) also differs
// between owners, and an event later than a horizon behind its
// partition's time can be judged differently by a replay. While a
// partition is caught up, an idle tick judges it with the clock; a record
// that arrives later than the lateness after that tick with an older time
// is judged as late, where a replay would put it in order.
package kafka
