package detect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
)

// This file reads the command lines of knock clients and packet crafters
// the way each program's own option parser would (formats.md 1.8, 2.6, 5.5
// and the tools' manuals), so "-s 80" is hping3's source port and "-S" its
// SYN flag, and an operand is never mistaken for an option value.

// optVal is one parsed option: its canonical name (a short letter, or the
// long name when there is no short one) and its value.
type optVal struct {
	name string
	val  string
}

// optSpec describes a program's options for getopt-style parsing.
type optSpec struct {
	// shortArg lists the short options that take a value (attached, as in
	// "-d500", or as the next word).
	shortArg string
	// longArg lists the long options (without "--") that take a value.
	longArg map[string]bool
	// alias maps long names to their short letter.
	alias map[string]string
	// posix stops option parsing at the first operand (sudo, timeout);
	// otherwise options and operands mix (GNU getopt_long).
	posix bool
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// getopt walks args (argv without argv[0]) and returns the options in
// order and the operands.
func getopt(args []string, spec *optSpec) (opts []optVal, operands []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return opts, append(operands, args[i+1:]...)
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, val, hasEq := strings.Cut(a[2:], "=")
			if !hasEq && spec.longArg[name] && i+1 < len(args) {
				val = args[i+1]
				i++
			}
			if s, ok := spec.alias[name]; ok {
				name = s
			}
			opts = append(opts, optVal{name, val})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				c := a[j : j+1]
				if strings.Contains(spec.shortArg, c) {
					v := a[j+1:]
					if v == "" && i+1 < len(args) {
						v = args[i+1]
						i++
					}
					opts = append(opts, optVal{c, v})
					break
				}
				opts = append(opts, optVal{c, ""})
			}
		default:
			if spec.posix {
				return opts, append(operands, args[i:]...)
			}
			operands = append(operands, a)
		}
	}
	return opts, operands
}

func has(opts []optVal, names ...string) bool {
	for _, o := range opts {
		for _, n := range names {
			if o.name == n {
				return true
			}
		}
	}
	return false
}

// value returns the last value of an option (the one a program keeps).
func value(opts []optVal, names ...string) (string, bool) {
	v, ok := "", false
	for _, o := range opts {
		for _, n := range names {
			if o.name == n {
				v, ok = o.val, true
			}
		}
	}
	return v, ok
}

// probe is one packet (or connection attempt) a command sends.
type probe struct {
	port  uint16
	proto string
	// key tells ICMP probes apart (type, code and size), which have no
	// port.
	key uint32
}

// clientRun is what a knock client or packet crafter invocation does.
type clientRun struct {
	tool   string
	target string
	probes []probe
	// delay is the pause between probes the command asks for (knock -d,
	// nping --delay), 0 if none.
	delay time.Duration
	// single: one probe of a tool run once per port (hping3 -c 1, nc,
	// telnet, nmap --max-retries 0, /dev/tcp); the detector joins the
	// probes of successive runs into one knock.
	single bool
	// confidence of the run being a knock, before what the detector adds.
	confidence float64
	reasons    []string
	attrs      map[string]string
	// technique overrides T1205.001 (a crafted payload is T1205).
	technique string
	// payload: hping3 sending a file or signature, a magic-packet sender.
	payload bool
}

func (r *clientRun) attr(k, v string) {
	if r.attrs == nil {
		r.attrs = map[string]string{}
	}
	r.attrs[k] = v
}

// --- knock (jvinet/knock knock.c; formats.md 1.8) ---

var knockSpec = optSpec{
	shortArg: "d",
	longArg:  set("delay"),
	alias:    map[string]string{"udp": "u", "delay": "d", "ipv4": "4", "ipv6": "6", "verbose": "v", "version": "V", "help": "h"},
}

