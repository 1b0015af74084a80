package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
)

func TestParseDefaultsAndOverrides(t *testing.T) {
	cfg, err := Parse([]byte("sequence:\n  max_gap: 10s\nstate:\n  max_bytes: 64MB\nallowlist:\n  admin_networks: [192.0.2.0/24, 2001:db8::/32]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sequence.MaxGap != 10*time.Second || cfg.Sequence.SettleMin != 500*time.Millisecond {
		t.Errorf("durations: %+v", cfg.Sequence)
	}
	if cfg.State.MaxBytes != 64<<20 {
		t.Errorf("max_bytes = %d", cfg.State.MaxBytes)
	}
	if len(cfg.Allowlist.AdminNetworks) != 2 || cfg.Allowlist.AdminNetworks[1].String() != "2001:db8::/32" {
		t.Errorf("admin networks: %v", cfg.Allowlist.AdminNetworks)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{"sequence:\n  max_gapp: 10s\n", "line 2"},
		{"sequence:\n  max_gap: ten\n", "line 2"},
		{"allowlist:\n  admin_networks: [10.0.0/8]\n", "10.0.0/8"},
		{"authorized_sequences:\n  - name: x\n    ports: [7000/icmp]\n", "tcp or udp"},
		{"sequence:\n  min_ports: 1\n", "min_ports"},
		{"sequence:\n  settle_min: 1m\n", "settle_min"},
		{"state:\n  max_bytes: lots\n", "lots"},
		{"authorized_sequences:\n  - ports: [7000]\n", "name is required"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to mention %q", tc.yaml, err, tc.want)
		}
	}
}

func TestPortSpec(t *testing.T) {
	for in, want := range map[string]PortSpec{
		"7000": {7000, event.ProtoTCP}, "7000/tcp": {7000, event.ProtoTCP}, "8000:udp": {8000, event.ProtoUDP}, " 9000/UDP ": {9000, event.ProtoUDP},
	} {
		got, err := ParsePortSpec(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "65536", "x", "7000/sctp"} {
		if _, err := ParsePortSpec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseKnockd(t *testing.T) {
	f, err := os.Open("testdata/knockd.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doors, err := ParseKnockd(f)
	if err != nil {
		t.Fatal(err)
	}
	auth, notes := AuthorizedFromKnockd(doors)
	if len(auth) != 4 {
		t.Fatalf("%d authorized sequences, want 4: %+v", len(auth), auth)
	}
	if got := auth[3].Ports; len(got) != 3 || got[0] != (PortSpec{2222, event.ProtoUDP}) || got[1] != (PortSpec{3333, event.ProtoTCP}) {
		t.Errorf("opencloseSSH = %v", got)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "opencloseSMTP") {
		t.Errorf("notes = %v", notes)
	}
	if _, err := ParseKnockd(strings.NewReader("[bad]\nsequence = 7000,99999\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad port: %v", err)
	}
}

func FuzzParseKnockd(f *testing.F) {
	seed, _ := os.ReadFile("testdata/knockd.conf")
	f.Add(string(seed))
	f.Add("[a]\nsequence=1,2:udp\n")
	f.Fuzz(func(t *testing.T, s string) {
		doors, err := ParseKnockd(strings.NewReader(s))
		if err != nil && !strings.HasPrefix(err.Error(), "knockd.conf:") {
			t.Fatalf("error without context: %v", err)
		}
		auth, _ := AuthorizedFromKnockd(doors)
		for _, a := range auth {
			for _, p := range a.Ports {
				if p.Port == 0 || (p.Proto != event.ProtoTCP && p.Proto != event.ProtoUDP) {
					t.Fatalf("bad port %v", p)
				}
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("sequence:\n  max_gap: 10s\n")
	f.Add("authorized_sequences:\n  - name: a\n    ports: [7000, 8000/udp]\n")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := Parse([]byte(s))
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse accepted an invalid config: %v", verr)
			}
		}
	})
}
