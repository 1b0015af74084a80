package detect

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/knockwatch/knockwatch/internal/alert"
	"github.com/knockwatch/knockwatch/internal/argv"
	"github.com/knockwatch/knockwatch/internal/config"
	"github.com/knockwatch/knockwatch/internal/event"
	"github.com/knockwatch/knockwatch/internal/state"
)

// The process detector reads process-creation and file events (auditd,
// Sysmon, Defender, ECS) and finds:
//
//   - knock and SPA client runs: knock, fwknop, nping and nmap with a port
//     list, and the probes of single-port tools (hping3 -c 1, nc, telnet,
//     nmap --max-retries 0, bash /dev/tcp) run one port after another, in a
//     shell loop or by hand; the argument vector is parsed the way each
//     program parses it, never matched as a substring;
//   - firewall commands (iptables, nft, ufw, firewall-cmd) that a knock
//     daemon started, adding a rule for a source address: a door opening;
//   - changes to knockd.conf or fwknop's access.conf / fwknopd.conf (file
//     events, or a command that writes the file); reading them is nothing.
//
// Alerts join the rest of a knock's evidence (package correlate) through
// their fields: a client run has Dst = the target address (or
// Attributes["target"] = the name it was given) and Host = the endpoint it
// ran on; a door opening has Src = the address let in and Host = the daemon
// host; a config change has only Host. Sequence is the port list in order,
// offsets being the requested delay times the index, or the observed gaps
// between single probes.
//
// One alert per run: repeats of the same run on the same endpoint (a
// script retrying, the same exec recorded by a wrapper and the program, by
// two sources) are folded into one alert until the run has been quiet for
// processQuiet; single probes are joined while their gaps stay under the
// sequence detector's max_gap. Event time drives everything.

const (
	// processQuiet is how long a run must be quiet before it is reported;
	// repeats within it are folded in.
	processQuiet = time.Minute
	// processRunsCap and processNodesCap bound the state: runs pending
	// report, and the recent processes kept to follow a parent chain
	// (pid → program) when the source gives only the parent's pid.
	processRunsCap  = 4096
	processNodesCap = 16384
	// processNodeTTL is how long a process is remembered as a parent.
	processNodeTTL = 10 * time.Minute
	// maxShellDepth bounds sh -c inside sh -c.
	maxShellDepth = 3
	// maxRunPIDs bounds the pids kept per run to recognise one invocation
	// seen twice.
	maxRunPIDs = 16
)

type runKind uint8

const (
	runClient   runKind = iota + 1 // a client with its port list
	runProbes                      // single probes being joined
	runFirewall                    // a knock daemon's firewall command
	runConfig                      // a knock daemon config change
)

var runEvents = [...]string{runClient: "client_run", runProbes: "client_run", runFirewall: "door_opened", runConfig: "config_changed"}

type timedProbe struct {
	probe
	t   int64
	pid int64
}

// procRun is one finding being built.
type procRun struct {
	gen      uint32
	kind     runKind
	queued   bool
	deadline int64
	first    int64
	last     int64

	host, user, login string
	tool, target      string
	dst, src          netip.Addr
	probes            []timedProbe
	delay             time.Duration
	runs              int
	pids              []int64
	origins           []event.Origin
	total             int
	cmdline, parent   string
	image, source     string
	path              string // config file
	attrs             map[string]string
	reasons           []string
	confidence        float64
	technique         string
	payload           bool
}

// procNode is a process remembered for its children.
type procNode struct {
	image  string // program base name
	parent string // its parent's base name, where known
	ppid   int64
	t      int64
	run    state.Key // the client run it belongs to, if any
	hasRun bool
}

// Process is the process detector of one shard.
type Process struct {
	seq   config.Sequence
	allow config.Allowlist
	auth  []config.Authorized
	deps  Deps
	runs  *state.Table[procRun]
	nodes *state.Table[procNode]
	queue deadlineQueue
	gen   uint32
	now   int64

	sources   atomic.Int64
	evictions atomic.Uint64
}

var (
	_ Detector     = (*Process)(nil)
	_ Reconfigurer = (*Process)(nil)
)

