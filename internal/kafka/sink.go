package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/sink"
)

// Sink produces alerts and incidents to a topic, one JSON object per
// record (the alert as the jsonl sink writes it, without the newline),
// keyed by the finding's source address (AlertKey) with Kafka's murmur2
// partitioner, so one source's findings stay in order on one partition.
// The producer is idempotent (franz-go's default, with acks=all): a retry
// inside the client does not write a record twice. A record can still be
// written twice when the sensor sends an alert again (a replay after a
// takeover); alert ids make that harmless to a consumer that
// de-duplicates by id (the "id" header carries it).
type Sink struct {
	cl      *kgo.Client
	topic   string
	timeout time.Duration
}

var _ sink.Sink = (*Sink)(nil)

// NewSink makes a Kafka sink; timeout bounds one Write (the sensor's sink
// timeout). Nothing is contacted until the first Write.
func NewSink(cfg config.KafkaSink, timeout time.Duration, extra ...kgo.Opt) (*Sink, error) {
	cfg = cfg.WithDefaults()
	opts, err := ClientOpts(cfg.KafkaConn)
	if err != nil {
		return nil, err
	}
	var codec kgo.CompressionCodec
	switch cfg.Compression {
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		codec = kgo.NoCompression()
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	timeout = max(timeout, time.Second) // franz-go's least delivery timeout
	opts = append(opts,
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2 for keyed records, as Kafka's Java client
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		// A Write that times out is retried by the sensor's deliverer
		// (from its spool): the client must give up first.
		kgo.RecordDeliveryTimeout(timeout),
	)
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: %w", err)
	}
	return &Sink{cl: cl, topic: cfg.Topic, timeout: timeout}, nil
}

// Write produces one alert and waits for the brokers to acknowledge it.
func (s *Sink) Write(a *alert.Alert) error {
	rec, err := alertRecord(a)
	if err != nil {
		return &sink.ErrRejected{Err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout+time.Second)
	defer cancel()
	if err := s.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
			errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.CorruptMessage) {
			return &sink.ErrRejected{Err: fmt.Errorf("kafka sink %s: %w", s.topic, err)}
		}
		return fmt.Errorf("kafka sink %s: %w", s.topic, err)
	}
	return nil
}

// Close flushes what is buffered and closes the client.
func (s *Sink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	err := s.cl.Flush(ctx)
	s.cl.Close()
	return err
}

// alertRecord is the record of an alert or incident in a topic: the alert
// as the jsonl sink writes it (without the newline), keyed by AlertKey,
// with its id, kind and detector as headers so a consumer can
// de-duplicate and route without parsing it.
func alertRecord(a *alert.Alert) (*kgo.Record, error) {
	b, err := a.Encode()
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Key:   AlertKey(a),
		Value: b[:len(b)-1],
		Headers: []kgo.RecordHeader{
			{Key: "id", Value: []byte(a.ID)},
			{Key: "kind", Value: []byte(a.Kind)},
			{Key: "detector", Value: []byte(a.Detector)},
		},
		// The record's timestamp is the time it is produced (not the
		// alert's event time: an alert from last week's logs would fall
		// to retention at once).
	}, nil
}