// parseKnock reads `knock [-u] [-d ms] [-4|-6] [-v] HOST PORT[:PROTO]...`.
// Every port suffix other than "udp" means TCP, as in knock.c.
func parseKnock(args []string) *clientRun {
	opts, ops := getopt(args, &knockSpec)
	if has(opts, "h", "V") || len(ops) < 2 {
		return nil
	}
	r := &clientRun{tool: "knock", target: ops[0], confidence: 0.9}
	udp := has(opts, "u")
	for _, a := range ops[1:] {
		num, suffix, _ := strings.Cut(a, ":")
		port, ok := parsePort(num)
		if !ok {
			continue
		}
		proto := "tcp"
		if udp || suffix == "udp" {
			proto = "udp"
		}
		r.probes = append(r.probes, probe{port: port, proto: proto})
	}
	if len(r.probes) == 0 {
		return nil
	}
	if v, ok := value(opts, "d"); ok {
		if ms, err := strconv.Atoi(v); err == nil && ms > 0 {
			r.delay = time.Duration(ms) * time.Millisecond
			r.attr("delay_ms", v)
		}
	}
	switch {
	case has(opts, "4"):
		r.attr("family", "ipv4")
	case has(opts, "6"):
		r.attr("family", "ipv6")
	}
	r.reasons = append(r.reasons, "knock client run with "+strconv.Itoa(len(r.probes))+" port(s)")
	return r
}

// --- fwknop (mrash/fwknop client/cmd_opts.h; formats.md 2.6) ---

var fwknopSpec = optSpec{
	shortArg: "aABCDEfGHKmMnNpPQSuUw",
	longArg: set("allow-ip", "access", "save-packet", "server-cmd", "destination", "save-args-file", "fw-timeout",
		"get-key", "http-proxy", "key-gen-file", "digest-type", "encryption-mode", "named-config", "nat-access",
		"server-port", "server-proto", "spoof-source", "spoof-src", "source-port", "user-agent", "spoof-user",
		"wget-cmd", "rc-file", "key-base64-rijndael", "key-base64-hmac", "key-rijndael", "key-hmac",
		"hmac-digest-type", "gpg-home-dir", "gpg-recipient", "gpg-signer", "gpg-exe", "resolve-url", "fd",
		"time-offset-plus", "time-offset-minus", "nat-port", "icmp-type", "icmp-code", "key-len", "hmac-key-len",
		"gpg-signing-pw", "gpg-recipient-key"),
	alias: map[string]string{"allow-ip": "a", "access": "A", "save-packet": "B", "server-cmd": "C", "destination": "D",
		"fw-timeout": "f", "get-key": "G", "http-proxy": "H", "key-gen-file": "K", "digest-type": "m",
		"encryption-mode": "M", "named-config": "n", "nat-access": "N", "server-port": "p", "server-proto": "P",
		"spoof-source": "Q", "spoof-src": "Q", "source-port": "S", "user-agent": "u", "spoof-user": "U", "wget-cmd": "w",
		"source-ip": "s", "resolve-ip-https": "R", "rand-port": "r", "test": "T", "key-gen": "k", "help": "h",
		"version": "V", "last-cmd": "l", "verbose": "v"},
}

// fwknopSecret lists the options whose values are keys: they are masked
// in the command line an alert carries.
var fwknopSecret = set("key-base64-rijndael", "key-base64-hmac", "key-rijndael", "key-hmac", "gpg-signing-pw")

