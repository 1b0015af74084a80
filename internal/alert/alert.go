// Package alert defines what knockwatch reports: an Alert per detected knock
// (or SPA, magic packet, daemon or process finding), and the helpers that
// make alert ids deterministic, so a replayed hunt or a redelivered Kafka
// record yields the same id for the same finding.
package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Severity orders findings by how urgently a person should look.
type Severity uint8

// Severities, lowest first.
const (
	SeverityInfo Severity = iota + 1
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"", "info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) && s > 0 {
		return severityNames[s]
	}
	return "unknown"
}

// ParseSeverity reads a severity name.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if i > 0 && strings.EqualFold(n, s) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", s)
}

// MarshalText renders the severity name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Technique ids from MITRE ATT&CK.
const (
	TechniqueTrafficSignaling = "T1205"
	TechniquePortKnocking     = "T1205.001"
	TechniqueSocketFilters    = "T1205.002"
	TechniqueNetworkDiscovery = "T1046"
)

// Knock is one element of a knock sequence.
type Knock struct {
	Port  uint16 `json:"port"`
	Proto string `json:"proto"`
	// OffsetMS is the time since the first knock, in milliseconds.
	OffsetMS float64 `json:"offset_ms"`
}

// Connection is the successful connection that followed a knock.
type Connection struct {
	Time  time.Time `json:"time"`
	Port  uint16    `json:"port"`
	Proto string    `json:"proto"`
	// DelayMS is the time from the last knock to the connection.
	DelayMS  float64 `json:"delay_ms"`
	Evidence string  `json:"evidence,omitempty"`
}

// Alert is one finding. Fields follow the contract; where Elastic
// Common Schema has a name for a concept the JSON uses it in a nested object
// only when the flat name would be ambiguous.
type Alert struct {
	ID string `json:"id"`
	// Kind is "alert" for detector findings and "incident" for correlated groups.
	Kind       string    `json:"kind"`
	Time       time.Time `json:"time"`
	Detector   string    `json:"detector"`
	Technique  string    `json:"technique"`
	Severity   Severity  `json:"severity"`
	Confidence float64   `json:"confidence"`
	Reasons    []string  `json:"reasons"`
	Summary    string    `json:"summary"`

	Src netip.Addr `json:"src,omitzero"`
	Dst netip.Addr `json:"dst,omitzero"`
	// Host is the host that logged the finding, where it differs from Dst
	// (a daemon's syslog host name, an endpoint's name).
	Host string `json:"host,omitempty"`

	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`

	Sequence   []Knock     `json:"sequence,omitempty"`
	FollowedBy *Connection `json:"followed_by,omitempty"`
	Authorized bool        `json:"authorized"`
	// AuthorizedAs names the configured sequence the knock matched.
	AuthorizedAs string `json:"authorized_as,omitempty"`
	// Supersedes is the id of an earlier alert for the same knock that this
	// one completes (more knocks, or the connection that followed).
	Supersedes string `json:"supersedes,omitempty"`

	// Attributes holds detector-specific facts (door name, command, rule).
	Attributes map[string]string `json:"attributes,omitempty"`

	// Members lists the alert ids an incident joins.
	Members []string `json:"members,omitempty"`
	// Incident is, on an alert joined into an incident, the incident's id.
	Incident string `json:"incident,omitempty"`
	// Timeline is an incident's story in time order, one entry per step
	// its members show (client run, knock, daemon, rule, connection).
	Timeline []TimelineEntry `json:"timeline,omitempty"`
	// MemberAlerts are an incident's members in full, so a hunt prints one
	// incident rather than its members beside it (package correlate).
	MemberAlerts []*Alert `json:"member_alerts,omitempty"`

	Evidence []string `json:"evidence"`
	// EvidenceTotal counts all evidence records, of which Evidence holds the
	// first few.
	EvidenceTotal int `json:"evidence_total"`
}

// TimelineEntry is one step of an incident.
type TimelineEntry struct {
	Time     time.Time `json:"time"`
	Detector string    `json:"detector"`
	Summary  string    `json:"summary"`
	AlertID  string    `json:"alert_id"`
}

// MaxEvidence caps the origins an alert carries.
const MaxEvidence = 32

// IDOf derives a deterministic id from the parts that identify a finding.
func IDOf(detector string, src, dst netip.Addr, first time.Time, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(detector))
	h.Write([]byte{0})
	b, _ := src.MarshalBinary()
	h.Write(b)
	h.Write([]byte{0})
	b, _ = dst.MarshalBinary()
	h.Write(b)
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(first.UnixNano()))
	h.Write(t[:])
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:10])
}

// SequenceString renders a sequence as "7000/tcp,8000/tcp,9000/udp".
func SequenceString(seq []Knock) string {
	var b strings.Builder
	for i, k := range seq {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d/%s", k.Port, k.Proto)
	}
	return b.String()
}

// Encode writes the alert as one JSON line.
func (a *Alert) Encode() ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	return append(b, '\n'), nil
}
