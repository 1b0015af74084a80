package event

import "net/netip"

// Host-branch events carry their fields behind a pointer on Event, so the
// network events that make up almost all of a hunt stay small. Their
// decoders allocate per record; those sources are low volume.

// Daemon is a line written by a knock daemon (knockd, fwknopd). Event.Src is
// the knocking address where the line names one (for knockd's "running
// command" line, the address found in the expanded command); Event.Dst is
// the daemon host's address where the carrier gives it (a syslog HOSTNAME
// that is an address, Sentinel's HostIP). The strings alias the logged
// message, so they cost one copy per line, not one per field.
type Daemon struct {
	// Program is "knockd" or "fwknopd".
	Program string
	// Host is the host that logged the line (syslog HOSTNAME), if known.
	// knockd's own LogFile names no host.
	Host string
	// What is the kind of message (the Daemon* constants).
	What string
	// Door is knockd's door (section) name, or fwknopd's access.conf
	// stanza as "stanza #N".
	Door string
	// Stage is knockd's stage number (1-based) where the line has one.
	Stage int
	// Code is an exit status (knockd's non-zero status line, fwknopd's
	// CMD_EXEC result) or, for a replay, the destination port.
	Code int
	// SrcName is the knocker's reverse-DNS name (knockd -l).
	SrcName string
	// Command is the command a daemon ran (expanded), Rule the firewall
	// rule it added or removed: the iptables/nft/ufw/firewall-cmd
	// arguments of a knockd command, fwknopd's "access rule to CHAIN for
	// SRC -> DST PROTO/PORT" or the number of a removed rule.
	Command string
	Rule    string
	// Access is what fwknopd opened ("tcp/22" or "tcp/22,udp/53").
	Access string
	// Expires is when an added (or removed) fwknopd rule expires, Unix ns;
	// 0 if unknown.
	Expires int64
	// Other is a second address the line names: the original sender of a
	// packet fwknopd reports as replayed.
	Other netip.Addr
	// Detail is the reason text of a failure (fwknopd's fko error).
	Detail string
	// Message is the message text as logged.
	Message string
}

// What values of Daemon events.
const (
	DaemonStart           = "start"            // knockd starting up; fwknopd Starting / main loop
	DaemonStop            = "stop"             // shutting down
	DaemonReload          = "reload"           // SIGHUP re-read
	DaemonSetup           = "setup"            // interface, pcap filter, jump rule
	DaemonError           = "error"            // an error the daemon reports about itself
	DaemonConfigError     = "config_error"     // knockd: error in a door's section
	DaemonDoorDisabled    = "door_disabled"    // knockd: one-time sequences used up
	DaemonStage           = "stage"            // knockd: correct hit N of a door
	DaemonOpen            = "open"             // knockd: OPEN SESAME
	DaemonCommand         = "command"          // a daemon ran a command
	DaemonCommandFailed   = "command_failed"   // knockd: non-zero status
	DaemonCommandTimeout  = "command_timeout"  // knockd: cmd_timeout elapsed (stop command next)
	DaemonSequenceTimeout = "sequence_timeout" // knockd: an unfinished attempt expired: a failure
	DaemonSPAPacket       = "spa_packet"       // fwknopd: packet matched a stanza's SOURCE (not yet accepted)
	DaemonNoAccess        = "no_access"        // fwknopd: no stanza covers the sender
	DaemonRuleAdded       = "rule_added"       // fwknopd: access granted
	DaemonRuleRemoved     = "rule_removed"     // fwknopd: rule expired and removed
	DaemonReplay          = "replay"           // fwknopd: replayed packet
	DaemonDecryptFailed   = "decrypt_failed"   // fwknopd: wrong key or garbage
	DaemonDigestFailed    = "digest_failed"    // fwknopd: HMAC mismatch
	DaemonSPARejected     = "spa_rejected"     // fwknopd: decrypted but refused (age, user, ports, ...)
)

// Process is a process-creation (or file) event on an endpoint. Decoders
// fill what their source records and leave the rest empty; detectors parse
// Argv (or CommandLine when the source has no vector), never substrings.
type Process struct {
	// Source names the format that recorded the event ("auditd",
	// "sysmon", "defender", "ecs").
	Source string
	// Host is the endpoint's name as the source gives it (auditd's node=,
	// Sysmon's Computer, Defender's DeviceName, ECS host.name).
	Host string
	// User is the account the process ran as (a name, or a numeric uid
	// where the source has no name); LoginUser the account that logged in
	// (auditd's auid), where it differs from User or User is unknown.
	User      string
	LoginUser string
	PID       int64
	PPID      int64
	// Image is the executable path; OriginalName the file name recorded in
	// the binary where the source gives it (renamed binaries).
	Image        string
	OriginalName string
	// Argv is the argument vector, Argv[0] included, as the source gives it.
	Argv []string
	// CommandLine is the raw command line where the source only has a string.
	CommandLine string
	// WorkingDir is the process's current directory, for relative paths.
	WorkingDir        string
	ParentImage       string
	ParentCommandLine string
	// GrandparentImage is the parent's parent where the source records it
	// (Defender's InitiatingProcessParentFileName): knockd → sh → iptables.
	GrandparentImage string
	// Operation is OpExec for process creation, OpWrite or OpDelete for a
	// file event.
	Operation string
	// FilePath is the file written or deleted, for file events.
	FilePath string
}

// Operations of Process events.
const (
	OpExec   = "exec"
	OpWrite  = "write"
	OpDelete = "delete"
)
