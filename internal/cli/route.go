package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/kafka"
)

// kafkaFlags are the connection flags of the commands that talk to Kafka
// themselves (route, correlate).
type kafkaFlags struct {
	brokers, clientID                         string
	tls, tlsInsecure                          bool
	tlsCA, tlsCert, tlsKey, tlsServerName     string
	saslMechanism, saslUser, saslPasswordFile string
}

func (f *kafkaFlags) register(fl *pflag.FlagSet, clientID string) {
	fl.StringVar(&f.brokers, "brokers", "", "seed brokers, comma-separated host:port (required)")
	fl.StringVar(&f.clientID, "client-id", clientID, "Kafka client id")
	fl.BoolVar(&f.tls, "tls", false, "connect with TLS (the system's CAs unless --tls-ca)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "PEM file of the CAs that sign the brokers' certificates (implies --tls)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM client certificate for mutual TLS (implies --tls)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM key of --tls-cert")
	fl.StringVar(&f.tlsServerName, "tls-server-name", "", "name expected in the brokers' certificates")
	fl.BoolVar(&f.tlsInsecure, "tls-insecure-skip-verify", false, "accept any broker certificate (tests only)")
	fl.StringVar(&f.saslMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fl.StringVar(&f.saslUser, "sasl-user", "", "SASL user name")
	fl.StringVar(&f.saslPasswordFile, "sasl-password-file", "", "file holding the SASL password (else $KNOCKWATCH_KAFKA_PASSWORD)")
}

// routeFlags are knockwatch route's flags.
type routeFlags struct {
	kafkaFlags
	from, to, group, format, tz, startAt string
	noSourceKey                          string
	noSourcePartition                    int32
	dropUnmatched                        bool
	metricsListen, logLevel              string
}

func newRouteCmd(s Streams) *cobra.Command {
	var f routeFlags
	cmd := &cobra.Command{
		Use:   "route --brokers HOST:PORT --from TOPIC --to TOPIC",
		Short: "Re-key an unkeyed Kafka topic (raw syslog from a collector) by source address",
		Long: `route reads an unkeyed topic, where a collector (Vector, Fluent Bit, rsyslog's
omkafka) writes raw log lines, and produces every record unchanged to a topic keyed
by source address, so the instances of "knockwatch watch" reading that topic as one
consumer group each own whole sources. Upstream collectors need no change.

Each record is decoded with the format's decoder (the same as hunt and watch) only
to find the key of its first event: the source address, written canonically
(198.51.100.7, never ::ffff:198.51.100.7); for a knock daemon's lines the host
("host:gw01"), as the sensor keeps a host's daemon lines together; the destination
when there is no source. Keys are hashed with Kafka's murmur2 partitioner, as Kafka's
Java client does; librdkafka producers must be told partitioner=murmur2_random to
agree (see docs/deploy-kafka.md).

Records whose events name no address go to one key (--no-source-key, default
"unkeyed") or one partition (--no-source-partition). Records that decode to no event
(other programs' lines, decode errors) are forwarded without a key, spread over the
partitions, so the sensors still count them; --drop-unmatched drops them instead.

Offsets of the unkeyed topic are committed only once the copies are acknowledged:
at least once (after a crash a few records may be copied twice). SIGTERM or Ctrl-C
stops it after committing what was routed.`,
		Example: `  knockwatch route --brokers kafka1:9092 --from syslog-raw --to knockwatch-keyed
  knockwatch route --brokers kafka1:9093 --tls --sasl-mechanism SCRAM-SHA-512 \
    --sasl-user knockwatch --sasl-password-file /etc/knockwatch/kafka.pass \
    --from syslog-raw --to knockwatch-keyed --metrics-listen 127.0.0.1:9751`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRoute(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	f.kafkaFlags.register(fl, "knockwatch-route")
	fl.StringVar(&f.from, "from", "", "the unkeyed topic to read (required)")
	fl.StringVar(&f.to, "to", "", "the keyed topic to produce to (required)")
	fl.StringVar(&f.group, "group", "knockwatch-route", "consumer group of the router's instances")
	fl.StringVar(&f.format, "format", "syslog", "format of the records (see `knockwatch formats`)")
	fl.StringVar(&f.tz, "tz", "Local", "time zone of timestamps that carry none (IANA name)")
	fl.StringVar(&f.startAt, "start-at", "end", "where a partition without a committed offset starts: end or beginning")
	fl.StringVar(&f.noSourceKey, "no-source-key", "unkeyed", "key of records whose events name no address")
	fl.Int32Var(&f.noSourcePartition, "no-source-partition", -1, "send records whose events name no address to this partition instead of hashing --no-source-key")
	fl.BoolVar(&f.dropUnmatched, "drop-unmatched", false, "drop records that decode to no event instead of forwarding them unkeyed")
	fl.StringVar(&f.metricsListen, "metrics-listen", "off", "address serving Prometheus /metrics (e.g. 127.0.0.1:9751), or off")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	for _, name := range []string{"brokers", "from", "to"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// conn builds and checks the connection block the flags describe.
func (f kafkaFlags) conn() (config.KafkaConn, error) {
	c := config.KafkaConn{ClientID: f.clientID}
	for _, b := range strings.Split(f.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if f.tls || f.tlsCA != "" || f.tlsCert != "" || f.tlsInsecure {
		c.TLS = &config.KafkaTLS{CAFile: f.tlsCA, CertFile: f.tlsCert, KeyFile: f.tlsKey, ServerName: f.tlsServerName, InsecureSkipVerify: f.tlsInsecure}
	}
	if f.saslMechanism != "" {
		c.SASL = &config.KafkaSASL{Mechanism: f.saslMechanism, Username: f.saslUser, PasswordFile: f.saslPasswordFile}
		if f.saslPasswordFile == "" {
			c.SASL.Password = os.Getenv("KNOCKWATCH_KAFKA_PASSWORD")
		}
	}
	var msgs []string
	for _, err := range c.Validate("kafka") {
		msgs = append(msgs, err.Error())
	}
	if len(msgs) > 0 {
		return c, errors.New(strings.Join(msgs, "; "))
	}
	return c, nil
}

// kafkaSetup checks what route and correlate share (the log level, the
// connection, the two topics and the start position) and makes the
// logger; its errors are usage errors prefixed with the command's name.
func kafkaSetup(name string, s Streams, f kafkaFlags, logLevel, from, to, startAt string) (*slog.Logger, config.KafkaConn, error) {
	fail := func(format string, args ...any) error {
		return &exitError{code: ExitError, err: fmt.Errorf(name+": "+format, args...)}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, config.KafkaConn{}, fail("--log-level: %v", err)
	}
	conn, err := f.conn()
	if err != nil {
		return nil, conn, fail("%v", err)
	}
	for _, t := range []struct{ flag, v string }{{"--from", from}, {"--to", to}} {
		if !config.ValidTopic(t.v) {
			return nil, conn, fail("%s %q: not a Kafka topic name", t.flag, t.v)
		}
	}
	if startAt != "end" && startAt != "beginning" {
		return nil, conn, fail("--start-at %q: want end or beginning", startAt)
	}
	return slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: lvl})), conn, nil
}

func runRoute(ctx context.Context, s Streams, f routeFlags) error {
	fail := func(format string, args ...any) error {
		return &exitError{code: ExitError, err: fmt.Errorf("route: "+format, args...)}
	}
	log, conn, err := kafkaSetup("route", s, f.kafkaFlags, f.logLevel, f.from, f.to, f.startAt)
	if err != nil {
		return err
	}
	format, err := decode.Lookup(f.format)
	if err != nil {
		return fail("--format: %v", err)
	}
	loc, err := time.LoadLocation(f.tz)
	if err != nil {
		return fail("--tz: %v", err)
	}
	r, err := kafka.NewRouter(kafka.RouterOptions{
		Conn: conn, From: f.from, To: f.to, Group: f.group, StartAt: f.startAt,
		Format: format, Location: loc, NoSourceKey: f.noSourceKey, NoSourcePartition: f.noSourcePartition,
		DropUnmatched: f.dropUnmatched, Logger: log,
	})
	if err != nil {
		return &exitError{code: ExitError, err: err}
	}
	log.Info("routing", "from", f.from, "to", f.to, "group", f.group, "format", format.Name)
	if err := runService(ctx, "route", f.metricsListen, log, r.Collector(), r.Run); err != nil {
		return err
	}
	st := r.Stats()
	log.Info("stopped", "keyed", st.Keyed, "no_source", st.NoSource, "unmatched", st.Unmatched, "dropped", st.Dropped, "produced", st.Produced)
	return nil
}
