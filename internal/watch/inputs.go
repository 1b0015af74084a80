package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/engine"
	"github.com/knockwatch/knockwatch/internal/metrics"
	"github.com/knockwatch/knockwatch/internal/packet"
	"github.com/knockwatch/knockwatch/internal/rules"
	"github.com/knockwatch/knockwatch/internal/source"
	"github.com/knockwatch/knockwatch/internal/stats"
)

// input is one configured input and how to run it.
type input struct {
	cfg      config.WatchInput
	id       uint32
	stats    *stats.Run
	replayed atomic.Int64
	metrics  metrics.Input
	tracker  *tracker
	listener *source.SyslogListener
	// run reads until ctx is done (nil) or fails (an error: supervise
	// starts it again).
	run func(ctx context.Context) error
	// cleanup runs once the input stopped for good.
	cleanup func()
	failing atomic.Bool
}

// laneEmitter feeds an engine lane from a source.
type laneEmitter struct{ lane *engine.Lane }

func (e laneEmitter) Emit(ctx context.Context, b *source.Batch, mark any, caughtUp bool) error {
	return e.lane.Send(ctx, engine.LiveBatch{Batch: b, Mark: mark, CaughtUp: caughtUp})
}

func (e laneEmitter) Close() { e.lane.Close() }

func (s *Sensor) newInput(c config.WatchInput) (*input, error) {
	in := &input{cfg: c, stats: stats.New()}
	in.metrics = metrics.Input{Name: c.Name, Stats: in.stats, Replayed: &in.replayed}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("watch: input %s: %w", c.Name, err)
	}
	var format decode.Format
	sniff := false
	if c.Format != "" {
		if format, err = decode.Lookup(c.Format); err != nil {
			return nil, fmt.Errorf("watch: input %s: %w", c.Name, err)
		}
	} else {
		// Sniffed from the first lines; syslog if nothing matches.
		format, _ = decode.Lookup("syslog")
		sniff = true
	}
	switch c.Type {
	case config.InputFile:
		s.fileInput(in, format, sniff, loc)
	case config.InputSyslog:
		if err := s.syslogInput(in, format, loc); err != nil {
			return nil, err
		}
	case config.InputJournald:
		s.journalInput(in, format, loc)
	case config.InputCapture:
		s.captureInput(in)
	case config.InputKafka:
		if err := s.kafkaInput(in, loc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("watch: input %s: unknown type %q", c.Name, c.Type)
	}
	return in, nil
}

