// Package daemonlab holds the end-to-end tests of the knock-daemon branch:
// they run the real knockd and fwknopd (Debian packages knockd,
// fwknop-server) in a network namespace they create, knock them with the
// real clients (knock, fwknop), collect what the daemons log (knockd's own
// LogFile, and both daemons' syslog through a private rsyslogd) and hunt
// over it. The package has no code of its own; see lab_test.go.
//
// How the syslog lines are captured: neither daemon can be told where
// syslog(3) writes, and the machine may have no /dev/log. Each daemon runs
// under `ip netns exec NS unshare -m` with a private /dev: a directory
// holding bind mounts of /dev/null, /dev/zero, /dev/random, /dev/urandom and
// /dev/tty plus a symlink "log" to the Unix socket of an rsyslogd started
// for the test (imuxsock on that socket, localHostname "gw01"). The same
// rsyslogd writes each message in four templates: RFC 3164 file format,
// RFC 3339 file format, RFC 3164 with <PRI>, and RFC 5424. Nothing outside
// the test's namespaces and temporary folder is touched.
package daemonlab
