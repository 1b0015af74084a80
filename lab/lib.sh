# shellcheck shell=bash
# lib.sh: the knockwatch lab. Sourced by lab.sh and by every scenario script.
#
# It builds a small network of network namespaces on this machine, runs real
# knockd, fwknopd, tcpdump and a logging default-drop firewall on the
# protected host, lets a scenario act from the client, scanner and prober
# namespaces, and writes what the protected host recorded plus ground-truth
# labels into an output folder. Everything it creates is removed on exit,
# also on failure or interrupt (trap).
#
#   rt (router)         203.0.113.1  ── eth0 203.0.113.10  gw (protected host)
#     br0 198.51.100.1  ── c1 198.51.100.7, c2 198.51.100.8      (clients)
#     br1 192.0.2.1     ── scan 192.0.2.66, probe 192.0.2.20     (scanner, prober)
#
# No namespace is connected to the machine's own network: there is no route out.

set -Eeuo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GW_IP=203.0.113.10
RT_GW_IP=203.0.113.1
C1_IP=198.51.100.7
C2_IP=198.51.100.8
SCAN_IP=192.0.2.66
PROBE_IP=192.0.2.20
SSH_PORT=22   # the guarded service (opened by knockd and fwknopd)
WEB_PORT=80   # an open service (health checks, normal use)
FWKNOP_PORT=62201

# Debian packages the lab uses (lab.sh install).
LAB_PACKAGES=(iproute2 iptables knockd fwknop-server fwknop-client tcpdump nmap hping3 masscan ncat curl iputils-ping util-linux procps)

log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ns NAME prints the namespace name of a lab role.
ns() { printf 'kw%s%s' "$LAB_ID" "$1"; }
# in_ns ROLE CMD... runs a command inside a role's namespace. It runs as
# a background job that the shell waits for: bash runs a trap only after a
# foreground command ends, but interrupts a wait at once, so SIGTERM or
# SIGINT tears the lab down even in the middle of a 16-second knock.
in_ns() {
	local r=$1
	shift
	# <&0: a background job's stdin is otherwise /dev/null, and commands
	# such as iptables-restore read theirs.
	ip netns exec "$(ns "$r")" "$@" <&0 &
	wait "$!"
}

now_ns() { date +%s%N; }
# iso NS prints a Unix-nanosecond time as RFC 3339 UTC with microseconds.
iso() { local t=$1; printf '%s.%06dZ' "$(date -u -d "@$((t / 1000000000))" +%Y-%m-%dT%H:%M:%S)" "$(((t % 1000000000) / 1000))"; }

LAB_PIDS=()
LAB_NETNS=()
LAB_UP=0

lab_require() {
	[[ $EUID -eq 0 ]] || die "the lab needs root (network namespaces, iptables, raw sockets)"
	local missing=()
	for t in ip iptables iptables-restore knockd knock fwknopd fwknop tcpdump nmap hping3 masscan ncat curl ping dmesg; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (run: $LAB_DIR/lab.sh install)"
}

# bg ROLE LOGFILE CMD... starts a daemon in a namespace and remembers its pid.
bg() {
	local r=$1 out=$2
	shift 2
	ip netns exec "$(ns "$r")" "$@" >>"$out" 2>&1 &
	LAB_PIDS+=($!)
}

