package detect_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/decode"
	"github.com/knockwatch/knockwatch/internal/detect"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/packet/packettest"
)

// realPayloads reads the payloads the fwknop client built
// (testdata/spa/README.md).
func realPayloads(t testing.TB) (payloads, options []string) {
	t.Helper()
	f, err := os.Open("testdata/spa/fwknop-payloads.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	opt := ""
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "# fwknop -") {
			opt = strings.TrimPrefix(l, "# ")
			continue
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		payloads, options = append(payloads, l), append(options, opt)
	}
	if len(payloads) < 20 {
		t.Fatalf("only %d payloads in testdata", len(payloads))
	}
	return payloads, options
}

// formatsExample is the constructed payload of formats.md 2.2 (225 bytes).
const formatsExample = "9b4jcteBbUU89tWGpaazasagF2PbOayDptxjpBURcR5CvnORivPbX1738ESbc6KmV84yM2vybf3MQ4EozoWfgSW/8aogqAWDFlikYO7puznbhiXXp4dV8j6LyfnzQ71zbOtY1YONYKagk0JFtii7R01Pms4XGd7xeRCzzYh7oMfhJuNTEuWypuENJgzBZzx49rRQ3kUBdVWTaJ089Blyfn+0ou/scDuxw"

func TestAnalyzeSPARealPayloads(t *testing.T) {
	payloads, options := realPayloads(t)
	for i, p := range payloads {
		f, ok := detect.AnalyzeSPA(event.ProtoUDP, []byte(p))
		if !ok {
			t.Errorf("payload %d (%s, %d bytes, %q...) not recognised: %+v", i, options[i], len(p), p[:10], f)
			continue
		}
		if f.Mode != "rijndael" {
			t.Errorf("payload %d: mode %s", i, f.Mode)
		}
		want := "none"
		if strings.Contains(options[i], "--use-hmac") {
			want = "sha256"
			if _, d, ok := strings.Cut(options[i], "--hmac-digest-type "); ok {
				want = map[string]string{"sha3_256": "sha256", "sha3_512": "sha512"}[d]
				if want == "" {
					want = d
				}
			}
		}
		if !strings.Contains(f.HMAC, want) {
			t.Errorf("payload %d (%s): hmac %q, want it to include %s", i, options[i], f.HMAC, want)
		}
	}
}

func TestAnalyzeSPA(t *testing.T) {
	real, _ := realPayloads(t)
	httpPath := strings.NewReplacer("+", "-", "/", "_").Replace(real[0])
	english := strings.Repeat("ThequickbrownfoxjumpsoverthelazydogWhilethecatsleeps", 5)[:225]
	tests := []struct {
		name  string
		proto event.Proto
		p     string
		ok    bool
		mode  string
	}{
		{"formats.md example", event.ProtoUDP, formatsExample, true, "rijndael"},
		{"real client payload", event.ProtoUDP, real[0], true, "rijndael"},
		{"over tcp", event.ProtoTCP, real[1], true, "rijndael"},
		{"in an icmp echo reply", event.ProtoICMP, real[2], true, "rijndael"},
		{"fwknop -P http", event.ProtoTCP, "GET /" + httpPath + " HTTP/1.1\r\nUser-Agent: Fwknop/2.6.10\r\nAccept: */*\r\nHost: 203.0.113.10\r\nConnection: close\r\n\r\n", true, "rijndael"},
		{"with = padding", event.ProtoUDP, real[0][:224] + "=", false, ""},
		{"too short", event.ProtoUDP, real[0][:139], false, ""},
		{"too long", event.ProtoUDP, strings.Repeat(real[0], 7), false, ""},
		{"wrong first character", event.ProtoUDP, "A" + real[0][1:], false, ""},
		{"length fits no encoding", event.ProtoUDP, real[0][:221], false, ""},
		{"still carries Salted__", event.ProtoUDP, "U2FsdGVkX1" + real[0][:215], false, ""},
		{"low entropy text", event.ProtoUDP, "8" + english[1:], false, ""},
		{"newline inside", event.ProtoUDP, real[0][:100] + "\n" + real[0][101:], false, ""},
		{"gnupg shape", event.ProtoUDP, "hQ" + strings.Repeat(real[0][2:], 3)[:420], false, ""},
		{"gnupg mode (derived)", event.ProtoUDP, "H" + strings.Repeat(real[0][1:]+real[1][1:], 2)[:440], true, "gnupg"},
	}
	for _, tc := range tests {
		f, ok := detect.AnalyzeSPA(tc.proto, []byte(tc.p))
		if ok != tc.ok || (ok && f.Mode != tc.mode) {
			t.Errorf("%s: ok=%v mode=%s (%+v), want %v %s", tc.name, ok, f.Mode, f, tc.ok, tc.mode)
		}
	}
}

