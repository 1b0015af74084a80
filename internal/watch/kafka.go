package watch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/kafka"
	"github.com/knockwatch/knockwatch/internal/sink"
)

// kafkaInput reads a kafka input's topics as a member of its consumer
// group (package kafka). Its alerts go straight to the sinks: not through
// post's ordering, enrichment, correlation and delivered journal. In a
// group each alert's content must be a function of its source's own
// records, whichever instance reads them (enrichment and correlation look
// across sources, and the journal is per instance); the committed offsets
// and their metadata take the journal's place (see package kafka).
func (s *Sensor) kafkaInput(in *input, loc *time.Location) error {
	c := in.cfg
	cons, err := kafka.NewConsumer(kafka.Options{
		Name: c.Name, Config: s.cfg, Kafka: *c.Kafka, Location: loc,
		Lateness: s.w.Lateness, ReportTick: s.w.IdleTick,
		Output: kafkaOutput{s}, Logger: s.log, Stats: in.stats, Replayed: &in.replayed,
	})
	if err != nil {
		return fmt.Errorf("watch: input %s: %w", c.Name, err)
	}
	s.kafka = append(s.kafka, cons)
	var ran atomic.Bool
	in.run = func(ctx context.Context) error {
		if ran.Swap(true) {
			// A consumer is not run twice; it ended because its client
			// was closed.
			<-ctx.Done()
			return nil
		}
		err := cons.Run(ctx)
		if err == nil && ctx.Err() == nil {
			err = errors.New("kafka client closed")
		}
		return err
	}
	return nil
}

// kafkaOutput hands a consumer's alerts to every sink.
type kafkaOutput struct{ s *Sensor }

func (o kafkaOutput) Submit(a *alert.Alert, done func()) {
	if o.s.sm != nil {
		o.s.sm.Alert(a)
	}
	left := int32(len(o.s.delivers))
	if left == 0 {
		done()
		return
	}
	for _, d := range o.s.delivers {
		d.Submit(a, func() {
			if atomic.AddInt32(&left, -1) == 0 {
				done()
			}
		})
	}
}

func (o kafkaOutput) Sync() error {
	for _, d := range o.s.delivers {
		if err := d.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// kafkaSink makes a sink of type kafka.
func (s *Sensor) kafkaSink(sc config.WatchSink) (sink.Sink, error) {
	k, err := kafka.NewSink(*sc.Kafka, sc.Timeout)
	if err != nil {
		return nil, fmt.Errorf("watch: sink %s: %w", sc.Name, err)
	}
	return k, nil
}