// parseFwknop reads an SPA client run. The SPA packet goes to the server
// port over the server protocol (UDP/62201 by default, fwknop's
// FKO_DEFAULT_PORT); the ports it asks to open are in -A.
func parseFwknop(args []string) *clientRun {
	opts, _ := getopt(args, &fwknopSpec)
	if has(opts, "h", "V", "k", "K", "T", "stanza-list", "show-last") {
		return nil
	}
	dest, hasDest := value(opts, "D")
	stanza, hasStanza := value(opts, "n")
	if !hasDest && !hasStanza && !has(opts, "l") {
		return nil
	}
	r := &clientRun{tool: "fwknop", target: dest, confidence: 0.9}
	proto := "udp"
	if v, ok := value(opts, "P"); ok {
		proto = strings.ToLower(v)
		r.attr("server_proto", proto)
	}
	port := uint16(62201)
	switch proto {
	case "http":
		port = 80
	case "icmp":
		port = 0
	}
	if v, ok := value(opts, "p"); ok {
		if p, ok := parsePort(v); ok {
			port = p
		}
	}
	if has(opts, "r") {
		port = 0
		r.attr("server_port", "random (10000-65535)")
	} else if proto != "icmp" {
		r.attr("server_port", strconv.Itoa(int(port)))
	}
	wire := proto
	switch proto {
	case "http", "tcpraw":
		wire = "tcp"
	case "udpraw":
		wire = "udp"
	}
	r.probes = []probe{{port: port, proto: wire}}
	if v, ok := value(opts, "A"); ok {
		r.attr("access", v)
	}
	switch {
	case has(opts, "a"):
		v, _ := value(opts, "a")
		r.attr("allow_ip", v)
	case has(opts, "s"):
		r.attr("allow_ip", "source address (-s)")
	case has(opts, "R"):
		r.attr("allow_ip", "resolved over HTTPS (-R)")
	}
	if hasStanza {
		r.attr("stanza", stanza)
	}
	if v, ok := value(opts, "rc-file"); ok {
		r.attr("rc_file", v)
	}
	if v, ok := value(opts, "N"); ok {
		r.attr("nat_access", v)
	}
	if v, ok := value(opts, "C"); ok {
		r.attr("server_cmd", v)
		r.reasons = append(r.reasons, "asks the server to run a command (-C)")
	}
	if has(opts, "l") {
		r.attr("last_cmd", "true")
	}
	for _, o := range opts {
		if fwknopSecret[o.name] {
			r.attr("key_on_command_line", "true")
			break
		}
	}
	what := "SPA client run"
	if hasStanza && !hasDest {
		what += " (stanza " + stanza + " of the rc file)"
	}
	r.reasons = append(r.reasons, what)
	return r
}

// redactArgs masks key values in an fwknop command line.
func redactArgs(a []string) []string {
	out := make([]string, len(a))
	copy(out, a)
	for i := 0; i < len(out); i++ {
		name, _, hasEq := strings.Cut(strings.TrimLeft(out[i], "-"), "=")
		if !strings.HasPrefix(out[i], "--") || !fwknopSecret[name] {
			continue
		}
		if hasEq {
			out[i] = "--" + name + "=<redacted>"
		} else if i+1 < len(out) {
			out[i+1] = "<redacted>"
			i++
		}
	}
	return out
}

// --- hping3 (hping3(8)) ---

var hpingSpec = optSpec{
	shortArg: "ciIatNgmoHCKspwOMLdEe89",
	longArg: set("count", "interval", "interface", "spoof", "ttl", "id", "fragoff", "mtu", "tos", "ipproto",
		"icmptype", "icmpcode", "baseport", "destport", "win", "tcpoff", "setseq", "setack", "data", "file", "sign",
		"scan", "listen", "lsrr", "ssrr", "icmp-ipver", "icmp-iphlen", "icmp-iplen", "icmp-ipid", "icmp-ipproto",
		"icmp-cksum", "icmp-gw", "tcp-mss", "apd-send"),
	alias: map[string]string{"count": "c", "interval": "i", "interface": "I", "spoof": "a", "ttl": "t", "id": "N",
		"ipproto": "H", "icmptype": "C", "icmpcode": "K", "baseport": "s", "destport": "p", "win": "w", "data": "d",
		"file": "E", "sign": "e", "scan": "8", "listen": "9", "rawip": "0", "icmp": "1", "udp": "2",
		"syn": "S", "fin": "F", "rst": "R", "push": "P", "ack": "A", "urg": "U", "xmas": "X", "ymas": "Y",
		"traceroute": "T"},
}

