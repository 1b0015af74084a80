package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KafkaConn is how to reach a Kafka cluster. The kafka input, the kafka
// sink and `knockwatch route` share it; in YAML its keys sit directly in
// the `kafka:` block.
type KafkaConn struct {
	// Brokers are the seed brokers ("kafka1:9092").
	Brokers []string `yaml:"brokers"`
	// ClientID names this client in the brokers' logs and quotas
	// (default "knockwatch").
	ClientID string `yaml:"client_id"`
	// DialTimeout bounds one connection attempt (default 10s).
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// TLS, when present, encrypts connections (an empty block uses the
	// system's CAs).
	TLS *KafkaTLS `yaml:"tls"`
	// SASL, when present, authenticates with PLAIN or SCRAM.
	SASL *KafkaSASL `yaml:"sasl"`
}

// KafkaTLS configures TLS to the brokers.
type KafkaTLS struct {
	// CAFile holds the PEM certificates that sign the brokers'
	// certificates (default: the system's CAs).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key, for
	// brokers that require mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates
	// (default: the host of each broker address).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// KafkaSASL configures SASL authentication.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password, or PasswordFile naming a file that holds it (its
	// trailing newline is ignored), so the secret need not sit in the
	// configuration.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// KafkaInput is the `kafka:` block of an input of type kafka: topics read
// by a consumer group. Each instance of the group owns whole partitions;
// with topics keyed by source address (see `knockwatch route`) it owns
// whole sources.
type KafkaInput struct {
	KafkaConn `yaml:",inline"`
	// Group is the consumer group (default "knockwatch"). Every instance
	// of one deployment uses the same group.
	Group string `yaml:"group"`
	// Topics are read with the format each names.
	Topics []KafkaTopic `yaml:"topics"`
	// StartAt is where a partition without a committed offset starts:
	// "end" (default: only new records) or "beginning".
	StartAt string `yaml:"start_at"`
	// CommitInterval is how often offsets are committed (default 1s).
	CommitInterval time.Duration `yaml:"commit_interval"`
	// SessionTimeout is how long the group waits for a silent member
	// before giving its partitions to the others (default 45s).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout bounds how long a rebalance may take, including
	// handing over revoked partitions (default 60s).
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// InstanceID makes this member static (KIP-345): a restart within
	// the session timeout gets its partitions back without a rebalance.
	// Unique per instance; empty for a dynamic member.
	InstanceID string `yaml:"instance_id"`
	// MaxPartitions is the number of partitions state.max_bytes is shared
	// among: each owned partition's detectors get state.max_bytes /
	// max_partitions (default 16). Every instance of a group must use the
	// same value, so a partition's detectors behave the same whoever owns
	// it.
	MaxPartitions int `yaml:"max_partitions"`
	// MaxTimeSkew bounds how far ahead of its record's Kafka timestamp an
	// event may be dated; later times are clamped to it (default 1m).
	MaxTimeSkew time.Duration `yaml:"max_time_skew"`
	// IdleTick is how long a partition that is caught up must be quiet
	// before its event time is moved on by the quiet time, so a knock at
	// the end of a burst is judged without waiting for the next record
	// (default: watch.idle_tick).
	IdleTick time.Duration `yaml:"idle_tick"`
}

// KafkaTopic is one topic of a kafka input.
type KafkaTopic struct {
	Name string `yaml:"name"`
	// Format is the records' format (see `knockwatch formats`; default:
	// the input's format, else syslog).
	Format string `yaml:"format"`
}

// KafkaSink is the `kafka:` block of a sink of type kafka: alerts and
// incidents produced to a topic, keyed by source address, with an
// idempotent producer.
type KafkaSink struct {
	KafkaConn `yaml:",inline"`
	// Topic receives one JSON alert per record.
	Topic string `yaml:"topic"`
	// Compression is none (default), gzip, snappy, lz4 or zstd.
	Compression string `yaml:"compression"`
	// Linger is how long records wait to fill a batch (default 0).
	Linger time.Duration `yaml:"linger"`
}

// Defaults of the kafka blocks.
const (
	DefaultKafkaGroup            = "knockwatch"
	DefaultKafkaClientID         = "knockwatch"
	DefaultKafkaDialTimeout      = 10 * time.Second
	DefaultKafkaCommitInterval   = time.Second
	DefaultKafkaSessionTimeout   = 45 * time.Second
	DefaultKafkaRebalanceTimeout = 60 * time.Second
	DefaultKafkaMaxPartitions    = 16
	DefaultKafkaMaxTimeSkew      = time.Minute
)

// WithDefaults returns c with every unset value at its default.
func (c KafkaConn) WithDefaults() KafkaConn {
	if c.ClientID == "" {
		c.ClientID = DefaultKafkaClientID
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultKafkaDialTimeout
	}
	return c
}

// WithDefaults returns k with every unset value at its default; format is
// the input's format, the default of the topics'.
func (k KafkaInput) WithDefaults(format string, idleTick time.Duration) KafkaInput {
	k.KafkaConn = k.KafkaConn.WithDefaults()
	if k.Group == "" {
		k.Group = DefaultKafkaGroup
	}
	if k.StartAt == "" {
		k.StartAt = "end"
	}
	if k.CommitInterval == 0 {
		k.CommitInterval = DefaultKafkaCommitInterval
	}
	if k.SessionTimeout == 0 {
		k.SessionTimeout = DefaultKafkaSessionTimeout
	}
	if k.RebalanceTimeout == 0 {
		k.RebalanceTimeout = DefaultKafkaRebalanceTimeout
	}
	if k.MaxPartitions == 0 {
		k.MaxPartitions = DefaultKafkaMaxPartitions
	}
	if k.MaxTimeSkew == 0 {
		k.MaxTimeSkew = DefaultKafkaMaxTimeSkew
	}
	if k.IdleTick == 0 {
		k.IdleTick = idleTick
	}
	if format == "" {
		format = "syslog"
	}
	k.Topics = append([]KafkaTopic(nil), k.Topics...)
	for i := range k.Topics {
		if k.Topics[i].Format == "" {
			k.Topics[i].Format = format
		}
	}
	return k
}

// WithDefaults returns k with every unset value at its default.
func (k KafkaSink) WithDefaults() KafkaSink {
	k.KafkaConn = k.KafkaConn.WithDefaults()
	if k.Compression == "" {
		k.Compression = "none"
	}
	return k
}

// topicRE is what Kafka accepts as a topic name (legal characters, at
// most 249 of them).
var topicRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

// kafkaNameRE is what a client id, group or instance id may look like
// here (Kafka allows more; these become log and metric values).
var kafkaNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

// ValidTopic reports whether name is a legal Kafka topic name.
func ValidTopic(name string) bool {
	return topicRE.MatchString(name) && name != "." && name != ".."
}

// Validate checks a connection block; every message starts with path
// ("watch.inputs[0].kafka"), which CheckFile turns into a line.
func (c *KafkaConn) Validate(path string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one broker address (host:port) is required")
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			bad(fmt.Sprintf("brokers[%d]", i), "%q: want host:port", b)
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			bad(fmt.Sprintf("brokers[%d]", i), "%q: bad port", b)
		}
	}
	if c.ClientID != "" && !kafkaNameRE.MatchString(c.ClientID) {
		bad("client_id", "%q: use letters, digits and ._-", c.ClientID)
	}
	if c.DialTimeout < 0 || (c.DialTimeout > 0 && c.DialTimeout < 100*time.Millisecond) {
		bad("dial_timeout", "%s: must be at least 100ms", c.DialTimeout)
	}
	if t := c.TLS; t != nil {
		for _, f := range []struct{ key, v string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if f.v != "" && !filepath.IsAbs(f.v) {
				bad("tls."+f.key, "%q: must be an absolute path", f.v)
			}
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad("tls.cert_file", "cert_file and key_file go together")
		}
	}
	if s := c.SASL; s != nil {
		switch strings.ToUpper(s.Mechanism) {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		case "":
			bad("sasl.mechanism", "required: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		default:
			bad("sasl.mechanism", "%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
		}
		if s.Username == "" {
			bad("sasl.username", "required")
		}
		switch {
		case s.Password != "" && s.PasswordFile != "":
			bad("sasl.password_file", "give password or password_file, not both")
		case s.Password == "" && s.PasswordFile == "":
			bad("sasl.password", "required (or password_file)")
		case s.PasswordFile != "" && !filepath.IsAbs(s.PasswordFile):
			bad("sasl.password_file", "%q: must be an absolute path", s.PasswordFile)
		}
	}
	return errs
}

// Validate checks an input's kafka block (path is
// "watch.inputs[N].kafka").
func (k *KafkaInput) Validate(path string) []error {
	errs := k.KafkaConn.Validate(path)
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	if k.Group != "" && !kafkaNameRE.MatchString(k.Group) {
		bad("group", "%q: use letters, digits and ._- (at most 249)", k.Group)
	}
	if len(k.Topics) == 0 {
		bad("topics", "at least one topic is required")
	}
	seen := map[string]int{}
	for i, t := range k.Topics {
		p := fmt.Sprintf("topics[%d]", i)
		if t.Name == "" {
			bad(p+".name", "required")
			continue
		}
		if !ValidTopic(t.Name) {
			bad(p+".name", "%q: not a Kafka topic name (letters, digits and ._-, at most 249)", t.Name)
		}
		if j, dup := seen[t.Name]; dup {
			bad(p+".name", "%q: also topics[%d]", t.Name, j)
		}
		seen[t.Name] = i
	}
	if k.StartAt != "" && k.StartAt != "end" && k.StartAt != "beginning" {
		bad("start_at", "%q: want beginning or end", k.StartAt)
	}
	if k.CommitInterval < 0 || (k.CommitInterval > 0 && (k.CommitInterval < 50*time.Millisecond || k.CommitInterval > time.Minute)) {
		bad("commit_interval", "%s: must be 50ms..1m", k.CommitInterval)
	}
	if k.SessionTimeout < 0 || (k.SessionTimeout > 0 && (k.SessionTimeout < 100*time.Millisecond || k.SessionTimeout > 30*time.Minute)) {
		bad("session_timeout", "%s: must be 100ms..30m", k.SessionTimeout)
	}
	if k.RebalanceTimeout < 0 || (k.RebalanceTimeout > 0 && k.RebalanceTimeout < time.Second) {
		bad("rebalance_timeout", "%s: must be at least 1s", k.RebalanceTimeout)
	}
	if k.InstanceID != "" && !kafkaNameRE.MatchString(k.InstanceID) {
		bad("instance_id", "%q: use letters, digits and ._-", k.InstanceID)
	}
	if k.MaxPartitions < 0 || k.MaxPartitions > 65536 {
		bad("max_partitions", "%d: must be 1..65536", k.MaxPartitions)
	}
	if k.MaxTimeSkew < 0 {
		bad("max_time_skew", "%s: must not be negative", k.MaxTimeSkew)
	}
	if k.IdleTick < 0 || (k.IdleTick > 0 && (k.IdleTick < 10*time.Millisecond || k.IdleTick > time.Minute)) {
		bad("idle_tick", "%s: must be 10ms..1m", k.IdleTick)
	}
	return errs
}

// Validate checks a sink's kafka block (path is "watch.sinks[N].kafka").
func (k *KafkaSink) Validate(path string) []error {
	errs := k.KafkaConn.Validate(path)
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	if k.Topic == "" {
		bad("topic", "required")
	} else if !ValidTopic(k.Topic) {
		bad("topic", "%q: not a Kafka topic name (letters, digits and ._-, at most 249)", k.Topic)
	}
	switch k.Compression {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("compression", "%q: want none, gzip, snappy, lz4 or zstd", k.Compression)
	}
	if k.Linger < 0 || k.Linger > time.Minute {
		bad("linger", "%s: must be 0..1m", k.Linger)
	}
	return errs
}

// checkFormats checks the topics' format names against the decoders.
func (k *KafkaInput) checkFormats(path string, formats FormatChecker) []error {
	var errs []error
	for j, t := range k.Topics {
		if t.Format != "" {
			if err := formats(t.Format); err != nil {
				errs = append(errs, fmt.Errorf("%s.topics[%d].format: %v", path, j, err))
			}
		}
	}
	return errs
}
