package detect

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/argv"
	"github.com/knockwatch/knockwatch/internal/event"
)

// This file holds the process detector's findings other than the client
// runs' parsing: how runs become alerts, firewall commands started by a
// knock daemon, and changes to knock daemon configuration.

// clientAlert builds the alert of a client run with its sequence.
func (d *Process) clientAlert(run *procRun, seq []alert.Knock, reasons []string) *alert.Alert {
	a := &alert.Alert{
		Dst:        run.dst,
		Sequence:   seq,
		Confidence: run.confidence,
		Technique:  run.technique,
		Reasons:    append([]string(nil), reasons...),
		Attributes: map[string]string{"tool": run.tool},
	}
	if !run.dst.IsValid() && run.target != "" {
		a.Attributes["target"] = run.target
	}
	sev := alert.SeverityMedium
	if run.attrs["renamed_binary"] != "" || run.attrs["server_cmd"] != "" {
		sev = alert.SeverityHigh
	}
	switch {
	case run.tool != "fwknop" && d.authorizedSeq(run.dst, seq) != "":
		a.Authorized = true
		a.AuthorizedAs = d.authorizedSeq(run.dst, seq)
		a.Reasons = append(a.Reasons, "matches authorized sequence "+a.AuthorizedAs)
		sev = alert.SeverityLow
	case d.adminUser(run.user, run.login):
		a.Reasons = append(a.Reasons, "run by an admin user (allowlist)")
		sev = min(sev, alert.SeverityMedium) - 1
	case d.adminHost(run.host):
		a.Reasons = append(a.Reasons, "run on an admin host (allowlist)")
		sev = min(sev, alert.SeverityMedium) - 1
	}
	a.Severity = sev
	target := run.target
	if target == "" {
		target = "the server of stanza " + run.attrs["stanza"]
	}
	who := run.user
	if who == "" {
		who = "a user"
	}
	on := run.host
	if on == "" {
		on = "an endpoint"
	}
	a.Summary = fmt.Sprintf("%s on %s ran %s at %s", who, on, run.tool, target)
	if len(seq) > 0 {
		a.Summary += ": " + alert.SequenceString(seq)
	}
	if run.tool == "fwknop" && run.attrs["access"] != "" {
		a.Summary += " (SPA asking for " + run.attrs["access"] + ")"
	}
	return a
}

// probesAlert judges single probes joined by time: two or more distinct
// ports, not a sweep of neighbouring ports, not only service ports (a
// health check), is a knock done port by port.
func (d *Process) probesAlert(run *procRun) *alert.Alert {
	ps := slices.Clone(run.probes)
	slices.SortStableFunc(ps, func(x, y timedProbe) int {
		switch {
		case x.t < y.t:
			return -1
		case x.t > y.t:
			return 1
		}
		return 0
	})
	if len(ps) > burstCap {
		ps = ps[:burstCap]
	}
	dps := distinct(probesOf(ps))
	if run.payload && len(dps) == 1 {
		// One crafted packet from a file or signature: a magic-packet
		// sender (formats.md 5.5, hping3 -E/-e).
		run.technique = alert.TechniqueTrafficSignaling
		a := d.clientAlert(run, knocksOf(dps, 0), append(run.reasons, run.tool+" sent a crafted payload ("+run.attrs["payload"]+")"))
		a.Severity = min(a.Severity, alert.SeverityLow)
		a.Confidence = 0.5
		return a
	}
	if len(dps) < 2 || len(dps) > d.seq.MaxPorts {
		return nil
	}
	icmp := dps[0].proto == "icmp"
	if !icmp {
		service, steps := 0, 0
		for i, p := range dps {
			if isServicePort(p.port) {
				service++
			}
			if i > 0 && (int(p.port)-int(dps[i-1].port) == 1 || int(p.port)-int(dps[i-1].port) == -1) {
				steps++
			}
		}
		if service == len(dps) || steps >= 2 {
			return nil // service checks, or a sweep of neighbouring ports
		}
	}
	first := ps[0].t
	seq := make([]alert.Knock, len(ps))
	for i, p := range ps {
		seq[i] = alert.Knock{Port: p.port, Proto: p.proto, OffsetMS: float64(p.t-first) / 1e6}
	}
	conf := run.confidence
	if len(dps) >= 3 {
		conf += 0.1
	}
	reasons := append(slices.Clone(run.reasons), fmt.Sprintf("%d single %s probes at %s on %d distinct ports in order within %s",
		len(ps), run.tool, run.target, len(dps), fmtDur(ps[len(ps)-1].t-first)))
	run.confidence = conf
	return d.clientAlert(run, seq, reasons)
}