// parseHping reads an hping3 run that sends at most a few packets to one
// port: a knock hit. Scans (--scan), floods, listeners, traceroutes and
// endless runs (no -c) are not knocks; -s is the base source port and says
// nothing about the destination.
func parseHping(args []string) *clientRun {
	opts, ops := getopt(args, &hpingSpec)
	if len(ops) != 1 || has(opts, "8", "9", "flood", "T", "rand-dest", "h", "v") {
		return nil
	}
	cv, ok := value(opts, "c")
	count, err := strconv.Atoi(cv)
	if !ok || err != nil || count < 1 || count > 3 {
		return nil
	}
	r := &clientRun{tool: "hping3", target: ops[0], single: true, confidence: 0.6}
	proto := "tcp"
	switch {
	case has(opts, "1"):
		proto = "icmp"
	case has(opts, "2"):
		proto = "udp"
	case has(opts, "0"):
		return nil // raw IP: no port to knock
	}
	var pr probe
	pr.proto = proto
	if proto == "icmp" {
		t, code, size := 8, 0, 0
		if v, ok := value(opts, "C"); ok {
			t, _ = strconv.Atoi(v)
		}
		if v, ok := value(opts, "K"); ok {
			code, _ = strconv.Atoi(v)
		}
		if v, ok := value(opts, "d"); ok {
			size, _ = strconv.Atoi(v)
		}
		pr.key = uint32(t&0xff)<<24 | uint32(code&0xff)<<16 | uint32(size&0xffff)
		r.attr("icmp", strconv.Itoa(t)+"/"+strconv.Itoa(code)+" size "+strconv.Itoa(size))
	} else {
		pv, ok := value(opts, "p")
		if !ok || strings.HasPrefix(pv, "++") {
			return nil // no destination port, or one more per packet (a sweep)
		}
		port, ok := parsePort(strings.TrimPrefix(pv, "+"))
		if !ok {
			return nil
		}
		pr.port = port
	}
	r.probes = []probe{pr}
	var flags []string
	for _, o := range opts {
		if len(o.name) == 1 && strings.Contains("SFRPAUXY", o.name) {
			flags = append(flags, o.name)
		}
	}
	if proto == "tcp" {
		r.attr("tcp_flags", strings.Join(flags, ""))
	}
	if v, ok := value(opts, "E"); ok {
		r.payload = true
		r.attr("payload", "file "+v)
	} else if v, ok := value(opts, "e"); ok {
		r.payload = true
		r.attr("payload", "signature "+v)
	}
	r.attr("count", cv)
	return r
}

// --- nping (nping(1)) ---

var npingSpec = optSpec{
	shortArg: "cpgeSKP",
	longArg: set("count", "dest-port", "source-port", "flags", "seq", "ack", "win", "mss", "ws", "ts", "delay",
		"rate", "interface", "source-ip", "dest-ip", "ttl", "tos", "id", "mtu", "ip-options", "data", "data-string",
		"data-length", "icmp-type", "icmp-code", "icmp-id", "icmp-seq", "icmp-redirect-addr", "icmp-param-pointer",
		"icmp-advert-lifetime", "icmp-advert-entry", "icmp-orig-time", "icmp-recv-time", "icmp-trans-time",
		"arp-type", "arp-sender-mac", "arp-sender-ip", "arp-target-mac", "arp-target-ip", "source-mac", "dest-mac",
		"ether-type", "traffic-class", "flow", "hop-limit", "bpf-filter", "echo-client", "echo-server", "echo-port",
		"nsock-engine", "host-timeout"),
	alias: map[string]string{"count": "c", "dest-port": "p", "source-port": "g", "interface": "e", "source-ip": "S"},
}