// supervise runs an input, starting it again after a failure with a
// growing pause, until ctx is done.
func (s *Sensor) supervise(ctx context.Context, in *input) {
	defer func() {
		if in.cleanup != nil {
			in.cleanup()
		}
	}()
	backoff := time.Second
	for {
		started := time.Now()
		err := in.run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("ended")
		}
		in.failing.Store(true)
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		s.log.Error("input failed; starting it again", "input", in.cfg.Name, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// fileInput follows a file, resuming at its saved positions.
func (s *Sensor) fileInput(in *input, format decode.Format, sniff bool, loc *time.Location) {
	c := in.cfg
	in.id = s.origins.Add(c.Path, false)
	in.tracker = &tracker{name: c.Name}
	var start, until source.Position
	if p, ok := s.pos.Inputs[c.Name]; ok && p.Kind == config.InputFile && filepath.Clean(p.Path) == filepath.Clean(c.Path) && p.Replay != nil && p.Resume != nil {
		start, until = *p.Replay, *p.Resume
		in.tracker.seed(start, until)
	}
	fstats := &source.FollowStats{}
	in.metrics.Follow = fstats
	ref := time.Now()
	if st, err := os.Stat(c.Path); err == nil {
		ref = st.ModTime()
	}
	dec := source.NewLiveDecoder(source.LiveDecoderOptions{
		Name: c.Path, Format: format, Sniff: sniff, Stats: in.stats, Replayed: &in.replayed,
		Decode: decode.Options{Input: in.id, Location: loc, Reference: ref},
	})
	lane := s.live.OpenBacklogLane(c.Name)
	s.trackers.Store(lane, in.tracker)
	in.cleanup = lane.Close
	first := true
	in.run = func(ctx context.Context) error {
		opts := source.FollowOptions{
			Path: c.Path, FromStart: c.StartAt == "beginning", Neighbours: *c.Neighbours,
			PollInterval: c.PollInterval, MaxLine: int(c.MaxLine), Logger: s.log.With("input", c.Name),
			Stats: fstats,
		}
		if first {
			opts.Start, opts.ReplayUntil = start, until
			first = false
		} else if _, resume := in.tracker.positions(); resume != nil {
			// Started again after a failure: go on where it stopped.
			opts.Start = resume.(source.Position)
		}
		fw := source.NewFollower(opts)
		ectx := context.WithoutCancel(ctx)
		err := fw.Run(ctx, func(ch source.Chunk) error {
			if len(ch.Head) > 0 {
				dec.Prime(ch.Head)
			}
			var b *source.Batch
			if len(ch.Data) > 0 || len(ch.TooLong) > 0 {
				b = source.NewBatch()
				b.Events = dec.DecodeLines(ch.Data, ch.FirstLine, ch.TooLong, ch.Replay, b.Events)
			}
			in.failing.Store(false)
			var mark any
			if !ch.End.IsZero() {
				mark = ch.End
			}
			return lane.Send(ectx, engine.LiveBatch{Batch: b, Mark: mark, CaughtUp: ch.CaughtUp})
		})
		if err != nil {
			// Failing: do not hold the other inputs back meanwhile.
			lane.Send(ectx, engine.LiveBatch{CaughtUp: true})
		}
		return err
	}
}

// syslogInput binds the listener now (so a port in use fails the start).
func (s *Sensor) syslogInput(in *input, format decode.Format, loc *time.Location) error {
	c := in.cfg
	in.id = s.origins.Add(c.Name, false)
	udp, tcp := false, false
	for _, p := range c.Protocols {
		udp = udp || p == "udp"
		tcp = tcp || p == "tcp"
	}
	l, err := source.ListenSyslog(source.SyslogOptions{
		Name: c.Name, Listen: c.Listen, UDP: udp, TCP: tcp,
		MaxMessage: int(c.MaxMessage), MaxConns: c.MaxConnections, MaxConnsPerSource: c.MaxConnectionsPerSource,
		IdleTimeout: c.IdleTimeout, FrameTimeout: c.FrameTimeout,
		Format: format, Decode: decode.Options{Input: in.id, Location: loc}, Stats: in.stats,
		Lanes:  func(name string) source.Emitter { return laneEmitter{s.live.OpenLane(name)} },
		Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("watch: input %s: %w", c.Name, err)
	}
	in.listener = l
	in.metrics.Listener = &l.Stats
	in.metrics.UDPDrops = l.UDPDrops
	ran := false
	in.run = func(ctx context.Context) error {
		if ran {
			// The sockets are closed when Run returns; a listener is not
			// started twice.
			<-ctx.Done()
			return nil
		}
		ran = true
		return l.Run(ctx)
	}
	return nil
}

// journalInput follows the journal through journalctl.
func (s *Sensor) journalInput(in *input, format decode.Format, loc *time.Location) {
	c := in.cfg
	in.id = s.origins.Add(c.Name, false)
	in.tracker = &tracker{name: c.Name}
	var start, until source.JournalPos
	if p, ok := s.pos.Inputs[c.Name]; ok && p.Kind == config.InputJournald && p.JReply != nil && p.JResum != nil {
		start, until = *p.JReply, *p.JResum
		in.tracker.seed(start, until)
	}
	dec := source.NewLiveDecoder(source.LiveDecoderOptions{
		Name: c.Name, Format: format, Stats: in.stats, Replayed: &in.replayed,
		Decode: decode.Options{Input: in.id, Location: loc},
	})
	jf := source.NewJournalFollower(source.JournalOptions{
		Journalctl: c.Journalctl, Matches: c.Matches, Kernel: c.Kernel,
		Start: start, ReplayUntil: until, Logger: s.log.With("input", c.Name),
	})
	var restarts atomic.Int64
	in.metrics.Restarts = restarts.Load
	in.run = func(ctx context.Context) error {
		lane := s.live.OpenBacklogLane(c.Name)
		s.trackers.Store(lane, in.tracker)
		defer lane.Close()
		ectx := context.WithoutCancel(ctx)
		err := jf.Run(ctx, func(ch source.JournalChunk) error {
			var b *source.Batch
			if len(ch.Data) > 0 || len(ch.TooLong) > 0 {
				b = source.NewBatch()
				b.Events = dec.DecodeLines(ch.Data, ch.FirstLine, ch.TooLong, ch.Replay, b.Events)
			}
			if prev := restarts.Swap(jf.Restarts); jf.Restarts > prev && b == nil {
				in.failing.Store(true) // journalctl ended; /readyz says so
			}
			var mark any
			if ch.End.Cursor != "" {
				mark = ch.End
			}
			if b != nil {
				in.failing.Store(false)
			}
			return lane.Send(ectx, engine.LiveBatch{Batch: b, Mark: mark, CaughtUp: ch.CaughtUp})
		})
		return err
	}
}

// captureInput reads packets from an interface (AF_PACKET; the capture
// itself is package source's live capture).
func (s *Sensor) captureInput(in *input) {
	c := in.cfg
	in.id = s.origins.Add(c.Interface, true)
	var live atomic.Pointer[source.LiveCapture]
	in.metrics.Capture = func() (uint64, uint64, bool) {
		lc := live.Load()
		if lc == nil {
			return 0, 0, false
		}
		st := lc.Stats()
		return st.Packets, st.Drops, true
	}
	in.run = func(ctx context.Context) error {
		out, err := source.ParseOutgoing(c.Outgoing)
		if err != nil {
			return err
		}
		rs := s.cfg.Rules
		if rs == nil {
			if rs, err = rules.Builtin(); err != nil {
				return err
			}
		}
		opts := source.LiveOptions{
			Interface: c.Interface, Outgoing: out, Promiscuous: c.Promiscuous, RingMB: c.RingMB,
			Capture: source.CaptureOptions{Interest: packet.NewInterest(rs.Prefilter(), true)},
			Input:   in.id, Stats: in.stats,
		}
		if c.BPF != "" {
			if opts.BPF, err = source.ParseBPF(c.BPF); err != nil {
				return fmt.Errorf("bpf: %w", err)
			}
		}
		lc, err := source.NewLiveCapture(ctx, opts)
		if err != nil {
			return err
		}
		live.Store(lc)
		in.failing.Store(false)
		lane := s.live.OpenLane(c.Name)
		defer lane.Close()
		ectx := context.WithoutCancel(ctx)
		for {
			b, err := lc.Next()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if err := lane.Send(ectx, engine.LiveBatch{Batch: b, CaughtUp: true}); err != nil {
				return err
			}
		}
	}
}