// TestAnalyzeSPARandomBase64: random base64 strings of valid lengths pass
// only when their first character is one of fwknop's four, about 1 in 16.
func TestAnalyzeSPARandomBase64(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	seed := uint64(1)
	next := func() uint64 { seed = seed*6364136223846793005 + 1442695040888963407; return seed >> 33 }
	pass := 0
	const n = 4000
	for range n {
		b := make([]byte, 140+next()%300)
		for i := range b {
			b[i] = alphabet[next()%64]
		}
		if _, ok := detect.AnalyzeSPA(event.ProtoUDP, b); ok {
			pass++
		}
	}
	if rate := float64(pass) / n; rate > 0.06 {
		t.Errorf("%.1f%% of random base64 strings pass, want under 6%%", rate*100)
	}
}

func spaDetector(c *collector) *detect.SPA {
	return detect.NewSPA(config.Default(), 1, detect.Deps{Emit: c.emit})
}

func TestSPADetector(t *testing.T) {
	real, _ := realPayloads(t)
	spa := func(when int, src string, sport uint16, payload string) packettest.Packet {
		return packettest.Packet{Time: ms(when), Src: src, Dst: victim, Proto: "udp", SrcPort: sport, DstPort: 62201, Payload: []byte(payload)}
	}
	ssh := func(when int, src string) []packettest.Packet {
		syn := packettest.Packet{Time: ms(when), Src: src, Dst: victim, Proto: "tcp", SrcPort: 50022, DstPort: 22, Flags: "S", Seq: 1, Window: 64240, DF: true, Options: packettest.LinuxSYNOptions()}
		synack := packettest.Packet{Time: ms(when + 1), Src: victim, Dst: src, Proto: "tcp", SrcPort: 22, DstPort: 50022, Flags: "SA", Ack: 2, Window: 65160, DF: true}
		return []packettest.Packet{syn, synack}
	}
	t.Run("knock then connect", func(t *testing.T) {
		pkts := append([]packettest.Packet{spa(0, attacker, 40000, real[0])}, ssh(1500, attacker)...)
		var c collector
		runDetector(spaDetector(&c), packetsToEvents(t, pkts))
		got := c.by("spa")
		if len(got) != 2 {
			t.Fatalf("%d alerts, want the packet and its follow-up", len(got))
		}
		first, followed := got[0], got[1]
		if first.Severity != alert.SeverityMedium || first.Confidence < 0.7 || !strings.Contains(first.Attributes["hmac"], "sha256") || first.Attributes["port"] != "62201/udp" {
			t.Errorf("first alert %s %.2f %v", first.Severity, first.Confidence, first.Attributes)
		}
		if followed.Supersedes != first.ID || followed.FollowedBy == nil || followed.FollowedBy.Port != 22 || followed.Severity != alert.SeverityHigh || followed.Confidence <= first.Confidence {
			t.Errorf("follow-up %+v", followed)
		}
		if len(first.Evidence) != 1 || first.Evidence[0] != "input0:1" {
			t.Errorf("evidence %v", first.Evidence)
		}
	})
	t.Run("any port, no connection", func(t *testing.T) {
		p := spa(0, attacker, 40000, real[3])
		p.DstPort = 443
		var c collector
		runDetector(spaDetector(&c), packetsToEvents(t, []packettest.Packet{p}))
		got := c.by("spa")
		if len(got) != 1 || got[0].Severity != alert.SeverityMedium || got[0].FollowedBy != nil {
			t.Fatalf("alerts %v", got)
		}
		if strings.Contains(strings.Join(got[0].Reasons, ";"), "default port") {
			t.Errorf("443 is not fwknop's default port: %v", got[0].Reasons)
		}
	})
	t.Run("replay from another source", func(t *testing.T) {
		pkts := []packettest.Packet{spa(0, attacker, 40000, real[4]), spa(60_000, "192.0.2.66", 41000, real[4])}
		var c collector
		runDetector(spaDetector(&c), packetsToEvents(t, pkts))
		got := c.by("spa")
		if len(got) != 2 {
			t.Fatalf("%d alerts", len(got))
		}
		if got[1].Attributes["replay_of"] != got[0].ID || got[1].Severity != alert.SeverityHigh || got[1].Src.String() != "192.0.2.66" {
			t.Fatalf("replay alert %+v", got[1])
		}
	})
	t.Run("replay across shards is joined after the hunt", func(t *testing.T) {
		// Two detectors stand for two shards; SPAReplays joins them.
		var c1, c2 collector
		runDetector(spaDetector(&c1), packetsToEvents(t, []packettest.Packet{spa(0, attacker, 40000, real[5])}))
		runDetector(spaDetector(&c2), packetsToEvents(t, []packettest.Packet{spa(5000, "192.0.2.66", 41000, real[5])}))
		all := append(c1.by("spa"), c2.by("spa")...)
		detect.SPAReplays(all)
		if all[0].Attributes["replay_of"] != "" || all[1].Attributes["replay_of"] != all[0].ID {
			t.Fatalf("after SPAReplays: %v / %v", all[0].Attributes, all[1].Attributes)
		}
		// The same pair seen by one shard gives the same alert.
		var one collector
		runDetector(spaDetector(&one), packetsToEvents(t, []packettest.Packet{spa(0, attacker, 40000, real[5]), spa(5000, "192.0.2.66", 41000, real[5])}))
		same := one.by("spa")
		if len(same) != 2 || same[1].ID != all[1].ID || same[1].Summary != all[1].Summary || same[1].Severity != all[1].Severity {
			t.Fatalf("one shard %+v\ntwo shards %+v", same[1], all[1])
		}
	})
	t.Run("not SPA", func(t *testing.T) {
		var c collector
		pkts := []packettest.Packet{
			spa(0, attacker, 40000, strings.Repeat("A", 225)),
			{Src: attacker, Dst: victim, Proto: "udp", SrcPort: 1, DstPort: 62201, Payload: []byte("hello")},
		}
		runDetector(spaDetector(&c), packetsToEvents(t, pkts))
		if got := c.by("spa"); len(got) != 0 {
			t.Fatalf("alerts %v", got)
		}
	})
}