// NewProcess makes the process detector of one shard. Process events carry
// no source address, so the engine routes them all to one shard.
func NewProcess(cfg config.Config, shards int, deps Deps) *Process {
	d := &Process{
		seq:   cfg.Sequence,
		allow: cfg.Allowlist,
		auth:  cfg.Authorized,
		deps:  deps,
		runs:  state.New[procRun](processRunsCap),
		nodes: state.New[procNode](processNodesCap),
	}
	d.runs.OnEvict = func(_ state.Key, r *procRun) {
		d.evictions.Add(1)
		d.report(r)
	}
	d.nodes.OnEvict = func(state.Key, *procNode) { d.evictions.Add(1) }
	return d
}

// Reconfigure takes new allowlists, authorized sequences and max_gap.
func (d *Process) Reconfigure(cfg config.Config) {
	d.seq = cfg.Sequence
	d.allow = cfg.Allowlist
	d.auth = cfg.Authorized
}

// Stats reports pending runs and evictions.
func (d *Process) Stats() Stats {
	return Stats{Name: "process", Sources: d.sources.Load(), Capacity: int64(d.runs.Cap()), Evictions: d.evictions.Load()}
}

func keyOf(parts ...string) state.Key {
	h := fnv.New128a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var k state.Key
	h.Sum(k[:0])
	return k
}

// Observe reads one event.
func (d *Process) Observe(ev *event.Event) {
	if ev.Kind != event.KindProcess || ev.Process == nil {
		return
	}
	if ev.Time > d.now {
		d.now = ev.Time
	}
	switch ev.Process.Operation {
	case event.OpExec:
		d.exec(ev)
	case event.OpWrite, event.OpDelete:
		d.fileChange(ev)
	}
	d.sources.Store(int64(d.runs.Len()))
}

// execCtx is what one exec event tells about its process.
type execCtx struct {
	ev         *event.Event
	p          *event.Process
	fromString bool   // argv was split from a command line
	daemon     string // knockd or fwknopd when the process descends from one
	node       state.Key
}

// argvOf returns the process's argument vector: the source's, or its
// command line split the way the program's runtime would have.
func argvOf(p *event.Process) ([]string, bool) {
	if len(p.Argv) > 0 {
		return p.Argv, false
	}
	if p.CommandLine == "" {
		if p.Image != "" {
			return []string{p.Image}, true
		}
		return nil, true
	}
	if argv.LooksWindows(p.Image) || (p.Image == "" && argv.LooksWindows(p.CommandLine)) {
		return argv.SplitWindows(p.CommandLine), true
	}
	a, _ := argv.Split(p.CommandLine)
	return a, true
}

func (d *Process) exec(ev *event.Event) {
	p := ev.Process
	args, fromString := argvOf(p)
	if len(args) == 0 {
		return
	}
	ctx := &execCtx{ev: ev, p: p, fromString: fromString}
	parent, grand := d.ancestry(p)
	switch {
	case isDaemon(parent):
		ctx.daemon = parent
	case canonicalTool(parent) == "sh" && isDaemon(grand):
		ctx.daemon = grand
	}
	if p.PID != 0 {
		ctx.node = keyOf("node", p.Host, strconv.FormatInt(p.PID, 10))
		i, _ := d.nodes.Insert(ctx.node)
		n := d.nodes.At(i)
		*n = procNode{image: programName(p, args), parent: parent, ppid: p.PPID, t: ev.Time}
	}
	var runs []*clientRun
	d.walk(ctx, args, 0, &runs)
	for _, r := range mergeSingles(runs) {
		d.client(ctx, r)
	}
}

// programName is the base name of the program an exec runs.
func programName(p *event.Process, args []string) string {
	if p.Image != "" {
		return argv.Base(p.Image)
	}
	return argv.Base(args[0])
}

func isDaemon(name string) bool { return name == "knockd" || name == "fwknopd" }