// authorizedSeq returns the name of a configured sequence the run's ports
// hold in order.
func (d *Process) authorizedSeq(dst netip.Addr, seq []alert.Knock) string {
	for _, as := range d.auth {
		if len(as.Targets) > 0 && (!dst.IsValid() || !inPrefixes(dst, as.Targets)) {
			continue
		}
		n := len(as.Ports)
		for start := 0; start+n <= len(seq); start++ {
			ok := n > 0
			for k := 0; k < n && ok; k++ {
				ok = seq[start+k].Port == as.Ports[k].Port && seq[start+k].Proto == as.Ports[k].Proto.String()
			}
			if ok {
				return as.Name
			}
		}
	}
	return ""
}

// adminUser reports whether any of the names is an allowlisted admin user,
// with or without a DOMAIN\ prefix or @realm suffix.
func (d *Process) adminUser(names ...string) bool {
	for _, n := range names {
		if n == "" {
			continue
		}
		short := n
		if i := strings.LastIndexByte(short, '\\'); i >= 0 {
			short = short[i+1:]
		}
		if i := strings.IndexByte(short, '@'); i > 0 {
			short = short[:i]
		}
		for _, u := range d.allow.AdminUsers {
			if strings.EqualFold(u, n) || strings.EqualFold(u, short) {
				return true
			}
		}
	}
	return false
}

// adminHost reports whether an endpoint name is allowlisted: equal, or
// under a "*.domain" pattern, case-insensitively.
func (d *Process) adminHost(h string) bool {
	if h == "" {
		return false
	}
	h = strings.ToLower(h)
	for _, p := range d.allow.AdminHosts {
		p = strings.ToLower(p)
		if p == h || (strings.HasPrefix(p, "*.") && strings.HasSuffix(h, p[1:])) {
			return true
		}
	}
	return false
}

// --- firewall commands started by a knock daemon ---

type fwRule struct {
	add   bool
	src   netip.Addr
	port  string
	proto string
}

// parseFirewall reads a rule-adding firewall command: iptables -A/-I with
// -s, nft add/insert with saddr, ufw allow from, firewall-cmd
// --add-rich-rule/--add-source. Checks, listings, deletions and rules
// without a source are not doors opening.
func parseFirewall(tool string, args []string) (fwRule, bool) {
	var r fwRule
	switch tool {
	case "iptables":
		for i := 1; i < len(args); i++ {
			a := args[i]
			next := func() string {
				if i+1 < len(args) {
					i++
					return args[i]
				}
				return ""
			}
			switch {
			case a == "-A" || a == "--append" || a == "-I" || a == "--insert":
				r.add = true
			case a == "!":
				i++ // a negated match: skip it
			case a == "-s" || a == "--source" || a == "--src":
				r.src = firstAddr(next())
			case strings.HasPrefix(a, "--source="):
				r.src = firstAddr(a[len("--source="):])
			case a == "--dport" || a == "--destination-port" || a == "--dports":
				r.port = next()
			case a == "-p" || a == "--protocol":
				r.proto = protoName(next())
			}
		}
	case "nft":
		words := args[1:]
		if len(words) == 1 {
			words, _ = argv.Split(words[0])
		}
		for i, w := range words {
			switch w {
			case "add", "insert", "create":
				if i == 0 || (i > 0 && !r.add) {
					r.add = true
				}
			case "saddr":
				if i+1 < len(words) {
					r.src = firstAddr(strings.Trim(words[i+1], "{},"))
				}
			case "dport":
				if i+1 < len(words) {
					r.port = strings.Trim(words[i+1], "{},")
				}
			case "tcp", "udp":
				r.proto = w
			}
		}
	case "ufw":
		for i, w := range args[1:] {
			switch {
			case w == "delete":
				return fwRule{}, false
			case w == "allow":
				r.add = true
			case w == "from" && i+2 < len(args):
				r.src = firstAddr(args[i+2])
			case w == "port" && i+2 < len(args):
				r.port = args[i+2]
			case w == "proto" && i+2 < len(args):
				r.proto = args[i+2]
			}
		}
	case "firewall-cmd":
		for i := 1; i < len(args); i++ {
			name, val, hasEq := strings.Cut(args[i], "=")
			if !hasEq && i+1 < len(args) && (name == "--add-rich-rule" || name == "--add-source") {
				val = args[i+1]
				i++
			}
			switch name {
			case "--add-source":
				r.add, r.src = true, firstAddr(val)
			case "--add-rich-rule":
				r.add = true
				words, _ := argv.Split(val)
				for _, w := range words {
					k, v, ok := strings.Cut(w, "=")
					v = strings.Trim(v, `"'`)
					switch {
					case ok && k == "address":
						r.src = firstAddr(v)
					case ok && k == "port":
						r.port = v
					case ok && k == "protocol":
						r.proto = v
					}
				}
			}
		}
	}
	if !r.add || !r.src.IsValid() || r.src.IsLoopback() || r.src.IsUnspecified() {
		// fwknopd probes the firewall at start with 127.0.0.2 (seen in
		// testdata/auditd/raw-node-fwknopd.log).
		return fwRule{}, false
	}
	return r, true
}