// TestSPAFromLog: psad's fwknop_spa_pkt line (peer data) is a UDP datagram
// to 62201 whose UDP LEN=169 gives a 161-byte payload: an SPA candidate at
// low severity, never a scan.
func TestSPAFromLog(t *testing.T) {
	data, err := os.ReadFile("../../../shared/peer-data/psad-scans/iptables/fwknop_spa_pkt")
	if err != nil {
		t.Skipf("peer data not available: %v", err)
	}
	format, err := decode.Lookup("syslog")
	if err != nil {
		t.Fatal(err)
	}
	dec := format.New(decode.Options{Year: 2025, Location: time.UTC})
	var evs []event.Event
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		evs, err = dec.Decode([]byte(line), event.Origin{Index: uint64(i + 1)}, evs)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(evs) != 1 || evs[0].PayloadLen != 161 || evs[0].DstPort != 62201 {
		t.Fatalf("decoded %+v", evs)
	}
	var c collector
	for _, d := range []detect.Detector{spaDetector(&c), detect.NewSequence(config.Default(), 1, detect.Deps{Emit: c.emit}), detect.NewMagic(config.Default(), 1, detect.Deps{Emit: c.emit})} {
		runDetector(d, evs)
	}
	if len(c.alerts) != 1 {
		t.Fatalf("alerts %v", c.alerts)
	}
	a := c.alerts[0]
	if a.Detector != "spa" || a.Severity != alert.SeverityLow || a.Confidence > 0.4 || a.Attributes["payload_len"] != "161" {
		t.Fatalf("alert %+v", a)
	}
	// The same size to another port is nothing.
	evs[0].DstPort = 5353
	var none collector
	runDetector(spaDetector(&none), evs)
	if len(none.alerts) != 0 {
		t.Fatalf("alerts for 5353/udp: %v", none.alerts)
	}
}

func BenchmarkAnalyzeSPA(b *testing.B) {
	p := []byte(formatsExample)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, ok := detect.AnalyzeSPA(event.ProtoUDP, p); !ok {
			b.Fatal("not recognised")
		}
	}
}