// parseNping reads an nping run with an explicit TCP or UDP port list. A
// list of two or more ports sent a few rounds is a knock; one port is a
// probe the detector may join with others (a health check repeats one).
func parseNping(args []string) *clientRun {
	// nping parses with getopt_long_only: "-tcp" is "--tcp".
	norm := make([]string, len(args))
	for i, a := range args {
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			if name := strings.SplitN(a[1:], "=", 2)[0]; npingSpec.longArg[name] || npingModes[name] {
				a = "-" + a
			}
		}
		norm[i] = a
	}
	opts, ops := getopt(norm, &npingSpec)
	proto := ""
	switch {
	case has(opts, "tcp"), has(opts, "tcp-connect"):
		proto = "tcp"
	case has(opts, "udp"):
		proto = "udp"
	}
	pv, ok := value(opts, "p")
	if proto == "" || !ok || len(ops) == 0 || len(ops) > 4 || has(opts, "echo-client", "echo-server", "tr", "traceroute") {
		return nil
	}
	ports, ok := parsePortList(pv, 16)
	if !ok {
		return nil
	}
	if cv, ok := value(opts, "c"); ok {
		if n, err := strconv.Atoi(cv); err != nil || n > 10 {
			return nil // a long run of rounds: monitoring, not a knock
		}
	}
	r := &clientRun{tool: "nping", target: ops[0], single: len(ports) == 1, confidence: 0.75}
	if len(ports) > 1 && allServicePorts(ports) {
		return nil // a health check of services
	}
	if len(ops) > 1 {
		r.attr("targets", strings.Join(ops, ","))
	}
	for _, p := range ports {
		r.probes = append(r.probes, probe{port: p, proto: proto})
	}
	if v, ok := value(opts, "flags"); ok {
		r.attr("tcp_flags", v)
	}
	if v, ok := value(opts, "delay"); ok {
		if d, ok := parseDelay(v); ok {
			r.delay = d
			r.attr("delay", v)
		}
	}
	if v, ok := value(opts, "c"); ok {
		r.attr("count", v)
	}
	if len(ports) > 1 {
		r.reasons = append(r.reasons, fmt.Sprintf("nping %s probes to an explicit list of %d ports", proto, len(ports)))
	}
	return r
}

var npingModes = set("tcp", "udp", "icmp", "arp", "tr", "traceroute", "tcp-connect", "flags", "privileged", "unprivileged")

// --- nmap (nmap(1)) ---

// nmapArg lists nmap's options that take a value as the next word.
var nmapArg = set("p", "iL", "iR", "exclude", "excludefile", "e", "S", "D", "g", "source-port", "data", "data-string",
	"data-length", "ttl", "spoof-mac", "proxies", "oN", "oX", "oS", "oG", "oA", "script", "script-args",
	"script-args-file", "top-ports", "port-ratio", "version-intensity", "stylesheet", "datadir", "servicedb",
	"versiondb", "resume", "b", "mtu", "ip-options", "dns-servers", "max-retries", "scan-delay", "max-scan-delay",
	"host-timeout", "max-rtt-timeout", "min-rtt-timeout", "initial-rtt-timeout", "min-rate", "max-rate",
	"min-parallelism", "max-parallelism", "min-hostgroup", "max-hostgroup", "T", "sI", "nsock-engine",
	"max-os-tries", "script-timeout", "exclude-ports", "PS", "PA", "PU", "PY", "PO")