lab_up() {
	lab_require
	OUT=${OUT:?OUT must name the output folder}
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	LAB_ID=${LAB_ID:-$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')}
	RUN=$(mktemp -d "/tmp/kwlab-$LAB_ID.XXXXXX")
	# The log prefix carries the run id so concurrent labs never read each
	# other's lines; DROP/ACCEPT name the verdict for log readers.
	DROP_PREFIX="kw$LAB_ID DROP "
	ACCEPT_PREFIX="kw$LAB_ID ACCEPT "
	LAB_UP=1
	log "run $LAB_ID: building namespaces"

	local r
	for r in gw rt c1 c2 scan probe; do
		ip netns add "$(ns "$r")"
		LAB_NETNS+=("$(ns "$r")")
		# IPv6 off: no router solicitations or MLD reports in the capture.
		in_ns "$r" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		in_ns "$r" ip link set lo up
	done
	# gw <-> rt
	ip link add eth0 netns "$(ns gw)" type veth peer name gw0 netns "$(ns rt)"
	# rt bridges for the clients' and the scanners' networks
	in_ns rt ip link add br0 type bridge
	in_ns rt ip link add br1 type bridge
	local role br
	for role in c1:br0 c2:br0 scan:br1 probe:br1; do
		r=${role%%:*} br=${role#*:}
		ip link add eth0 netns "$(ns "$r")" type veth peer name "p$r" netns "$(ns rt)"
		in_ns rt ip link set "p$r" master "$br" up
	done
	in_ns rt ip addr add "$RT_GW_IP/24" dev gw0
	in_ns rt ip addr add 198.51.100.1/24 dev br0
	in_ns rt ip addr add 192.0.2.1/24 dev br1
	in_ns rt ip link set gw0 up
	in_ns rt ip link set br0 up
	in_ns rt ip link set br1 up
	in_ns rt sysctl -qw net.ipv4.ip_forward=1
	local addr
	for role in gw:$GW_IP:$RT_GW_IP c1:$C1_IP:198.51.100.1 c2:$C2_IP:198.51.100.1 scan:$SCAN_IP:192.0.2.1 probe:$PROBE_IP:192.0.2.1; do
		IFS=: read -r r addr via <<<"$role"
		in_ns "$r" ip addr add "$addr/24" dev eth0
		in_ns "$r" ip link set eth0 up
		in_ns "$r" ip route add default via "$via"
	done

	lab_firewall
	lab_kernel_log
	lab_services
	lab_daemons
	lab_capture
	# No warm-up traffic: whatever the capture holds is the scenario's own
	# (a ping to settle ARP would sit in front of every knock).
	sleep 1
	log "run $LAB_ID: lab is up (gw $GW_IP, output $OUT)"
}

# lab_firewall installs the protected host's firewall: default drop, every
# dropped packet logged with DROP_PREFIX, every new accepted connection
# logged with ACCEPT_PREFIX (in the security table, which sees a packet only
# after filter/INPUT accepted it, so it logs exactly what got in).
lab_firewall() {
	in_ns gw iptables-restore <<EOF
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:KNOCKD - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -j KNOCKD
-A INPUT -p tcp --dport $WEB_PORT -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -j ACCEPT
-A INPUT -j LOG --log-prefix "$DROP_PREFIX"
-A INPUT -j DROP
COMMIT
*security
:INPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate NEW -p tcp --syn -j LOG --log-prefix "$ACCEPT_PREFIX"
-A INPUT -m conntrack --ctstate NEW -p udp -j LOG --log-prefix "$ACCEPT_PREFIX"
COMMIT
EOF
	# Refuse to run a scenario against a host whose firewall is not there.
	in_ns gw iptables -S INPUT | grep -qF -- "--log-prefix \"$DROP_PREFIX\"" ||
		die "the protected host's firewall was not installed"
	in_ns gw iptables -t security -S INPUT | grep -qF -- "--log-prefix \"$ACCEPT_PREFIX\"" ||
		die "the protected host's accept logging was not installed"
}

# lab_kernel_log makes the kernel log netfilter lines from non-initial
# namespaces (restored on exit) and follows new kernel messages. The LOG
# target writes to the kernel ring buffer; following it with dmesg -W from
# the start means a long scan cannot overflow the buffer before it is read,
# and the run's unique prefix filters out everyone else's lines.
lab_kernel_log() {
	nflog_hold
	dmesg --follow-new >"$RUN/kmsg" 2>"$RUN/dmesg.err" &
	DMESG_PID=$!
	sleep 0.2
	# Anchor kernel uptime stamps to the wall clock: write a marker and read
	# its stamp back. printk's clock and the realtime clock agree to well
	# under a millisecond over a run.
	local t0 t1 stamp
	t0=$(now_ns)
	echo "kwlab $LAB_ID clock mark" >/dev/kmsg
	t1=$(now_ns)
	stamp=$(dmesg | grep -F "kwlab $LAB_ID clock mark" | tail -1 | sed -E 's/^\[ *([0-9]+)\.([0-9]+)\].*/\1\2/')
	[[ -n $stamp ]] || die "could not read the kernel clock mark back"
	# stamp is microseconds of uptime (seconds and the 6-digit fraction).
	BOOT_NS=$(((t0 + t1) / 2 - 10#$stamp * 1000))
}

# nflog_hold and nflog_release share net.netfilter.nf_log_all_netns between
# labs running at once (the corpus recorder and the e2e test, say): the
# first lab saves the original value and sets 1, the last one restores it.
NFLOG_STATE=/run/kwlab-nflog
nflog_hold() {
	mkdir -p "$NFLOG_STATE/holders"
	(
		flock 9
		if [[ -z $(ls -A "$NFLOG_STATE/holders") ]]; then
			sysctl -n net.netfilter.nf_log_all_netns >"$NFLOG_STATE/saved"
		fi
		: >"$NFLOG_STATE/holders/$LAB_ID.$$"
		sysctl -qw net.netfilter.nf_log_all_netns=1
	) 9>"$NFLOG_STATE/lock"
	NFLOG_HELD=1
}
nflog_release() {
	[[ ${NFLOG_HELD:-0} == 1 ]] || return 0
	NFLOG_HELD=0
	(
		flock 9
		rm -f "$NFLOG_STATE/holders/$LAB_ID.$$"
		# Holders whose lab died without cleaning up do not count.
		local h
		for h in "$NFLOG_STATE"/holders/*; do
			[[ -e $h ]] || continue
			kill -0 "${h##*.}" 2>/dev/null || rm -f "$h"
		done
		if [[ -z $(ls -A "$NFLOG_STATE/holders") && -s $NFLOG_STATE/saved ]]; then
			sysctl -qw net.netfilter.nf_log_all_netns="$(<"$NFLOG_STATE/saved")"
			rm -f "$NFLOG_STATE/saved"
		fi
	) 9>"$NFLOG_STATE/lock"
}

lab_services() {
	# The guarded service and the open web service: tiny TCP listeners.
	bg gw "$RUN/ncat-ssh.log" ncat -lk "$GW_IP" "$SSH_PORT" --sh-exec 'echo SSH-2.0-kwlab'
	bg gw "$RUN/ncat-web.log" ncat -lk "$GW_IP" "$WEB_PORT" --sh-exec 'printf "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok\r\n"'
}

lab_daemons() {
	cat >"$RUN/knockd.conf" <<EOF
[options]
	LogFile = $OUT/knockd.log
	Interface = eth0

[openSSH]
	sequence      = 7000,8000,9000
	tcpflags      = syn
	start_command = iptables -I KNOCKD -s %IP% -p tcp --dport $SSH_PORT -j ACCEPT
	cmd_timeout   = 15
	stop_command  = iptables -D KNOCKD -s %IP% -p tcp --dport $SSH_PORT -j ACCEPT

[openSSHudp]
	sequence      = 8284:udp,4721:udp,18592:udp,42912:udp
	seq_timeout   = 10
	start_command = iptables -I KNOCKD -s %IP% -p tcp --dport $SSH_PORT -j ACCEPT
	cmd_timeout   = 15
	stop_command  = iptables -D KNOCKD -s %IP% -p tcp --dport $SSH_PORT -j ACCEPT

[openSSHmixed]
	sequence      = 2222:udp,3333:tcp,4444:udp
	seq_timeout   = 15
	tcpflags      = syn
	start_command = iptables -I KNOCKD -s %IP% -p tcp --dport $SSH_PORT -j ACCEPT
	cmd_timeout   = 15
	stop_command  = iptables -D KNOCKD -s %IP% -p tcp --dport $SSH_PORT -j ACCEPT
EOF
	cp "$RUN/knockd.conf" "$OUT/knockd.conf"
	: >"$OUT/knockd.log"
	bg gw "$RUN/knockd.out" knockd -i eth0 -c "$RUN/knockd.conf" -p "$RUN/knockd.pid"

	# fwknopd: one stanza, keys made for this run (never committed), SPA on
	# the default UDP port, sniffed with libpcap on eth0.
	mkdir -p "$RUN/fwknop"
	fwknop --key-gen >"$RUN/keys"
	FW_KEY=$(sed -n 's/^KEY_BASE64:[[:space:]]*//p' "$RUN/keys")
	FW_HMAC=$(sed -n 's/^HMAC_KEY_BASE64:[[:space:]]*//p' "$RUN/keys")
	[[ -n $FW_KEY && -n $FW_HMAC ]] || die "fwknop --key-gen gave no keys"
	cat >"$RUN/fwknopd.conf" <<EOF
PCAP_INTF                   eth0;
ENABLE_PCAP_PROMISC         N;
FWKNOP_RUN_DIR              $RUN/fwknop;
EOF
	cat >"$RUN/access.conf" <<EOF
SOURCE                      ANY
OPEN_PORTS                  tcp/$SSH_PORT
KEY_BASE64                  $FW_KEY
HMAC_KEY_BASE64             $FW_HMAC
EOF
	chmod 600 "$RUN/fwknopd.conf" "$RUN/access.conf"
	: >"$OUT/fwknopd.log"
	# Foreground mode (-f) keeps the daemon ours to stop; fwknopd then writes
	# its log messages to stderr without a timestamp. stamp_lines gives each
	# the time it arrived, in rsyslog's RFC 3339 file format, so the file
	# reads like the daemon's syslog lines.
	mkfifo "$RUN/fwknopd.fifo"
	stamp_lines lab-gw fwknopd <"$RUN/fwknopd.fifo" >>"$OUT/fwknopd.log" &
	STAMP_PID=$!
	bg gw "$RUN/fwknopd.fifo" fwknopd -f -i eth0 -c "$RUN/fwknopd.conf" -a "$RUN/access.conf" \
		-d "$RUN/fwknop/digest.cache" -p "$RUN/fwknop/fwknopd.pid"
	echo "${LAB_PIDS[-1]}" >"$RUN/fwknopd.pid"
	local i
	for i in $(seq 50); do
		grep -q 'main event loop' "$OUT/fwknopd.log" 2>/dev/null && grep -q 'starting up' "$OUT/knockd.log" 2>/dev/null && return 0
		sleep 0.1
	done
	die "knockd or fwknopd did not start (see $OUT/knockd.log, $OUT/fwknopd.log, $RUN/knockd.out)"
}

# stamp_lines HOST TAG: prefixes each line of stdin with its arrival time,
# HOST and TAG[pid]: as rsyslog's RSYSLOG_FileFormat writes a daemon line.
stamp_lines() {
	local host=$1 tag=$2 line pid=
	while IFS= read -r line; do
		[[ -z $pid && -s $RUN/$tag.pid ]] && pid=$(<"$RUN/$tag.pid")
		printf '%s %s %s[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)" "$host" "$tag" "$pid" "$line"
	done
}

lab_capture() {
	# Immediate mode: packets reach tcpdump as they arrive, not a buffer
	# block at a time, so stopping the capture loses none; a 32 MB kernel
	# buffer (-B) absorbs a scanner's burst on a busy machine, and tcpdump
	# flushes its own buffer when it is stopped with SIGINT.
	bg gw "$RUN/tcpdump.err" tcpdump -i eth0 -n --immediate-mode -B 32768 -Z root -s 262144 -w "$OUT/capture.pcap"
	TCPDUMP_PID=${LAB_PIDS[-1]}
	local i
	for i in $(seq 50); do
		grep -q 'listening on' "$RUN/tcpdump.err" 2>/dev/null && return 0
		sleep 0.1
	done
	die "tcpdump did not start: $(cat "$RUN/tcpdump.err")"
}

# lab_down stops everything the lab started and removes every namespace
# (which removes their veths, bridges and firewall rules). It runs from the
# EXIT trap, so it must not fail half-way.
lab_down() {
	local rc=$?
	((LAB_UP)) || return "$rc"
	LAB_UP=0
	set +e
	# Give the last packets time to reach the capture and the kernel log.
	sleep 0.5
	if [[ -n ${TCPDUMP_PID:-} ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; fi
	sleep 0.3
	local p n
	for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	# Processes the daemons forked inside our namespaces (knockd's
	# stop-command timers, ncat handlers) are ours too: end them by pid.
	for n in "${LAB_NETNS[@]}"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	for p in "${LAB_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	# The log readers go last, so they keep the daemons' final lines.
	sleep 0.2
	if [[ -n ${DMESG_PID:-} ]]; then kill "$DMESG_PID" 2>/dev/null; wait "$DMESG_PID" 2>/dev/null; fi
	if [[ -n ${STAMP_PID:-} ]]; then kill "$STAMP_PID" 2>/dev/null; wait "$STAMP_PID" 2>/dev/null; fi
	nflog_release
	if [[ -n ${RUN:-} && -f $RUN/kmsg ]]; then
		# The firewall log: this run's kernel lines as dmesg prints them.
		grep -F "] kw$LAB_ID " "$RUN/kmsg" >"$OUT/fw.log"
		# tcpdump's closing counts (captured, dropped by the kernel).
		grep -E 'packets (captured|received|dropped)' "$RUN/tcpdump.err" >"$OUT/capture.stats" 2>/dev/null
		printf '%s\n' "$(iso "$BOOT_NS")" >"$OUT/boot-time"
	fi
	for n in "${LAB_NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
	[[ -n ${RUN:-} ]] && rm -rf "$RUN"
	log "run ${LAB_ID:-?}: torn down"
	return "$rc"
}

# ---- labels ------------------------------------------------------------

# label_begin starts the interval of one labelled activity.
label_begin() { LABEL_START=$(now_ns); }

# label_end LABEL SRC TOOL SEQUENCE CONNECTED [NOTE] writes one ground-truth
# line for the activity started by label_begin. SEQUENCE is
# "7000/tcp,8000/tcp" or "" (not a sequence); CONNECTED is the service the
# source reached afterwards ("22/tcp") or "".
label_end() {
	local label=$1 src=$2 tool=$3 seq=$4 conn=$5 note=${6:-}
	local end
	end=$(now_ns)
	local seqjson="[]"
	if [[ -n $seq ]]; then seqjson="[\"${seq//,/\",\"}\"]"; fi
	printf '{"scenario":"%s","label":"%s","src":"%s","dst":"%s","start":"%s","end":"%s","tool":"%s","sequence":%s,"connected":%s,"connection":"%s","note":"%s"}\n' \
		"$SCENARIO" "$label" "$src" "$GW_IP" "$(iso "$LABEL_START")" "$(iso "$end")" "$tool" "$seqjson" \
		"$([[ -n $conn ]] && echo true || echo false)" "$conn" "$note" >>"$OUT/labels.jsonl"
}

# ---- actions used by scenarios -------------------------------------------

# connect ROLE PORT: a client opens the guarded or open service the way ssh
# or a browser would (the OS stack, one connection; SYN retransmitted by
# the kernel while unanswered). Succeeds if the service answered.
connect() {
	local r=$1 port=$2
	in_ns "$r" ncat -w 3 --recv-only "$GW_IP" "$port" </dev/null >/dev/null 2>&1
}

# wait_for_second S: sleeps until the wall clock's second-of-minute is S
# (with a 0.2 s margin), so a scenario can start right before a minute ends.
wait_for_second() {
	local want=$1 now sec frac
	now=$(now_ns)
	sec=$(((now / 1000000000) % 60))
	frac=$(((now % 1000000000) / 1000000))
	local wait_ms=$((((want - sec + 60) % 60) * 1000 - frac))
	((wait_ms < 200)) && wait_ms=$((wait_ms + 60000))
	sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
}

# ---- entry point for scenario scripts -------------------------------------

# lab_main [OUTDIR]: runs the calling script's scenario function in a fresh
# lab and writes its outputs to OUTDIR (default lab/out/<scenario>).
lab_main() {
	SCENARIO=${SCENARIO:-$(basename "$0" .sh)}
	OUT=${1:-${OUT:-$LAB_DIR/out/$SCENARIO}}
	rm -rf "$OUT"
	mkdir -p "$OUT"
	trap lab_down EXIT
	trap 'exit 130' INT TERM
	lab_up
	log "scenario $SCENARIO"
	scenario
	# Quiet time after the last action, so daemons log their timeouts and a
	# live sensor would have judged the last sequence.
	sleep "${LAB_TAIL:-3}"
	lab_meta
}

lab_meta() {
	printf '{"scenario":"%s","run":"%s","protected_host":"%s","interface":"eth0","drop_prefix":"%s","accept_prefix":"%s","kernel":"%s","knockd":"%s","fwknopd":"%s","nmap":"%s","tcpdump":"%s"}\n' \
		"$SCENARIO" "$LAB_ID" "$GW_IP" "$DROP_PREFIX" "$ACCEPT_PREFIX" "$(uname -r)" \
		"$(dpkg-query -W -f '${Version}' knockd 2>/dev/null)" "$(dpkg-query -W -f '${Version}' fwknop-server 2>/dev/null)" \
		"$(dpkg-query -W -f '${Version}' nmap 2>/dev/null)" "$(dpkg-query -W -f '${Version}' tcpdump 2>/dev/null)" >"$OUT/meta.json"
}
