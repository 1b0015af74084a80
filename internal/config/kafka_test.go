package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const kafkaDoc = `watch:
  idle_tick: 200ms
  inputs:
    - name: firewalls
      type: kafka
      timezone: UTC
      kafka:
        brokers: [kafka1:9093, kafka2:9093]
        group: knockwatch-prod
        topics:
          - name: knockwatch-keyed
          - name: zeek-keyed
            format: zeek-conn-json
        start_at: beginning
        max_partitions: 24
        tls:
          ca_file: /etc/knockwatch/kafka-ca.pem
        sasl:
          mechanism: SCRAM-SHA-512
          username: knockwatch
          password_file: /etc/knockwatch/kafka.pass
  sinks:
    - name: alerts
      type: kafka
      kafka:
        brokers: [kafka1:9093]
        topic: knockwatch-alerts
        compression: zstd
        tls: {}
`

func TestKafkaConfig(t *testing.T) {
	cfg, probs := Check([]byte(kafkaDoc), func(name string) error {
		if name != "syslog" && name != "zeek-conn-json" {
			return fmt.Errorf("unknown format %q", name)
		}
		return nil
	})
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	w := cfg.Watch.WithDefaults()
	in := w.Inputs[0]
	k := in.Kafka
	if in.Name != "firewalls" || k.Group != "knockwatch-prod" || k.StartAt != "beginning" || k.MaxPartitions != 24 {
		t.Errorf("input %+v %+v", in, k)
	}
	if k.Topics[0].Format != "syslog" || k.Topics[1].Format != "zeek-conn-json" {
		t.Errorf("topic formats %+v", k.Topics)
	}
	if k.CommitInterval != DefaultKafkaCommitInterval || k.SessionTimeout != DefaultKafkaSessionTimeout || k.IdleTick != 200*time.Millisecond ||
		k.ClientID != DefaultKafkaClientID || k.MaxTimeSkew != DefaultKafkaMaxTimeSkew {
		t.Errorf("defaults %+v", k)
	}
	if k.SASL == nil || k.SASL.Mechanism != "SCRAM-SHA-512" || k.TLS == nil || k.TLS.CAFile == "" {
		t.Errorf("security %+v %+v", k.SASL, k.TLS)
	}
	s := w.Sinks[0]
	if s.Kafka.Topic != "knockwatch-alerts" || s.Kafka.Compression != "zstd" || s.Kafka.TLS == nil {
		t.Errorf("sink %+v", s.Kafka)
	}
	// A kafka input without a group is named after the default group.
	cfg, probs = Check([]byte("watch:\n  inputs:\n    - type: kafka\n      kafka: {brokers: ['k:9092'], topics: [{name: t}]}\n"), nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if in := cfg.Watch.WithDefaults().Inputs[0]; in.Name != "kafka:knockwatch" || in.Kafka.Topics[0].Format != "syslog" || in.Kafka.StartAt != "end" {
		t.Errorf("defaults %+v %+v", in, in.Kafka)
	}
}

// TestKafkaConfigErrors: every mistake is reported with its line.
func TestKafkaConfigErrors(t *testing.T) {
	doc := `watch:
  inputs:
    - type: kafka
      path: /var/log/kern.log
      kafka:
        brokers: [kafka1, 'kafka2:99999']
        group: "no spaces"
        topics:
          - name: a/b
          - name: ok
            format: nope
          - name: ok
        start_at: middle
        commit_interval: 1ms
        sasl:
          mechanism: GSSAPI
          password: x
          password_file: /p
        tls:
          cert_file: /c.pem
          ca_file: relative.pem
        bogus: 1
    - type: kafka
  sinks:
    - type: kafka
      url: http://x
      kafka:
        brokers: []
        topic: "bad topic"
        compression: brotli
        linger: 2m
    - type: kafka
`
	want := map[int]string{
		4:  "watch.inputs[0].path: only for inputs of type file",
		6:  "watch.inputs[0].kafka.brokers[0]: \"kafka1\": want host:port",
		7:  "watch.inputs[0].kafka.group",
		9:  "watch.inputs[0].kafka.topics[0].name",
		11: "watch.inputs[0].kafka.topics[1].format: unknown format \"nope\"",
		12: "watch.inputs[0].kafka.topics[2].name: \"ok\": also topics[1]",
		13: "watch.inputs[0].kafka.start_at",
		14: "watch.inputs[0].kafka.commit_interval",
		16: "watch.inputs[0].kafka.sasl.mechanism",
		18: "watch.inputs[0].kafka.sasl.password_file: give password or password_file",
		20: "watch.inputs[0].kafka.tls.cert_file: cert_file and key_file go together",
		21: "watch.inputs[0].kafka.tls.ca_file",
		22: "field bogus not found",
		23: "watch.inputs[1].kafka: required",
		26: "watch.sinks[0].url: only for sinks of type webhook",
		28: "watch.sinks[0].kafka.brokers: at least one broker",
		29: "watch.sinks[0].kafka.topic",
		30: "watch.sinks[0].kafka.compression",
		31: "watch.sinks[0].kafka.linger",
		32: "watch.sinks[1].kafka: required",
	}
	_, probs := Check([]byte(doc), func(name string) error {
		if name != "syslog" {
			return fmt.Errorf("unknown format %q", name)
		}
		return nil
	})
	got := map[int][]string{}
	for _, p := range probs {
		got[p.Line] = append(got[p.Line], p.Msg)
	}
	for line, frag := range want {
		found := false
		for _, m := range got[line] {
			found = found || strings.Contains(m, frag)
		}
		if !found {
			t.Errorf("line %d: no error mentioning %q (got %q)", line, frag, got[line])
		}
	}
	// The second broker's port is out of range too (same line as the first).
	if !strings.Contains(strings.Join(got[6], "\n"), `brokers[1]: "kafka2:99999": bad port`) {
		t.Errorf("line 6: %q", got[6])
	}
}

func TestValidTopic(t *testing.T) {
	for name, ok := range map[string]bool{"knockwatch-keyed": true, "a.b_c-9": true, "": false, ".": false, "..": false, "a b": false, "a/b": false, strings.Repeat("x", 249): true, strings.Repeat("x", 250): false} {
		if ValidTopic(name) != ok {
			t.Errorf("ValidTopic(%q) = %v", name, !ok)
		}
	}
}

// FuzzKafkaConfig: a configuration with kafka blocks never makes the
// checker fail, and what it accepts validates and has its defaults.
func FuzzKafkaConfig(f *testing.F) {
	f.Add([]byte(kafkaDoc))
	f.Add([]byte("watch:\n  inputs:\n    - type: kafka\n      kafka: {brokers: ['k:9092'], topics: [{name: t}]}\n"))
	f.Add([]byte("watch:\n  inputs:\n    - type: kafka\n      kafka: {brokers: ['[::1]:9092'], topics: [{name: t, format: syslog}], sasl: {mechanism: plain, username: u, password: p}}\n  sinks: [{type: kafka, kafka: {brokers: ['k:1'], topic: a}}]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 1<<14 {
			return
		}
		cfg, probs := Check(doc, func(string) error { return nil })
		if len(probs) > 0 || cfg.Watch == nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted but invalid: %v", err)
		}
		w := cfg.Watch.WithDefaults()
		for _, in := range w.Inputs {
			if in.Type != InputKafka {
				continue
			}
			k := in.Kafka
			if len(k.Brokers) == 0 || len(k.Topics) == 0 || k.Group == "" || k.MaxPartitions <= 0 || k.CommitInterval <= 0 {
				t.Fatalf("accepted kafka input without its essentials: %+v", k)
			}
			for _, tp := range k.Topics {
				if !ValidTopic(tp.Name) || tp.Format == "" {
					t.Fatalf("topic %+v", tp)
				}
			}
		}
	})
}

func TestExampleKafkaConfigChecks(t *testing.T) {
	cfg, err := CheckFile("../../examples/watch-kafka.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watch.WithDefaults()
	if w.Inputs[0].Type != InputKafka || w.Sinks[0].Type != SinkKafka || w.Inputs[0].Kafka.MaxPartitions != 24 {
		t.Errorf("example: %+v", w)
	}
}