// firstAddr reads an address, "a/len" or the first of "a,b".
func firstAddr(s string) netip.Addr {
	s, _, _ = strings.Cut(s, ",")
	s, _, _ = strings.Cut(s, "/")
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func protoName(s string) string {
	switch s {
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	}
	return strings.ToLower(s)
}

// firewall records a firewall command a knock daemon started.
func (d *Process) firewall(ctx *execCtx, tool string, args []string) {
	r, ok := parseFirewall(tool, args)
	if !ok {
		return
	}
	p := ctx.p
	key := keyOf("firewall", p.Host, r.src.String(), ctx.daemon)
	run, fresh := d.open(key, runFirewall, ctx.ev)
	if fresh {
		run.host, run.user, run.login = p.Host, p.User, p.LoginUser
		run.tool, run.src = tool, r.src
		run.source, run.image, run.parent = p.Source, p.Image, p.ParentImage
		run.cmdline = strings.Join(args, " ")
		run.attrs["daemon"] = ctx.daemon
		run.attrs["rule"] = strings.Join(args, " ")
		if r.port != "" {
			proto := r.proto
			if proto == "" {
				proto = "tcp"
			}
			run.attrs["opens"] = r.port + "/" + proto
		}
		run.confidence = 0.85
	}
	d.join(run, ctx)
}

func (d *Process) firewallAlert(run *procRun) *alert.Alert {
	a := &alert.Alert{
		Src:        run.src,
		Confidence: run.confidence,
		Severity:   alert.SeverityMedium,
		Attributes: map[string]string{"tool": run.tool},
		Reasons:    []string{fmt.Sprintf("%s ran %s adding a rule for %s", run.attrs["daemon"], run.tool, run.src)},
	}
	if inPrefixes(run.src, d.allow.AdminNetworks) {
		a.Severity = alert.SeverityLow
		a.Reasons = append(a.Reasons, "source is in an admin network")
	}
	a.Summary = fmt.Sprintf("%s on %s opened the firewall for %s", run.attrs["daemon"], orDash(run.host), run.src)
	if o := run.attrs["opens"]; o != "" {
		a.Summary += " (" + o + ")"
	}
	return a
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- knock daemon configuration changes ---

// isKnockConfig reports whether a path is a knock daemon's configuration:
// knockd.conf anywhere, fwknopd.conf, or access.conf in an fwknop folder.
func isKnockConfig(p string) bool {
	p = strings.ReplaceAll(p, `\`, "/")
	base := path.Base(p)
	switch strings.ToLower(base) {
	case "knockd.conf", "fwknopd.conf":
		return true
	case "access.conf":
		return strings.Contains(strings.ToLower(path.Dir(p)), "fwknop")
	}
	return false
}

// fileChange reads a file event.
func (d *Process) fileChange(ev *event.Event) {
	p := ev.Process
	how := "file written"
	if p.Operation == event.OpDelete {
		how = "file deleted"
	}
	d.configWrite(&execCtx{ev: ev, p: p}, p.FilePath, how)
}

// editors open a file for editing; whether they saved it only a file event
// can tell.
var editors = set("vi", "vim", "vim.basic", "vim.tiny", "nvim", "nano", "emacs", "ed", "pico", "mcedit", "joe", "notepad", "notepad++")

// editCommand finds commands that write a file: sed -i, tee, cp, mv,
// install, dd of=, truncate, rm, and editors. cat, grep, less and the like
// read; they are nothing.
func (d *Process) editCommand(ctx *execCtx, args []string) {
	name := strings.ToLower(argv.Base(args[0]))
	var targets []string
	how := name
	switch {
	case name == "sed":
		inPlace := false
		var ops []string
		script := true
		for i := 1; i < len(args); i++ {
			a := args[i]
			switch {
			case a == "-e" || a == "-f" || a == "--expression" || a == "--file":
				script = false
				i++
			case strings.HasPrefix(a, "--in-place") || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "i")):
				inPlace = true
				if strings.HasPrefix(a, "-") && strings.Contains(a[1:], "e") {
					script = false
					i++
				}
			case strings.HasPrefix(a, "-"):
			default:
				ops = append(ops, a)
			}
		}
		if !inPlace {
			return
		}
		if script && len(ops) > 0 {
			ops = ops[1:]
		}
		targets, how = ops, "sed -i"
	case name == "tee":
		_, ops := getopt(args[1:], &optSpec{})
		targets = ops
	case name == "cp" || name == "mv" || name == "install" || name == "ln" || name == "rsync" || name == "scp":
		_, ops := getopt(args[1:], &optSpec{shortArg: "tSmogb", longArg: set("target-directory", "suffix", "mode", "owner", "group")})
		if len(ops) >= 2 {
			dst := ops[len(ops)-1]
			if !isKnockConfig(dst) {
				dst = path.Join(dst, path.Base(ops[0]))
			}
			targets = []string{dst}
		}
	case name == "dd":
		for _, a := range args[1:] {
			if v, ok := strings.CutPrefix(a, "of="); ok {
				targets = append(targets, v)
			}
		}
	case name == "truncate" || name == "rm" || name == "unlink" || name == "shred":
		_, ops := getopt(args[1:], &optSpec{shortArg: "srn"})
		targets = ops
	case editors[name]:
		_, ops := getopt(args[1:], &optSpec{})
		targets, how = ops, "opened in "+name
	}
	for _, t := range targets {
		d.configWrite(ctx, t, how)
	}
}

// configWrite records a change (or likely change) of a knock daemon's
// configuration file.
func (d *Process) configWrite(ctx *execCtx, file, how string) {
	p := ctx.p
	if file == "" {
		return
	}
	if !path.IsAbs(file) && !argv.LooksWindows(file) && p.WorkingDir != "" {
		file = path.Join(p.WorkingDir, file)
	}
	if !isKnockConfig(file) {
		return
	}
	key := keyOf("config", p.Host, file)
	run, fresh := d.open(key, runConfig, ctx.ev)
	weak := strings.HasPrefix(how, "opened in ")
	if fresh {
		run.host, run.user, run.login = p.Host, p.User, p.LoginUser
		run.tool, run.path = argv.Base(p.Image), file
		run.source, run.image, run.parent = p.Source, p.Image, p.ParentImage
		run.attrs["path"] = file
		run.confidence = 0.5
	}
	if !weak {
		run.confidence = 0.85
	}
	hows := run.attrs["how"]
	if !strings.Contains(hows, how) {
		if hows != "" {
			hows += "; "
		}
		run.attrs["how"] = hows + how
	}
	if run.cmdline == "" && len(p.Argv) > 0 {
		run.cmdline = strings.Join(p.Argv, " ")
	} else if run.cmdline == "" {
		run.cmdline = p.CommandLine
	}
	d.join(run, ctx)
}

func (d *Process) configAlert(run *procRun) *alert.Alert {
	a := &alert.Alert{
		Confidence: run.confidence,
		Severity:   alert.SeverityMedium,
		Attributes: map[string]string{"tool": run.tool},
		Reasons:    []string{"knock daemon configuration changed: " + run.attrs["how"]},
	}
	if run.confidence < 0.8 {
		a.Reasons = append(a.Reasons, "opened in an editor; saving it is not recorded")
		a.Severity = alert.SeverityLow
	}
	if d.adminUser(run.user, run.login) {
		a.Severity = alert.SeverityLow
		a.Reasons = append(a.Reasons, "changed by an admin user (allowlist)")
	}
	who := run.user
	if who == "" {
		who = "a process"
	}
	a.Summary = fmt.Sprintf("%s changed on %s by %s (%s)", run.path, orDash(run.host), who, orDash(run.tool))
	return a
}
