// Package config holds knockwatch's YAML configuration: detector thresholds,
// state caps, allowlists and authorized knock sequences. Load decodes
// strictly (an unknown key is an error naming its line) and does no I/O
// beyond reading the file; Validate checks values.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/rules"
)

// Config is the whole configuration.
type Config struct {
	Sequence   Sequence     `yaml:"sequence"`
	State      State        `yaml:"state"`
	Allowlist  Allowlist    `yaml:"allowlist"`
	Authorized []Authorized `yaml:"authorized_sequences"`
	// Rules are the magic-packet signatures; nil means the built-in set.
	// The CLI loads them from --rules, so they are not part of the YAML.
	Rules *rules.Set `yaml:"-"`
	// Watch configures the sensor (knockwatch watch); hunt ignores it.
	Watch *Watch `yaml:"watch,omitempty"`
}

// Sequence tunes the knock-sequence detector.
type Sequence struct {
	// MinPorts is the fewest distinct closed ports a candidate has.
	MinPorts int `yaml:"min_ports"`
	// MediumPorts is the fewest distinct ports for an unauthorized knock to
	// be medium on its own (shorter ones are low unless a connection follows).
	MediumPorts int `yaml:"medium_ports"`
	// MaxPorts is the most distinct ports a knock has; more is a scan.
	MaxPorts int `yaml:"max_ports"`
	// MaxGap is the longest pause between two knocks of one sequence
	// (knockd's per-door seq_timeout default is 25 s).
	MaxGap time.Duration `yaml:"max_gap"`
	// MaxSpan is the longest a whole sequence may take.
	MaxSpan time.Duration `yaml:"max_span"`
	// SettleMin is the shortest quiet time after the last knock before a
	// sequence is judged; the quiet time adapts to the knock's own pace.
	SettleMin time.Duration `yaml:"settle_min"`
	// FollowWindow is how long after the last knock a successful connection
	// from the same source to the same host counts as knock-then-connect.
	FollowWindow time.Duration `yaml:"follow_window"`
	// ScanHorizon is the period over which a source's distinct ports and
	// hosts are counted for scan-likeness.
	ScanHorizon time.Duration `yaml:"scan_horizon"`
	// ScanPorts is the number of distinct ports over ScanHorizon above which
	// a source is a scanner.
	ScanPorts int `yaml:"scan_ports"`
	// SweepHosts is the number of distinct hosts over ScanHorizon from which
	// a source counts as sweeping.
	SweepHosts int `yaml:"sweep_hosts"`
	// ScanThreshold is the scan-likeness (0..1) from which a run is a scan,
	// not a knock.
	ScanThreshold float64 `yaml:"scan_threshold"`
	// ReportScans emits one info finding per scanning source and horizon.
	ReportScans *bool `yaml:"report_scans"`
}

// State caps detector memory.
type State struct {
	// MaxBytes caps the memory of the process in a hunt or a sensor run
	// ("512MB"). Per-source tables are sized to fill part of it (see
	// detect.StateShare) and the Go runtime's soft memory limit is set just
	// below it, so a flood of spoofed sources evicts state instead of
	// growing memory.
	MaxBytes ByteSize `yaml:"max_bytes"`
}

// Allowlist names networks whose activity is expected.
type Allowlist struct {
	// AdminNetworks are sources whose knocks are the admins' own: reported
	// at low severity.
	AdminNetworks []netip.Prefix `yaml:"admin_networks"`
	// KnownScanners are sources whose attempts are scans by definition
	// (vulnerability scanners, monitoring).
	KnownScanners []netip.Prefix `yaml:"known_scanners"`
	// AdminUsers are accounts whose knock-client runs and knock-daemon
	// config edits are expected (process detector): reported at low
	// severity. Matched case-insensitively against the user, the login
	// user, and the user without its DOMAIN\ prefix.
	AdminUsers []string `yaml:"admin_users,omitempty"`
	// AdminHosts are endpoints (host names, case-insensitive; "*.suffix"
	// matches a domain) whose knock-client runs are expected: low severity.
	AdminHosts []string `yaml:"admin_hosts,omitempty"`
}

// Authorized is a knock sequence the operators use on purpose.
type Authorized struct {
	Name  string     `yaml:"name"`
	Ports []PortSpec `yaml:"ports"`
	// Targets restricts the sequence to these hosts; empty means any.
	Targets []netip.Prefix `yaml:"targets,omitempty"`
}

// PortSpec is a port with its protocol, written "7000", "7000/tcp" or
// "8000:udp" (knockd's form).
type PortSpec struct {
	Port  uint16
	Proto event.Proto
}

