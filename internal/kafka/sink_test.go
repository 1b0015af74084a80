package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/sink"
)

func testAlerts() []*alert.Alert {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	src := netip.MustParseAddr("::ffff:198.51.100.7")
	dst := netip.MustParseAddr("203.0.113.10")
	a := &alert.Alert{Kind: "alert", Time: t0, Detector: "sequence", Technique: alert.TechniquePortKnocking, Severity: alert.SeverityMedium,
		Confidence: 0.7, Src: src, Dst: dst, FirstSeen: t0, LastSeen: t0, Summary: "knock", Evidence: []string{"fw/3@42"}, EvidenceTotal: 1}
	a.ID = alert.IDOf("sequence", src, dst, t0, "7000/tcp")
	inc := &alert.Alert{Kind: "incident", Time: t0, Detector: "correlate", Severity: alert.SeverityHigh, Host: "gw01", Members: []string{a.ID}, Summary: "incident"}
	inc.ID = alert.IDOf("correlate", netip.Addr{}, netip.Addr{}, t0, "gw01")
	anon := &alert.Alert{Kind: "alert", Time: t0, Detector: "process", Severity: alert.SeverityLow, Summary: "no address"}
	anon.ID = alert.IDOf("process", netip.Addr{}, netip.Addr{}, t0)
	return []*alert.Alert{a, inc, anon}
}