// parseNmap reads an nmap run at one host with an explicit short port
// list. Kept in order (-r) it is a knock; a single port with
// --max-retries 0 is one hit of a knock done port by port. nmap
// randomizes the order of any other list, so it cannot knock with one.
func parseNmap(args []string) *clientRun {
	var (
		ports   []uint16
		protos  []string
		ordered bool
		retries = -1
		udp     bool
		targets []string
		portArg string
		slow    bool
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			targets = append(targets, a)
			continue
		}
		name, val, hasEq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		needs := nmapArg[name]
		// Attached values: -p7000,8000 -T4 -PS22 -oNfile
		if !hasEq && !needs && !strings.HasPrefix(a, "--") {
			for _, pre := range []string{"p", "T", "PS", "PA", "PU", "PY", "oN", "oX", "oS", "oG", "oA", "iL", "iR", "e", "g", "D", "S", "b"} {
				if strings.HasPrefix(name, pre) && len(name) > len(pre) {
					name, val, hasEq = pre, name[len(pre):], true
					break
				}
			}
		}
		if needs && !hasEq && i+1 < len(args) {
			val = args[i+1]
			i++
		}
		switch name {
		case "p":
			portArg = val
		case "r":
			ordered = true
		case "T":
			switch strings.ToLower(val) {
			case "0", "1", "2", "paranoid", "sneaky", "polite":
				slow = true
			}
		case "max-retries":
			retries, _ = strconv.Atoi(val)
		case "sU":
			udp = true
		case "sn", "sL", "sO", "iL", "iR", "h", "V", "F", "top-ports", "script":
			return nil // host discovery, listing, protocol scan, many targets or ports, scripts
		}
	}
	if portArg == "" || len(targets) != 1 || !isSingleHost(targets[0]) {
		return nil
	}
	for _, part := range strings.Split(portArg, ",") {
		proto := "tcp"
		if udp {
			proto = "udp"
		}
		switch {
		case strings.HasPrefix(part, "T:"):
			proto, part = "tcp", part[2:]
		case strings.HasPrefix(part, "U:"):
			proto, part = "udp", part[2:]
		case strings.HasPrefix(part, "S:"):
			return nil
		}
		ps, ok := parsePortList(part, 16)
		if !ok {
			return nil
		}
		for _, p := range ps {
			ports = append(ports, p)
			protos = append(protos, proto)
		}
		if len(ports) > 16 {
			return nil
		}
	}
	if len(ports) == 0 {
		return nil
	}
	r := &clientRun{tool: "nmap", target: targets[0], confidence: 0.7}
	for i, p := range ports {
		r.probes = append(r.probes, probe{port: p, proto: protos[i]})
	}
	switch {
	case len(ports) >= 2 && ordered:
		r.reasons = append(r.reasons, "nmap with an ordered (-r) short port list")
		if retries == 0 {
			r.confidence = 0.8
			r.reasons = append(r.reasons, "no retries (--max-retries 0)")
		}
	case len(ports) == 1 && retries == 0:
		r.single = true
	case len(ports) >= 2 && slow:
		// cd00r's comment knocks with nmap -sS -T Polite -p<list> (formats.md
		// 3.1, 5.5): serial, but nmap may still shuffle the list.
		r.confidence = 0.55
		r.reasons = append(r.reasons, "nmap with slow serial timing (-T) and a short port list, the cd00r idiom; order not kept without -r")
	default:
		return nil
	}
	if !r.single && allService(r.probes) {
		return nil // checking services, not knocking
	}
	if retries >= 0 {
		r.attr("max_retries", strconv.Itoa(retries))
	}
	if ordered {
		r.attr("ordered", "true")
	}
	return r
}

// isSingleHost reports whether an nmap target names one host, not a range
// or network.
func isSingleHost(t string) bool {
	if strings.ContainsAny(t, "/*,") {
		return false
	}
	if _, err := netip.ParseAddr(t); err == nil {
		return true
	}
	// 192.0.2.1-20 is a range; a name may hold '-'.
	if strings.Count(t, ".") == 3 && strings.Contains(t, "-") && strings.IndexFunc(t, func(r rune) bool { return r != '.' && r != '-' && (r < '0' || r > '9') }) < 0 {
		return false
	}
	return true
}

// --- netcat family and telnet ---

var (
	ncOpenBSD = optSpec{shortArg: "bIiMmOPpqsTVWwXx"}
	ncTrad    = optSpec{shortArg: "cegGioOpqsw"}
	ncatSpec  = optSpec{
		shortArg: "pswiecoxdmgG",
		longArg: set("source-port", "source", "wait", "idle-timeout", "exec", "sh-exec", "lua-exec", "output",
			"hex-dump", "delay", "max-conns", "proxy", "proxy-type", "proxy-auth", "proxy-dns", "allow", "allowfile",
			"deny", "denyfile", "ssl-cert", "ssl-key", "ssl-trustfile", "ssl-ciphers", "ssl-servername", "ssl-alpn"),
		alias: map[string]string{"udp": "u", "listen": "l", "zero": "z", "wait": "w", "source-port": "p"},
	}
	telnetSpec = optSpec{shortArg: "belnXk"}
)

// parseNetcat reads nc/ncat/netcat: a connection (or with -z a check) to
// one or more ports of one host. -p is the source port, -l a listener.
func parseNetcat(tool string, args []string) *clientRun {
	spec := &ncOpenBSD
	switch tool {
	case "ncat":
		spec = &ncatSpec
	case "nc.traditional", "netcat-traditional":
		spec = &ncTrad
	}
	opts, ops := getopt(args, spec)
	if has(opts, "l", "h", "U") || len(ops) < 2 {
		return nil
	}
	proto := "tcp"
	if has(opts, "u") {
		proto = "udp"
	}
	r := &clientRun{tool: canonicalTool(tool), target: ops[0], confidence: 0.6}
	for _, a := range ops[1:] {
		ps, ok := parsePortList(a, 16)
		if !ok {
			return nil
		}
		for _, p := range ps {
			r.probes = append(r.probes, probe{port: p, proto: proto})
		}
	}
	if len(r.probes) == 0 || len(r.probes) > 16 {
		return nil
	}
	r.single = len(r.probes) == 1
	if !r.single && allService(r.probes) {
		return nil // checking services
	}
	if has(opts, "z") {
		r.attr("zero_io", "true")
	}
	return r
}

