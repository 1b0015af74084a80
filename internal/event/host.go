package event

// Host-branch events carry their fields behind a pointer on Event, so the
// network events that make up almost all of a hunt stay small. Their
// decoders allocate per record; those sources are low volume.

// Daemon is a line written by a knock daemon (knockd, fwknopd). Event.Src is
// the knocking address where the line names one.
type Daemon struct {
	// Program is "knockd" or "fwknopd".
	Program string
	// Host is the host that logged the line (syslog HOSTNAME), if known.
	Host string
	// What is the kind of message, e.g. "stage", "open", "command",
	// "command_timeout", "sequence_timeout", "spa_accepted", "rule_added",
	// "rule_removed", "replay", "decrypt_failed", "digest_failed", "start".
	What string
	// Door is knockd's door (section) name or fwknopd's stanza.
	Door string
	// Stage is knockd's stage number (1-based) where the line has one.
	Stage int
	// Command is the command a daemon ran (expanded), Rule the firewall
	// rule it added or removed.
	Command string
	Rule    string
	// Expires is when an added rule expires (Unix ns), 0 if unknown.
	Expires int64
	// Message is the message text as logged.
	Message string
}

// Process is a process-creation (or file) event on an endpoint.
type Process struct {
	// Host is the endpoint's name.
	Host string
	User string
	PID  int64
	PPID int64
	// Image is the executable path; OriginalName the file name recorded in
	// the binary where the source gives it (renamed binaries).
	Image        string
	OriginalName string
	// Argv is the argument vector, Argv[0] included, as the source gives it.
	Argv []string
	// CommandLine is the raw command line where the source only has a string.
	CommandLine       string
	ParentImage       string
	ParentCommandLine string
	// Operation is "exec" for process creation, "write" for a file write.
	Operation string
	// FilePath is the file written, for file events.
	FilePath string
}