func (p PortSpec) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Proto) }

// ParsePortSpec reads "7000", "7000/tcp", "7000:udp".
func ParsePortSpec(s string) (PortSpec, error) {
	s = strings.TrimSpace(s)
	num, proto := s, "tcp"
	if i := strings.IndexAny(s, "/:"); i >= 0 {
		num, proto = s[:i], strings.ToLower(s[i+1:])
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return PortSpec{}, fmt.Errorf("%q: not a port (1-65535)", s)
	}
	p, ok := event.ParseProto([]byte(proto))
	if !ok || (p != event.ProtoTCP && p != event.ProtoUDP) {
		return PortSpec{}, fmt.Errorf("%q: protocol must be tcp or udp", s)
	}
	return PortSpec{Port: uint16(n), Proto: p}, nil
}

// MarshalText writes "7000/tcp".
func (p PortSpec) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a PortSpec.
func (p *PortSpec) UnmarshalText(b []byte) error {
	v, err := ParsePortSpec(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ByteSize is a size in bytes written with a unit ("512MB", "1GiB").
type ByteSize int64

// UnmarshalText reads a size.
func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText writes the size in MB.
func (b ByteSize) MarshalText() ([]byte, error) {
	return []byte(strconv.FormatInt(int64(b)>>20, 10) + "MB"), nil
}

// ParseByteSize reads "512MB", "1GiB", "65536".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: not a size (use a number with B, KB, MB or GB)", s)
	}
	return ByteSize(n * mult), nil
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		Sequence: Sequence{
			MinPorts:      2,
			MediumPorts:   3,
			MaxPorts:      16,
			MaxGap:        25 * time.Second,
			MaxSpan:       60 * time.Second,
			SettleMin:     500 * time.Millisecond,
			FollowWindow:  5 * time.Minute,
			ScanHorizon:   10 * time.Minute,
			ScanPorts:     20,
			SweepHosts:    4,
			ScanThreshold: 0.5,
		},
		State: State{MaxBytes: 512 << 20},
	}
}

// ReportScansOn reports whether scan findings are emitted (default yes).
func (s Sequence) ReportScansOn() bool { return s.ReportScans == nil || *s.ReportScans }

// Load reads a configuration file over the defaults.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML over the defaults, rejecting unknown keys, and validates.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.Load(data, &cfg, yaml.WithKnownFields()); err != nil {
			return Config{}, cleanYAMLError(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func cleanYAMLError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	return errors.New(msg)
}

// Validate checks values that decoding cannot.
func (c *Config) Validate() error {
	var errs []error
	s := &c.Sequence
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(s.MinPorts >= 2 && s.MinPorts <= 16, "sequence.min_ports: %d: must be 2..16", s.MinPorts)
	check(s.MaxPorts >= s.MinPorts && s.MaxPorts <= 16, "sequence.max_ports: %d: must be min_ports..16", s.MaxPorts)
	check(s.MediumPorts >= s.MinPorts && s.MediumPorts <= s.MaxPorts, "sequence.medium_ports: %d: must be min_ports..max_ports", s.MediumPorts)
	check(s.MaxGap > 0, "sequence.max_gap: must be positive")
	check(s.MaxSpan >= s.MaxGap, "sequence.max_span: must be at least max_gap")
	check(s.SettleMin > 0 && s.SettleMin <= s.MaxGap, "sequence.settle_min: must be positive and at most max_gap")
	check(s.FollowWindow > 0, "sequence.follow_window: must be positive")
	check(s.ScanHorizon >= s.MaxSpan, "sequence.scan_horizon: must be at least max_span")
	check(s.ScanPorts > s.MaxPorts, "sequence.scan_ports: %d: must exceed max_ports", s.ScanPorts)
	check(s.SweepHosts >= 2, "sequence.sweep_hosts: %d: must be at least 2", s.SweepHosts)
	check(s.ScanThreshold > 0 && s.ScanThreshold <= 1, "sequence.scan_threshold: %v: must be in (0, 1]", s.ScanThreshold)
	check(c.State.MaxBytes >= 1<<20, "state.max_bytes: %d: must be at least 1MB", c.State.MaxBytes)
	for i, a := range c.Authorized {
		check(a.Name != "", "authorized_sequences[%d]: name is required", i)
		check(len(a.Ports) >= 1 && len(a.Ports) <= 32, "authorized_sequences[%d] (%s): ports: want 1..32 ports", i, a.Name)
	}
	if c.Watch != nil {
		errs = append(errs, c.Watch.validate()...)
	}
	return errors.Join(errs...)
}