// parseTelnet reads `telnet [opts] HOST PORT`; without a port it is a
// telnet session, not a hit.
func parseTelnet(args []string) *clientRun {
	_, ops := getopt(args, &telnetSpec)
	if len(ops) != 2 {
		return nil
	}
	p, ok := parsePort(ops[1])
	if !ok {
		return nil
	}
	return &clientRun{tool: "telnet", target: ops[0], single: true, confidence: 0.55, probes: []probe{{port: p, proto: "tcp"}}}
}

// --- helpers ---

func allServicePorts(ps []uint16) bool {
	for _, p := range ps {
		if !isServicePort(p) {
			return false
		}
	}
	return true
}

func allService(ps []probe) bool {
	for _, p := range ps {
		if !isServicePort(p.port) {
			return false
		}
	}
	return true
}

func parsePort(s string) (uint16, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// parsePortList reads "7000,8000,9000-9002" in order; ranges longer than
// limit and lists with non-numeric entries (service names) fail.
func parsePortList(s string, limit int) ([]uint16, bool) {
	var out []uint16
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, ok := parsePort(lo)
		if !ok {
			return nil, false
		}
		b := a
		if isRange {
			if b, ok = parsePort(hi); !ok || b < a || int(b-a) >= limit {
				return nil, false
			}
		}
		for p := int(a); p <= int(b); p++ {
			out = append(out, uint16(p))
			if len(out) > limit {
				return nil, false
			}
		}
	}
	return out, len(out) > 0
}

// parseDelay reads nping's time values: "500ms", "1s", "2m", or seconds.
func parseDelay(s string) (time.Duration, bool) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 3600 {
		return time.Duration(f * float64(time.Second)), true
	}
	return 0, false
}

// knocksOf turns a run's probes into the alert sequence: offsets are the
// requested delay times the index.
func knocksOf(ps []probe, delay time.Duration) []alert.Knock {
	out := make([]alert.Knock, len(ps))
	for i, p := range ps {
		out[i] = alert.Knock{Port: p.port, Proto: p.proto, OffsetMS: float64(delay.Milliseconds()) * float64(i)}
	}
	return out
}

// toolNames maps program names (argv[0], image or original file name,
// without ".exe") to the tool they are.
var toolNames = map[string]string{
	"knock": "knock", "fwknop": "fwknop", "hping3": "hping3", "hping": "hping3", "hping2": "hping3",
	"nping": "nping", "nmap": "nmap", "nc": "nc", "netcat": "nc", "nc.openbsd": "nc", "nc.traditional": "nc",
	"netcat-traditional": "nc", "netcat-openbsd": "nc", "ncat": "ncat", "telnet": "telnet",
	"inetutils-telnet": "telnet", "telnet.netkit": "telnet",
	"sh": "sh", "bash": "sh", "dash": "sh", "zsh": "sh", "ksh": "sh", "mksh": "sh", "ash": "sh", "busybox": "busybox",
	"iptables": "iptables", "ip6tables": "iptables", "iptables-legacy": "iptables", "ip6tables-legacy": "iptables",
	"iptables-nft": "iptables", "ip6tables-nft": "iptables", "xtables-nft-multi": "iptables",
	"xtables-legacy-multi": "iptables", "nft": "nft", "ufw": "ufw", "firewall-cmd": "firewall-cmd",
	"knockd": "knockd", "fwknopd": "fwknopd",
}

func canonicalTool(name string) string {
	if t, ok := toolNames[strings.ToLower(name)]; ok {
		return t
	}
	return name
}
