package emulate

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/rules"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		want    string // proto/port list
		wantErr string
	}{
		{in: "7000,8000,9000/udp", want: "tcp/7000 tcp/8000 udp/9000"},
		{in: "2222:udp,3333:tcp,4444:udp", want: "udp/2222 tcp/3333 udp/4444"},
		{in: " 7000 , 8000/TCP ", want: "tcp/7000 tcp/8000"},
		{in: "0", wantErr: "want 1-65535"},
		{in: "70000", wantErr: "want 1-65535"},
		{in: "7000/icmp", wantErr: "tcp or udp"},
		{in: ",", wantErr: "no ports"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePorts(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, p := range got {
				parts = append(parts, string(p.Proto)+"/"+strconv.Itoa(int(p.Port)))
				if p.Proto == UDP && !bytes.Equal(p.Payload, []byte{0}) {
					t.Errorf("UDP hit payload % x, want one NUL byte (the knock client's)", p.Payload)
				}
				if p.Proto == TCP && len(p.Payload) != 0 {
					t.Errorf("TCP hit with payload")
				}
			}
			if s := strings.Join(parts, " "); s != tc.want {
				t.Fatalf("got %s, want %s", s, tc.want)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	got, err := ParseRange("1-3,8080")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != 1 || got[2] != 3 || got[3] != 8080 {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"5-1", "0-3", "1-70000", "1-2000", "x"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestSPAPayloadShape checks the properties formats.md §2.2 gives for a
// Rijndael-mode SPA payload with an HMAC-SHA256.
func TestSPAPayloadShape(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p, err := SPAPayload(spaCipherBlocks)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 225 {
			t.Fatalf("length %d, want 225 (a typical access request)", len(p))
		}
		if !strings.ContainsRune("89+/", rune(p[0])) {
			t.Fatalf("first character %q: Rijndael mode always starts with 8, 9, + or /", p[0])
		}
		for _, c := range p {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
				t.Fatalf("character %q outside unpadded base64", c)
			}
		}
		n := len(p) - spaHMACBase64Len + spaStripped
		if n%4 == 1 || (n*3/4)%16 != 0 || n*3/4 < 32 {
			t.Fatalf("length %d does not fit salt+ciphertext in whole AES blocks (n=%d)", len(p), n)
		}
		if bytes.HasPrefix(p, []byte("U2FsdGVkX1")) {
			t.Fatal("payload keeps the Salted__ prefix fwknopd rejects")
		}
		seen[string(p)] = true
	}
	if len(seen) != 200 {
		t.Fatalf("payloads repeat: %d distinct of 200", len(seen))
	}
	if _, err := SPAPayload(1); err == nil {
		t.Error("1 block accepted")
	}
}

func TestValidate(t *testing.T) {
	lo := DefaultTarget
	many, _ := ParseRange("1-1024")
	big, err := Scan(lo, many, MaxRate)
	if err != nil {
		t.Fatal(err)
	}
	big.Probes = append(big.Probes, Probe{Proto: TCP, Port: 1, Wait: time.Second})
	fast := Knock(lo, []Probe{{Proto: TCP, Port: 1}, {Proto: TCP, Port: 2}}, 0)
	fast.Probes[1].Wait = 0
	tests := []struct {
		name string
		plan *Plan
		want string
	}{
		{"too many packets", big, "more than the limit"},
		{"too fast", fast, "faster than"},
		{"multicast", Knock(netip.MustParseAddr("224.0.0.1"), []Probe{{Proto: TCP, Port: 1}}, 0), "not a single host"},
		{"broadcast", Knock(netip.MustParseAddr("255.255.255.255"), []Probe{{Proto: TCP, Port: 1}}, 0), "not a single host"},
		{"unspecified", Knock(netip.MustParseAddr("0.0.0.0"), []Probe{{Proto: TCP, Port: 1}}, 0), "not a single host"},
		{"no target", &Plan{Probes: []Probe{{Proto: TCP, Port: 1}}}, "no target"},
		{"empty", &Plan{Target: lo}, "nothing to send"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.plan.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Scan(lo, many[:10], MaxRate+1); err == nil {
		t.Error("rate above MaxRate accepted")
	}
	ok := Knock(lo, []Probe{{Proto: TCP, Port: 7000}, {Proto: UDP, Port: 9000, Payload: []byte{0}}}, 0)
	if err := ok.Validate(); err != nil {
		t.Fatalf("a default knock does not validate: %v", err)
	}
	if ok.Probes[1].Wait != MinGap {
		t.Errorf("zero delay became %s, want the %s floor", ok.Probes[1].Wait, MinGap)
	}
}

func TestDescribe(t *testing.T) {
	ports, _ := ParsePorts("7000,8000,9000/udp")
	var b bytes.Buffer
	if err := Knock(netip.MustParseAddr("203.0.113.10"), ports, 500*time.Millisecond).Describe(&b); err != nil {
		t.Fatal(err)
	}
	want := `emulate knock: 3 packet(s) to 203.0.113.10 (dry run: nothing sent)
    1  +0s        TCP 203.0.113.10:7000  SYN (connect, then close at once)  # knock 1 of 3
    2  +500ms     TCP 203.0.113.10:8000  SYN (connect, then close at once)  # knock 2 of 3
    3  +1s        UDP 203.0.113.10:9000  payload 1 bytes 00  # knock 3 of 3
`
	if b.String() != want {
		t.Fatalf("dry run:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestMagicEveryBuiltinRule: a plan exists for every built-in rule, each
// probe matches its rule (Magic checks that itself; this checks it again),
// and payload fields a backdoor would act on are harmless.
func TestMagicEveryBuiltinRule(t *testing.T) {
	set, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range set.Rules {
		t.Run(r.Name, func(t *testing.T) {
			target := netip.MustParseAddr("203.0.113.10")
			if r.Match.Proto == event.ProtoICMPv6 {
				target = netip.MustParseAddr("2001:db8::10")
			}
			p, err := Magic(r, target, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, pr := range p.Probes {
				if !r.Matches(probeEvent(target, pr)) {
					t.Fatalf("probe to port %d does not match", pr.Port)
				}
			}
			for _, x := range r.Extract {
				if x.Type == "ipv4" && x.Offset+4 <= len(p.Probes[0].Payload) {
					if ip := p.Probes[0].Payload[x.Offset : x.Offset+4]; !bytes.Equal(ip, []byte{0, 0, 0, 0}) && !bytes.Equal(ip, []byte{127, 0, 0, 1}) {
						t.Errorf("%s carries connect-back address % x: want 0.0.0.0 or loopback", x.Name, ip)
					}
				}
			}
		})
	}
	if _, err := Magic(set.Rules[0], netip.MustParseAddr("2001:db8::10"), 0); err == nil && set.Rules[0].Match.Proto != event.ProtoICMPv6 {
		t.Error("an IPv4 rule accepted an IPv6 target")
	}
}