// TestSink: alerts and incidents go to the topic as the jsonl sink writes
// them, keyed by canonical source address (else host, else no key), on
// the murmur2 partition of their key, with their id in a header, from an
// idempotent producer.
func TestSink(t *testing.T) {
	c := newCluster(t, 1, 12, "alerts")
	k, err := NewSink(config.KafkaSink{KafkaConn: config.KafkaConn{Brokers: c.ListenAddrs()}, Topic: "alerts", Compression: "zstd"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := testAlerts()
	for _, a := range append(want, want[0]) { // a redelivery: same id, same record value
		if err := k.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, c, "alerts")
	part := routePartitioner{fixed: -1}.ForTopic("alerts")
	got := map[string]int{}
	for p, rs := range recs {
		for _, r := range rs {
			var a alert.Alert
			if err := json.Unmarshal(r.Value, &a); err != nil {
				t.Fatalf("value is not an alert: %v: %s", err, r.Value)
			}
			got[a.ID]++
			var hid string
			for _, h := range r.Headers {
				if h.Key == "id" {
					hid = string(h.Value)
				}
			}
			if hid != a.ID {
				t.Errorf("id header %q, alert id %s", hid, a.ID)
			}
			enc, _ := a.Encode()
			if string(enc[:len(enc)-1]) != string(r.Value) {
				t.Errorf("value is not the jsonl encoding:\n%s\n%s", r.Value, enc)
			}
			switch a.Kind {
			case "alert":
				if a.Src.IsValid() && string(r.Key) != "198.51.100.7" {
					t.Errorf("key %q for src %s", r.Key, a.Src)
				}
				if !a.Src.IsValid() && r.Key != nil {
					t.Errorf("key %q for an alert without source or host", r.Key)
				}
			case "incident":
				if string(r.Key) != "host:gw01" {
					t.Errorf("incident key %q", r.Key)
				}
			}
			// Idempotent: the batch carries the producer id that
			// brokers de-duplicate retries by.
			if r.ProducerID < 0 {
				t.Errorf("record written without a producer id: not idempotent")
			}
			if r.Key != nil && int32(part.Partition(&kgo.Record{Key: r.Key}, 12)) != p {
				t.Errorf("key %q on partition %d", r.Key, p)
			}
		}
	}
	if got[want[0].ID] != 2 || got[want[1].ID] != 1 || got[want[2].ID] != 1 {
		t.Errorf("records by id: %v", got)
	}
}

// TestSinkRejects: a record the brokers refuse for good (too large) is an
// ErrRejected, so the deliverer counts it instead of retrying forever; an
// unreachable cluster is an error to retry.
func TestSinkRejects(t *testing.T) {
	c := newCluster(t, 1, 1, "alerts")
	k, err := NewSink(config.KafkaSink{KafkaConn: config.KafkaConn{Brokers: c.ListenAddrs()}, Topic: "alerts"}, 3*time.Second, kgo.ProducerBatchMaxBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	big := testAlerts()[0]
	big.Reasons = []string{string(make([]byte, 4096))}
	var rej *sink.ErrRejected
	if err := k.Write(big); err == nil || !errorsAs(err, &rej) {
		t.Errorf("too large: %v, want ErrRejected", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	k2, err := NewSink(config.KafkaSink{KafkaConn: config.KafkaConn{Brokers: []string{dead}}, Topic: "alerts"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if err := k2.Write(testAlerts()[0]); err == nil || errorsAs(err, &rej) {
		t.Errorf("unreachable: %v, want an error to retry", err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key;
// the certificate is its own CA.
func selfSigned(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca
}

// TestTLSAndSASL: the kafka sink, the consumer and the router reach a
// cluster that requires TLS and SASL, with each mechanism operators use
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), the password read from a file;
// a wrong password or an untrusted certificate fails.
func TestTLSAndSASL(t *testing.T) {
	dir := t.TempDir()
	cert, ca := selfSigned(t, dir)
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "fw", "alerts"),
				kfake.EnableSASL(), kfake.Superuser(mech, "knockwatch", "s3cret"),
				kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
				kfake.GroupMinSessionTimeout(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			conn := config.KafkaConn{Brokers: c.ListenAddrs(), TLS: &config.KafkaTLS{CAFile: ca},
				SASL: &config.KafkaSASL{Mechanism: mech, Username: "knockwatch", PasswordFile: pass}}
			if errs := conn.Validate("kafka"); len(errs) > 0 {
				t.Fatal(errs)
			}
			k, err := NewSink(config.KafkaSink{KafkaConn: conn, Topic: "alerts"}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Write(testAlerts()[0]); err != nil {
				t.Fatalf("sink over TLS+SASL: %v", err)
			}
			k.Close()

			// The consumer reads a knock written over the same connection.
			opts, err := ClientOpts(conn)
			if err != nil {
				t.Fatal(err)
			}
			prod, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("fw"))...)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			var recs []*kgo.Record
			for i, p := range []int{7013, 8091, 9039} {
				recs = append(recs, &kgo.Record{Value: []byte(nfLine(t0.Add(time.Duration(i)*200*time.Millisecond), "DROP", "198.51.100.7", "203.0.113.10", "TCP", 40000, p)), Key: []byte("198.51.100.7")})
			}
			recs = append(recs, &kgo.Record{Value: []byte(nfLine(t0.Add(time.Hour), "ACCEPT", "198.51.100.8", "203.0.113.10", "TCP", 40000, 443)), Key: []byte("198.51.100.7")})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			k2 := config.KafkaInput{KafkaConn: conn, Group: "kw", StartAt: "beginning", SessionTimeout: time.Second, Topics: []config.KafkaTopic{{Name: "fw"}}}.WithDefaults("syslog", 0)
			out := newCapture()
			cons, err := NewConsumer(Options{Name: "kafka", Config: testConfig(), Kafka: k2, Location: time.UTC, Lateness: testLateness, ReportTick: 50 * time.Millisecond, Output: out, Logger: testLogger(t, "kw")})
			if err != nil {
				t.Fatal(err)
			}
			rctx, rcancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- cons.Run(rctx) }()
			waitFor(t, 30*time.Second, "the knock's alert", func() bool { return out.count() > 0 })
			rcancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			// Wrong password; untrusted certificate.
			bad := conn
			bad.SASL = &config.KafkaSASL{Mechanism: mech, Username: "knockwatch", Password: "wrong"}
			kb, _ := NewSink(config.KafkaSink{KafkaConn: bad, Topic: "alerts"}, time.Second)
			if err := kb.Write(testAlerts()[0]); err == nil {
				t.Error("a wrong password was accepted")
			}
			kb.Close()
			untrusted := conn
			untrusted.TLS = &config.KafkaTLS{}
			ku, _ := NewSink(config.KafkaSink{KafkaConn: untrusted, Topic: "alerts"}, time.Second)
			if err := ku.Write(testAlerts()[0]); err == nil {
				t.Error("a certificate no CA signed was accepted")
			}
			ku.Close()
		})
	}
}