// ancestry returns the base names of the process's parent and grandparent,
// from the event or from the processes seen before.
func (d *Process) ancestry(p *event.Process) (string, string) {
	parent, grand := "", ""
	if p.ParentImage != "" {
		parent = argv.Base(p.ParentImage)
	}
	if p.GrandparentImage != "" {
		grand = argv.Base(p.GrandparentImage)
	}
	if p.PPID != 0 && (parent == "" || grand == "") {
		if i, ok := d.nodes.Peek(keyOf("node", p.Host, strconv.FormatInt(p.PPID, 10))); ok {
			n := d.nodes.At(i)
			if d.now-n.t <= int64(processNodeTTL) {
				if parent == "" {
					parent = n.image
				}
				if grand == "" {
					grand = n.parent
				}
			}
		}
	}
	return canonicalTool(parent), canonicalTool(grand)
}

// wrappers run their operand as a command.
var wrappers = map[string]*optSpec{
	"sudo":         {shortArg: "CDghpRrTtUu", longArg: set("user", "group", "host", "prompt", "role", "type", "command-timeout", "chdir", "close-from", "other-user", "chroot"), posix: true},
	"doas":         {shortArg: "uC", posix: true},
	"timeout":      {shortArg: "ks", longArg: set("kill-after", "signal"), posix: true},
	"nice":         {shortArg: "n", longArg: set("adjustment"), posix: true},
	"nohup":        {posix: true},
	"setsid":       {posix: true},
	"stdbuf":       {shortArg: "ioe", longArg: set("input", "output", "error"), posix: true},
	"time":         {shortArg: "fo", longArg: set("format", "output"), posix: true},
	"ionice":       {shortArg: "cnp", longArg: set("class", "classdata", "pid"), posix: true},
	"chrt":         {posix: true},
	"env":          {shortArg: "uCS", longArg: set("unset", "chdir", "split-string"), posix: true},
	"proxychains":  {shortArg: "fq", posix: true},
	"proxychains4": {shortArg: "fq", posix: true},
	"torsocks":     {posix: true},
}

// unwrap strips commands that run another command: sudo, timeout, env, nice,
// `ip netns exec NS`, busybox APPLET.
func unwrap(args []string) []string {
	for depth := 0; depth < 8 && len(args) > 0; depth++ {
		name := argv.Base(args[0])
		if name == "ip" && len(args) > 3 && args[1] == "netns" && args[2] == "exec" {
			args = args[4:]
			continue
		}
		if name == "busybox" && len(args) > 1 {
			args = args[1:]
			continue
		}
		spec, ok := wrappers[name]
		if !ok {
			return args
		}
		_, ops := getopt(args[1:], spec)
		switch name {
		case "timeout":
			if len(ops) > 0 {
				ops = ops[1:] // the duration
			}
		case "env":
			for len(ops) > 0 && strings.Contains(ops[0], "=") {
				ops = ops[1:]
			}
		case "chrt":
			if len(ops) > 0 {
				ops = ops[1:] // the priority
			}
		}
		args = ops
	}
	return args
}

// walk classifies one command (argv) and what it runs.
func (d *Process) walk(ctx *execCtx, args []string, depth int, runs *[]*clientRun) {
	args = unwrap(args)
	if len(args) == 0 {
		return
	}
	name := argv.Base(args[0])
	tool := canonicalTool(name)
	renamed := ""
	if depth == 0 {
		if _, known := toolNames[strings.ToLower(name)]; !known && ctx.p.Image != "" {
			tool = canonicalTool(argv.Base(ctx.p.Image))
		}
		if orig := strings.ToLower(argv.Base(ctx.p.OriginalName)); orig != "" {
			if t, ok := toolNames[orig]; ok && t != tool && isClientTool(t) {
				renamed = ctx.p.Image
				if i := strings.LastIndexAny(renamed, `/\`); i >= 0 {
					renamed = renamed[i+1:]
				}
				tool = t
			}
		}
	}
	var r *clientRun
	switch tool {
	case "sh":
		if depth < maxShellDepth {
			d.shell(ctx, args, depth, runs)
		}
		return
	case "knock":
		r = parseKnock(args[1:])
	case "fwknop":
		r = parseFwknop(args[1:])
	case "hping3":
		r = parseHping(args[1:])
	case "nping":
		r = parseNping(args[1:])
	case "nmap":
		r = parseNmap(args[1:])
	case "nc", "ncat":
		prog := name
		if depth == 0 && ctx.p.Image != "" {
			prog = argv.Base(ctx.p.Image)
		}
		if tool == "ncat" {
			prog = "ncat"
		}
		r = parseNetcat(prog, args[1:])
	case "telnet":
		r = parseTelnet(args[1:])
	case "iptables", "nft", "ufw", "firewall-cmd":
		if ctx.daemon != "" {
			d.firewall(ctx, tool, args)
		}
		return
	default:
		d.editCommand(ctx, args)
		return
	}
	if r == nil {
		return
	}
	r.attr("command_line", strings.Join(redactFor(tool, args), " "))
	if renamed != "" {
		r.attr("renamed_binary", renamed)
		r.attr("original_name", ctx.p.OriginalName)
		r.reasons = append(r.reasons, fmt.Sprintf("renamed binary: %s is %s", renamed, ctx.p.OriginalName))
		r.confidence += 0.05
		r.single = false // a renamed client is worth a report on its own
	}
	*runs = append(*runs, r)
}

func redactFor(tool string, args []string) []string {
	if tool == "fwknop" {
		return redactArgs(args)
	}
	return args
}

func isClientTool(t string) bool {
	switch t {
	case "knock", "fwknop", "hping3", "nping", "nmap", "nc", "ncat", "telnet":
		return true
	}
	return false
}

// shell handles `sh -c SCRIPT`: the script's commands are walked, and its
// /dev/tcp and /dev/udp redirections are probes.
func (d *Process) shell(ctx *execCtx, args []string, depth int, runs *[]*clientRun) {
	script := ""
	// sh [options] -c SCRIPT [name [args]]: options before -c may take a
	// value (-o pipefail, --rcfile FILE); a first operand that is not an
	// option is a script file, which is not read.
scan:
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "+o" || a == "-O" || a == "+O" || a == "--rcfile" || a == "--init-file":
			i++
		case a == "--":
			break scan
		case strings.HasPrefix(a, "--"):
		case len(a) > 1 && a[0] == '-':
			if strings.ContainsRune(a[1:], 'c') && i+1 < len(args) {
				script = args[i+1]
				// A source that joined argv with spaces (Sysmon for Linux,
				// MDE for Linux) split the script into words: join them.
				if ctx.fromString && depth == 0 {
					script = strings.Join(args[i+1:], " ")
				}
				break scan
			}
		case len(a) > 1 && a[0] == '+':
		default:
			break scan
		}
	}
	if script == "" {
		return
	}
	res, _ := argv.Script(script, nil)
	var dev *clientRun
	for _, c := range res.Commands {
		for _, rd := range c.Redirs {
			if host, pr, ok := devTCP(rd.Target); ok {
				if dev == nil || dev.target != host {
					dev = &clientRun{tool: "bash /dev/" + pr.proto, target: host, single: true, confidence: 0.6}
					dev.attr("command_line", strings.Join(args, " "))
					*runs = append(*runs, dev)
				}
				dev.probes = append(dev.probes, pr)
				continue
			}
			if isWriteRedirect(rd.Op) {
				d.configWrite(ctx, rd.Target, "redirect "+rd.Op)
			}
		}
		if len(c.Args) > 0 {
			d.walk(ctx, c.Args, depth+1, runs)
		}
	}
	for _, r := range *runs {
		if strings.HasPrefix(r.tool, "bash /dev/") {
			r.single = len(distinct(r.probes)) < 2
			if !r.single {
				r.reasons = append(r.reasons, fmt.Sprintf("shell loop over %d ports through %s", len(r.probes), r.tool))
			}
		}
	}
}

// devTCP reads bash's /dev/tcp/HOST/PORT or /dev/udp/HOST/PORT.
func devTCP(target string) (string, probe, bool) {
	var proto string
	switch {
	case strings.HasPrefix(target, "/dev/tcp/"):
		proto = "tcp"
	case strings.HasPrefix(target, "/dev/udp/"):
		proto = "udp"
	default:
		return "", probe{}, false
	}
	host, port, ok := strings.Cut(target[len("/dev/tcp/"):], "/")
	if !ok || host == "" {
		return "", probe{}, false
	}
	p, ok := parsePort(port)
	if !ok {
		return "", probe{}, false
	}
	return host, probe{port: p, proto: proto}, true
}

func isWriteRedirect(op string) bool {
	switch op {
	case ">", ">>", ">|", "&>", "&>>", "<>":
		return true
	}
	return false
}

// mergeSingles joins the single probes of one event (a script's loop
// running a one-port tool, or several /dev/tcp redirections) by tool and
// target into one run; a run of two or more distinct ports is reported as
// such, one probe waits to be joined with others.
func mergeSingles(runs []*clientRun) []*clientRun {
	var out []*clientRun
	byKey := map[string]*clientRun{}
	for _, r := range runs {
		if !r.single {
			out = append(out, r)
			continue
		}
		k := r.tool + "\x00" + r.target
		if m, ok := byKey[k]; ok {
			m.probes = append(m.probes, r.probes...)
			m.payload = m.payload || r.payload
			continue
		}
		c := *r
		c.probes = slices.Clone(r.probes)
		byKey[k] = &c
		out = append(out, &c)
	}
	for _, r := range out {
		if r.single && len(r.probes) > 1 {
			r.single = false
			r.confidence = max(r.confidence, 0.65)
			r.reasons = append(r.reasons, fmt.Sprintf("one command ran %s once per port, %d ports in order", r.tool, len(r.probes)))
		}
	}
	return out
}

func distinct(ps []probe) []probe {
	var out []probe
	for _, p := range ps {
		if !slices.ContainsFunc(out, func(q probe) bool { return q.port == p.port && q.proto == p.proto && q.key == p.key }) {
			out = append(out, p)
		}
	}
	return out
}

// client records a client run or a single probe.
func (d *Process) client(ctx *execCtx, r *clientRun) {
	p, ev := ctx.p, ctx.ev
	if r.single {
		d.probe(ctx, r)
		return
	}
	key := keyOf("client", p.Host, r.tool, r.target, alert.SequenceString(knocksOf(r.probes, 0)), r.attrs["renamed_binary"])
	run, fresh := d.open(key, runClient, ev)
	if fresh {
		d.fill(run, ctx, r)
		for _, pr := range r.probes {
			run.probes = append(run.probes, timedProbe{probe: pr, t: ev.Time, pid: p.PID})
		}
	}
	d.join(run, ctx)
	if ctx.node != (state.Key{}) {
		if i, ok := d.nodes.Peek(ctx.node); ok {
			n := d.nodes.At(i)
			n.run, n.hasRun = key, true
		}
	}
}

// probe joins a single probe to the probes of the same tool from the same
// endpoint at the same target, or to the client run that started it.
func (d *Process) probe(ctx *execCtx, r *clientRun) {
	p, ev := ctx.p, ctx.ev
	// A child of a reported run (the nc of a shell loop) is its evidence.
	for _, pid := range [...]int64{p.PPID, p.PID} {
		if pid == 0 {
			continue
		}
		i, ok := d.nodes.Peek(keyOf("node", p.Host, strconv.FormatInt(pid, 10)))
		if !ok || !d.nodes.At(i).hasRun {
			continue
		}
		if j, ok := d.runs.Peek(d.nodes.At(i).run); ok {
			if run := d.runs.At(j); run.target == r.target {
				d.addEvidence(run, ev)
				return
			}
		}
	}
	key := keyOf("probes", p.Host, r.tool, r.target)
	if i, ok := d.runs.Peek(key); ok {
		run := d.runs.At(i)
		gap := ev.Time - run.last
		if gap < 0 {
			gap = run.first - ev.Time
		}
		if gap > int64(d.seq.MaxGap) {
			d.finish(i)
		}
	}
	run, fresh := d.open(key, runProbes, ev)
	if fresh {
		d.fill(run, ctx, r)
		run.runs = 0
	}
	for _, tp := range run.probes {
		if p.PID != 0 && tp.pid == p.PID {
			d.addEvidence(run, ev) // the wrapper and the program of one run
			return
		}
	}
	if len(run.probes) < 4*burstCap {
		for _, pr := range r.probes {
			run.probes = append(run.probes, timedProbe{probe: pr, t: ev.Time, pid: p.PID})
		}
	}
	run.payload = run.payload || r.payload
	for k, v := range r.attrs {
		if k != "command_line" {
			run.attrs[k] = v
		}
	}
	d.join(run, ctx)
}

// open finds or makes the run of key.
func (d *Process) open(key state.Key, kind runKind, ev *event.Event) (*procRun, bool) {
	quiet := int64(processQuiet)
	if kind == runProbes {
		quiet = int64(d.seq.MaxGap)
	}
	i, created := d.runs.Insert(key)
	run := d.runs.At(i)
	if !created && (ev.Time-run.last > quiet || run.first-ev.Time > quiet) {
		// The same run again after a quiet spell (events of a batch
		// arrive before the detector's clock moves): report the first.
		d.report(run)
		created = true
	}
	if created {
		d.gen++
		*run = procRun{gen: d.gen, kind: kind, first: ev.Time, last: ev.Time, attrs: map[string]string{}}
	}
	if ev.Time < run.first {
		run.first = ev.Time
	}
	if ev.Time > run.last {
		run.last = ev.Time
	}
	// Reversed or late input still joins: wait from whichever is later,
	// the event or the detector's clock.
	run.deadline = max(ev.Time, d.now) + quiet
	if !run.queued {
		run.queued = true
		d.queue.Push(deadlineItem{deadline: run.deadline, slot: i, gen: run.gen})
	}
	return run, created
}

func (d *Process) fill(run *procRun, ctx *execCtx, r *clientRun) {
	p := ctx.p
	run.host, run.user, run.login = p.Host, p.User, p.LoginUser
	run.tool, run.target = r.tool, r.target
	run.delay = r.delay
	run.source, run.image = p.Source, p.Image
	run.parent = p.ParentImage
	if run.parent == "" && p.PPID != 0 {
		if par, _ := d.ancestry(p); par != "" {
			run.parent = par
		}
	}
	run.cmdline = r.attrs["command_line"]
	for k, v := range r.attrs {
		if k != "command_line" {
			run.attrs[k] = v
		}
	}
	run.reasons = append(run.reasons[:0], r.reasons...)
	run.confidence = r.confidence
	run.technique = r.technique
	run.payload = r.payload
	if a, err := netip.ParseAddr(strings.Trim(r.target, "[]")); err == nil {
		run.dst = a.Unmap()
	}
}

// join adds an exec to a run: a new invocation unless its process (or its
// parent) is one the run has seen.
func (d *Process) join(run *procRun, ctx *execCtx) {
	p := ctx.p
	same := false
	for _, pid := range run.pids {
		if pid != 0 && (pid == p.PID || pid == p.PPID) {
			same = true
		}
	}
	if !same && run.kind != runProbes {
		run.runs++
	}
	if p.PID != 0 && len(run.pids) < maxRunPIDs && !slices.Contains(run.pids, p.PID) {
		run.pids = append(run.pids, p.PID)
	}
	// Several accounts running the same command: name them all.
	if p.User != "" && p.User != run.user && run.user != "" {
		users := run.attrs["users"]
		if users == "" {
			users = run.user
		}
		if !slices.Contains(strings.Split(users, ","), p.User) && len(users) < 256 {
			run.attrs["users"] = users + "," + p.User
		}
	}
	d.addEvidence(run, ctx.ev)
}

func (d *Process) addEvidence(run *procRun, ev *event.Event) {
	run.total++
	if len(run.origins) < alert.MaxEvidence {
		run.origins = append(run.origins, ev.Origin)
	}
	if ev.Time > run.last {
		run.last = ev.Time
	}
}

// Advance reports runs that have been quiet long enough, and forgets old
// processes.
func (d *Process) Advance(now int64) {
	if now > d.now {
		d.now = now
	}
	for d.queue.Len() > 0 {
		top := d.queue.Peek()
		if top.deadline > now {
			break
		}
		d.queue.Pop()
		if !d.runs.Live(top.slot) {
			continue
		}
		run := d.runs.At(top.slot)
		if run.gen != top.gen {
			continue
		}
		run.queued = false
		if run.deadline > now {
			run.queued = true
			d.queue.Push(deadlineItem{deadline: run.deadline, slot: top.slot, gen: run.gen})
			continue
		}
		d.finish(top.slot)
	}
	for n := 0; n < 64; n++ {
		i, ok := d.nodes.Oldest()
		if !ok || now-d.nodes.At(i).t <= int64(processNodeTTL) {
			break
		}
		d.nodes.Delete(i)
	}
	d.sources.Store(int64(d.runs.Len()))
}

// finish reports a run and drops it.
func (d *Process) finish(i int32) {
	d.report(d.runs.At(i))
	d.runs.Delete(i)
}

// Flush reports every pending run, oldest first.
func (d *Process) Flush() {
	var slots []int32
	d.runs.Each(func(i int32) { slots = append(slots, i) })
	slices.SortFunc(slots, func(a, b int32) int {
		ra, rb := d.runs.At(a), d.runs.At(b)
		switch {
		case ra.first != rb.first:
			return int(ra.first - rb.first)
		case ra.gen != rb.gen:
			return int(ra.gen) - int(rb.gen)
		}
		return 0
	})
	for _, i := range slots {
		d.finish(i)
	}
	d.sources.Store(0)
}

func (d *Process) resolve(o event.Origin) string {
	if d.deps.Origins == nil {
		return fmt.Sprintf("input%d:%d", o.Input, o.Index)
	}
	return d.deps.Origins.Resolve(o)
}

// report judges a run and emits its alert.
func (d *Process) report(run *procRun) {
	if run.kind == 0 || d.deps.Emit == nil {
		return
	}
	kind := run.kind
	var a *alert.Alert
	switch kind {
	case runClient:
		a = d.clientAlert(run, knocksOf(probesOf(run.probes), run.delay), run.reasons)
	case runProbes:
		a = d.probesAlert(run)
	case runFirewall:
		a = d.firewallAlert(run)
	case runConfig:
		a = d.configAlert(run)
	}
	run.kind = 0
	if a == nil {
		return
	}
	a.Kind = "alert"
	a.Detector = "process"
	if a.Technique == "" {
		a.Technique = alert.TechniquePortKnocking
	}
	a.FirstSeen = time.Unix(0, run.first).UTC()
	a.LastSeen = time.Unix(0, run.last).UTC()
	a.Time = a.LastSeen
	a.Host = run.host
	if a.Attributes == nil {
		a.Attributes = map[string]string{}
	}
	for k, v := range run.attrs {
		a.Attributes[k] = v
	}
	a.Attributes["event"] = runEvents[kind]
	setAttr(a, "user", run.user)
	setAttr(a, "login_user", run.login)
	setAttr(a, "command_line", run.cmdline)
	setAttr(a, "parent", run.parent)
	setAttr(a, "image", run.image)
	setAttr(a, "source", run.source)
	if run.runs > 1 {
		a.Attributes["runs"] = strconv.Itoa(run.runs)
		a.Reasons = append(a.Reasons, fmt.Sprintf("run %d times", run.runs))
	}
	a.EvidenceTotal = run.total
	for _, o := range run.origins {
		a.Evidence = append(a.Evidence, d.resolve(o))
	}
	a.Confidence = clamp01(a.Confidence)
	seq := alert.SequenceString(a.Sequence)
	a.ID = alert.IDOf("process", a.Src, a.Dst, a.FirstSeen, a.Attributes["event"], run.host, run.tool, run.target, run.path, seq)
	d.deps.Emit(a)
}

func setAttr(a *alert.Alert, k, v string) {
	if v != "" {
		a.Attributes[k] = v
	}
}

func probesOf(tp []timedProbe) []probe {
	out := make([]probe, len(tp))
	for i, t := range tp {
		out[i] = t.probe
	}
	return out
}
