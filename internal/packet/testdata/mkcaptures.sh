#!/usr/bin/env bash
# mkcaptures.sh [NAME...]: record the packet captures under captures/ with
# real tools (knockd + knock, fwknopd + fwknop, nmap, masscan, hping3) in two
# network namespaces this script creates and removes. Each capture gets its
# own folder with capture.pcap (or .pcapng) and a README.md listing the exact
# commands that made it. Without arguments every capture is recorded.
#
# Needs root and the Debian packages knockd fwknop-server fwknop-client nmap
# masscan hping3 tcpdump netcat-openbsd iptables iproute2, plus dumpcap
# (wireshark-common) for the pcapng capture, tcprewrite (tcpreplay) for the
# VLAN one and python3 to hold the tun device open. Nothing leaves the namespaces:
# they are joined by one veth pair and have no route anywhere else.
#
# Layout (one run; <id> is 4 random hex digits):
#
#   kw<id>c "client"                          kw<id>s "server" (protected host)
#   kw<id>vc ---------------- veth ---------------- kw<id>vs
#     198.51.100.7/32, 198.51.100.66/32        203.0.113.10/32
#     2001:db8::7/128                          2001:db8::10/128
#                                              kw<id>t tun 192.0.2.10/32
#
# The kernel this was written on has no 802.1Q, IP-in-IP or tc modules, so
# the VLAN capture is a veth capture whose frames tcprewrite (tcpreplay) tags,
# and the raw-IP capture is taken on a tun device.
set -Eeuo pipefail
umask 022

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/captures
ID=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
C=kw${ID}c
S=kw${ID}s
VC=kw${ID}vc
VS=kw${ID}vs
TUN=kw${ID}t
RUN=$(mktemp -d /tmp/kwcap.XXXXXX)
PIDS=()

CLIENT=198.51.100.7
REPLAYER=198.51.100.66
SERVER=203.0.113.10

log() { printf '[mkcaptures] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for n in "$C" "$S"; do
		if ip netns list | grep -qw "$n"; then
			for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
			ip netns del "$n"
		fi
	done
	[[ -n ${KEEP:-} ]] && log "kept $RUN" || rm -rf "$RUN"
}
trap cleanup EXIT

[[ $EUID -eq 0 ]] || die "needs root"
for t in ip iptables knockd knock fwknopd fwknop nmap masscan hping3 tcpdump nc dumpcap tcprewrite python3; do
	command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || die "missing $t"
done

inc() { ip netns exec "$C" "$@"; }
ins() { ip netns exec "$S" "$@"; }

# README bookkeeping: every command a capture runs is recorded as it runs.
README=
readme_begin() {
	README=$OUT/$1/README.md
	mkdir -p "$OUT/$1"
	{
		echo "# $1"
		echo
		echo "$2"
		echo
		echo "Made by \`internal/packet/testdata/mkcaptures.sh $1\` on $(date -u +%Y-%m-%d) ($(uname -sr);"
		echo "Debian packages: knockd $(dpkg-query -W -f '${Version}' knockd), fwknop $(dpkg-query -W -f '${Version}' fwknop-client),"
		echo "nmap $(dpkg-query -W -f '${Version}' nmap), masscan $(dpkg-query -W -f '${Version}' masscan), hping3 $(dpkg-query -W -f '${Version}' hping3),"
		echo "tcpdump $(dpkg-query -W -f '${Version}' tcpdump), dumpcap $(dpkg-query -W -f '${Version}' wireshark-common 2>/dev/null || echo none))."
		echo "Two network namespaces joined by a veth pair (see the layout at the top of the"
		echo "script): \"client\" at $CLIENT (also $REPLAYER, 2001:db8::7) and \"server\", the"
		echo "protected host, at $SERVER (2001:db8::10). Commands in order, each run in the"
		echo "namespace named before it:"
		echo
		echo '```'
	} >"$README"
}
note() { printf '%s\n' "$*" >>"$README"; }
readme_end() {
	{
		echo '```'
		echo
		if [[ -n ${2:-} ]]; then echo "$2"; echo; fi
		echo "Expected: $1"
	} >>"$README"
}
# run ROLE CMD...: record and run a command in the client or server.
run() {
	local role=$1
	shift
	local shown="$*"
	note "($role) ${shown//$RUN\//}"
	case $role in
	client) inc "$@" ;;
	server) ins "$@" ;;
	*) die "role $role" ;;
	esac
}
# bg ROLE CMD...: record and start a background command (stopped at the end).
bg() {
	local role=$1
	shift
	local shown="$*"
	note "($role) ${shown//$RUN\//} &"
	case $role in
	client) inc "$@" >>"$RUN/bg.log" 2>&1 & ;;
	server) ins "$@" >>"$RUN/bg.log" 2>&1 & ;;
	esac
	PIDS+=($!)
}
stop_bg() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	PIDS=()
	# What the background commands started inside the namespaces
	# (knockd, nc, fwknopd) goes too, so no capture sees the last one's.
	for n in "$C" "$S"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	sleep 0.3
}

net_up() {
	ip netns add "$C"
	ip netns add "$S"
	for n in "$C" "$S"; do
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
		ip netns exec "$n" ip link set lo up
	done
	ip link add "$VC" netns "$C" type veth peer name "$VS" netns "$S"
	inc ip addr add "$CLIENT/32" dev "$VC"
	inc ip addr add "$REPLAYER/32" dev "$VC"
	inc ip addr add 2001:db8::7/128 dev "$VC" nodad
	ins ip addr add "$SERVER/32" dev "$VS"
	ins ip addr add 2001:db8::10/128 dev "$VS" nodad
	inc ip link set "$VC" up
	ins ip link set "$VS" up
	inc ip route add "$SERVER/32" dev "$VC" src "$CLIENT"
	inc ip -6 route add 2001:db8::10/128 dev "$VC"
	ins ip route add 198.51.100.0/24 dev "$VS"
	ins ip -6 route add 2001:db8::7/128 dev "$VS"
	# Let the neighbours resolve before any capture starts.
	inc ping -c1 -W1 "$SERVER" >/dev/null
	inc ping -6 -c1 -W1 2001:db8::10 >/dev/null
}

# A default-drop firewall as knockd guides set up: only established traffic
# and what a knock opens get in. Knocks then see no answer at all.
firewall_drop() {
	run server iptables -P INPUT DROP
	run server iptables -A INPUT -i lo -j ACCEPT
	run server iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	run server iptables -A INPUT -p icmp -j ACCEPT
}
firewall_open() {
	ins iptables -P INPUT ACCEPT
	ins iptables -F INPUT
}

knockd_up() {
	cat >"$RUN/knockd.conf" <<EOF
[options]
	LogFile = $RUN/knockd.log

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 10
	tcpflags    = syn
	command     = /usr/sbin/iptables -I INPUT 1 -s %IP% -p tcp --dport 22 -j ACCEPT

[openSSHudp]
	sequence    = 2222:udp,3333:udp,4444:udp
	seq_timeout = 10
	command     = /usr/sbin/iptables -I INPUT 1 -s %IP% -p tcp --dport 22 -j ACCEPT
EOF
	note "# knockd.conf: doors openSSH 7000,8000,9000 (tcpflags=syn) and openSSHudp"
	note "# 2222:udp,3333:udp,4444:udp, both running"
	note "#   /usr/sbin/iptables -I INPUT 1 -s %IP% -p tcp --dport 22 -j ACCEPT"
	bg server knockd -i "${1:-$VS}" -c "$RUN/knockd.conf"
	sleep 1
}

listener() { bg server nc -lk "$1"; sleep 0.3; }

# capture NAME: start tcpdump (or dumpcap with DUMPCAP=1) on the server's
# interface IFACE (default the veth) writing NAME/capture.pcap.
CAPPID=
capture_start() {
	local name=$1 iface=${2:-$VS}
	shift 2 || true
	local file=$OUT/$name/capture.pcap
	rm -f "$OUT/$name"/capture.*
	note "(server) tcpdump -i $iface -n -U --immediate-mode -B 32768 $* -w capture.pcap &"
	ip netns exec "$S" tcpdump -i "$iface" -n -U --immediate-mode -B 32768 "$@" -w "$file" 2>"$RUN/tcpdump.err" &
	CAPPID=$!
	for _ in $(seq 50); do grep -q 'listening on' "$RUN/tcpdump.err" 2>/dev/null && { sleep 1; return 0; }; sleep 0.1; done
	die "tcpdump did not start: $(cat "$RUN/tcpdump.err")"
}
capture_stop() {
	sleep 1.5
	kill -TERM "$CAPPID"
	wait "$CAPPID" || true
	grep -E 'packets (captured|received by filter|dropped by kernel)' "$RUN/tcpdump.err" | sed 's/^/# tcpdump: /' >>"$README" || true
	grep -q '^0 packets captured' "$RUN/tcpdump.err" && die "$README: nothing captured"
	return 0
}
reset_server() {
	stop_bg
	ins iptables -P INPUT ACCEPT
	ins iptables -F
	ins iptables -X 2>/dev/null || true
	rm -f "$RUN/knockd.log"
}

# ---- captures ----------------------------------------------------------

cap_knock() {
	readme_begin knock "The knock client knocks knockd's door 7000,8000,9000 on a default-drop host."
	firewall_drop
	knockd_up
	capture_start knock "$VS"
	run client knock -v "$SERVER" 7000 8000 9000
	capture_stop
	cp "$RUN/knockd.log" "$OUT/knock/knockd.log"
	readme_end "a sequence alert for 198.51.100.7 -> 203.0.113.10 on 7000/tcp,8000/tcp,9000/tcp (medium); knockd.log beside the capture is knockd's own log of it." \
		"No answer comes to any knock (the firewall drops them), so each is an attempt settled as unanswered after the answer timeout."
	reset_server
}

cap_knock_connect() {
	readme_begin knock-connect "The knock client knocks 7000,8000,9000, knockd opens 22/tcp for the knocker, and the knocker connects."
	firewall_drop
	knockd_up
	listener 22
	capture_start knock-connect "$VS"
	run client knock -v "$SERVER" 7000 8000 9000
	sleep 0.5
	run client nc -z -w 2 "$SERVER" 22 || die "22/tcp did not open"
	capture_stop
	cp "$RUN/knockd.log" "$OUT/knock-connect/knockd.log"
	readme_end "a sequence alert on 7000/tcp,8000/tcp,9000/tcp followed by the connection to 22/tcp (high): knock-then-connect from packets alone (SYN-ACK answers the SYN to 22)."
	reset_server
}

cap_knock_udp() {
	readme_begin knock-udp "The knock client knocks the UDP door 2222,3333,4444 (one NUL byte per datagram), then connects to 22."
	firewall_drop
	knockd_up
	listener 22
	capture_start knock-udp "$VS"
	run client knock -v -u "$SERVER" 2222 3333 4444
	sleep 0.5
	run client nc -z -w 2 "$SERVER" 22 || die "22/tcp did not open"
	capture_stop
	cp "$RUN/knockd.log" "$OUT/knock-udp/knockd.log"
	readme_end "a sequence alert on 2222/udp,3333/udp,4444/udp followed by 22/tcp (high); the UDP hits have the knock client's shape (knock-udp)."
	reset_server
}

cap_knock_rst() {
	readme_begin knock-rst "The knock client knocks three closed ports on a host without a firewall: each SYN is answered by RST. Captured as Linux cooked v1 (tcpdump -i any -y LINUX_SLL)."
	capture_start knock-rst any -y LINUX_SLL
	run client knock -v "$SERVER" 7000 8000 9000
	capture_stop
	readme_end "a sequence alert on 7000/tcp,8000/tcp,9000/tcp (medium), each attempt denied by RST; link type LINUX_SLL."
	reset_server
}

cap_knock_sll2() {
	readme_begin knock-sll2 "The knock client knocks 7000,8000,9000 with a 300 ms delay, captured on all interfaces (tcpdump -i any: Linux cooked v2)."
	firewall_drop
	capture_start knock-sll2 any
	run client knock -v -d 300 "$SERVER" 7000 8000 9000
	capture_stop
	readme_end "a sequence alert on 7000/tcp,8000/tcp,9000/tcp; link type LINUX_SLL2."
	reset_server
}

cap_knock_vlan() {
	readme_begin knock-vlan "The knock client knocks 7000,8000,9000; the veth capture is then tagged with 802.1Q VLAN 100 by tcprewrite (this kernel has no VLAN module, so the tag cannot be on the wire)."
	capture_start knock-vlan "$VS"
	run client knock -v "$SERVER" 7000 8000 9000
	capture_stop
	mv "$OUT/knock-vlan/capture.pcap" "$RUN/untagged.pcap"
	note "tcprewrite --enet-vlan=add --enet-vlan-tag=100 --enet-vlan-cfi=0 --enet-vlan-pri=0 --infile=capture.pcap --outfile=capture.pcap"
	tcprewrite --enet-vlan=add --enet-vlan-tag=100 --enet-vlan-cfi=0 --enet-vlan-pri=0 --infile="$RUN/untagged.pcap" --outfile="$OUT/knock-vlan/capture.pcap"
	readme_end "a sequence alert on 7000/tcp,8000/tcp,9000/tcp (closed ports, RST); every Ethernet frame carries an 802.1Q tag."
	reset_server
}

cap_knock_tun() {
	readme_begin knock-tun "The knock client in the server namespace knocks 192.0.2.7 through a tun device (a python3 process holds it open and discards what it reads); tcpdump on the tun device records bare IP frames."
	note "(server) python3 tunhold.py $TUN &   # TUNSETIFF IFF_TUN|IFF_NO_PI, then read and discard"
	ins python3 -c '
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0001 | 0x1000))
while True:
    os.read(fd, 65536)
' "$TUN" &
	PIDS+=($!)
	for _ in $(seq 50); do ins ip link show "$TUN" >/dev/null 2>&1 && break; sleep 0.1; done
	run server ip addr add 192.0.2.10/32 dev "$TUN"
	run server ip link set "$TUN" up
	for _ in $(seq 50); do ins ip link show "$TUN" | grep -q LOWER_UP && break; sleep 0.1; done
	run server ip route add 192.0.2.7/32 dev "$TUN"
	capture_start knock-tun "$TUN"
	run server knock -v 192.0.2.7 7000 8000 9000
	capture_stop
	readme_end "a sequence alert 192.0.2.10 -> 192.0.2.7 on 7000/tcp,8000/tcp,9000/tcp (unanswered); link type RAW."
	stop_bg
	reset_server
}

cap_knock_ipv6() {
	readme_begin knock-ipv6 "The knock client knocks over IPv6 (knock -6) a default-drop host running knockd."
	run server ip6tables -P INPUT DROP
	run server ip6tables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
	run server ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
	knockd_up
	capture_start knock-ipv6 "$VS"
	run client knock -v -6 2001:db8::10 7000 8000 9000
	capture_stop
	readme_end "a sequence alert 2001:db8::7 -> 2001:db8::10 on 7000/tcp,8000/tcp,9000/tcp."
	ins ip6tables -P INPUT ACCEPT
	ins ip6tables -F
	reset_server
}

cap_knock_pcapng() {
	readme_begin knock-pcapng "dumpcap records the veth and the 'any' pseudo-interface into one pcapng: two interfaces with different link types (Ethernet and Linux cooked v2), while the knock client knocks and connects."
	firewall_drop
	knockd_up
	listener 22
	note "(server) dumpcap -q -i $VS -i any -w capture.pcapng &"
	rm -f "$OUT/knock-pcapng"/capture.*
	ip netns exec "$S" dumpcap -q -i "$VS" -i any -w "$OUT/knock-pcapng/capture.pcapng" 2>"$RUN/dumpcap.err" &
	CAPPID=$!
	sleep 2
	run client knock -v "$SERVER" 7000 8000 9000
	sleep 0.5
	run client nc -z -w 2 "$SERVER" 22 || die "22/tcp did not open"
	sleep 1.5
	kill -TERM "$CAPPID"
	wait "$CAPPID" || true
	readme_end "every packet read with its own interface's link type (none dropped as libpcap's default would): one sequence alert with the connection (each packet appears once per interface, so the alert's evidence holds frames from both)."
	reset_server
}

cap_spa() {
	firewall_drop
	listener 22
	local keys K H
	keys=$(fwknop -k)
	K=$(awk '/^KEY_BASE64/ {print $2}' <<<"$keys")
	H=$(awk '/^HMAC_KEY_BASE64/ {print $2}' <<<"$keys")
	cat >"$RUN/fwknopd.conf" <<EOF
PCAP_INTF               $VS;
FWKNOP_RUN_DIR          $RUN;
ENABLE_IPT_FORWARDING   N;
EOF
	cat >"$RUN/access.conf" <<EOF
SOURCE                  ANY
OPEN_PORTS              tcp/22
KEY_BASE64              $K
HMAC_KEY_BASE64         $H
FW_ACCESS_TIMEOUT       30
EOF
	note "# keys: fresh from 'fwknop -k' (not kept); access.conf: SOURCE ANY, OPEN_PORTS tcp/22,"
	note "# KEY_BASE64, HMAC_KEY_BASE64, FW_ACCESS_TIMEOUT 30; fwknopd.conf: PCAP_INTF <server veth>"
	bg server fwknopd -f -c "$RUN/fwknopd.conf" -a "$RUN/access.conf" -d "$RUN/$1.digest.cache" -p "$RUN/$1.fwknopd.pid"
	sleep 1.5
	capture_start "$1" "$VS"
	note "(client) fwknop --no-rc-file --no-save-args -A tcp/22 -a $CLIENT -D $SERVER --use-hmac --key-base64-rijndael KEY --key-base64-hmac HMAC_KEY -B spa.txt"
	inc fwknop --no-rc-file --no-save-args -A tcp/22 -a "$CLIENT" -D "$SERVER" --use-hmac \
		--key-base64-rijndael "$K" --key-base64-hmac "$H" -B "$RUN/spa.txt" >/dev/null
	sleep 1
	run client nc -z -w 2 "$SERVER" 22 || die "22/tcp did not open"
	if [[ $1 == spa-replay ]]; then
		sleep 1
		# The replay: the exact payload again, from another address.
		note "(client) tr -d '\\\\n' < spa.txt | nc -u -w 1 -s $REPLAYER $SERVER 62201"
		tr -d '\n' <"$RUN/spa.txt" | inc nc -u -w 1 -s "$REPLAYER" "$SERVER" 62201
	fi
	capture_stop
	grep -hE 'SPA Packet from IP|Replay detected|Added access rule' "$RUN/bg.log" | sed 's/^/# fwknopd: /' >>"$README" || true
	stop_bg
	: >"$RUN/bg.log"
	reset_server
}

cap_spa_plain() {
	readme_begin spa "fwknop sends an SPA packet (Rijndael + HMAC-SHA256) to fwknopd, which opens 22/tcp; the client connects."
	cap_spa spa
	readme_end "an spa alert for 198.51.100.7 -> 203.0.113.10 on 62201/udp, followed by the connection to 22/tcp (high)."
}

cap_spa_replay() {
	readme_begin spa-replay "As spa, then the same SPA payload is sent again from another address (a replay of a captured packet)."
	cap_spa spa-replay
	readme_end "the spa alert of the first packet (followed by 22/tcp) and a replay alert (high) for 198.51.100.66 sending the same payload; fwknopd logs the replay too (above)."
}

cap_nmap() {
	readme_begin nmap "nmap SYN scan of 300 ports; 22 is open, the rest closed (answered by RST)."
	listener 22
	capture_start nmap "$VS"
	run client nmap -sS -Pn -n -T4 -p 1-300 "$SERVER"
	capture_stop
	readme_end "no sequence alert of medium or more (a scan finding at info is fine): nmap's 44-byte SYNs, one source port, hundreds of ports."
	reset_server
}

cap_nmap_knockports() {
	readme_begin nmap-knockports "nmap SYN scan of exactly the knock ports 7000,8000,9000 (a scan shaped like the knock)."
	capture_start nmap-knockports "$VS"
	run client nmap -sS -Pn -n -p 7000,8000,9000 "$SERVER"
	capture_stop
	readme_end "no sequence alert of medium or more: three ports, but nmap's packet shape and a single source port say scan."
	reset_server
}

cap_masscan() {
	readme_begin masscan "masscan of 300 ports at 500 packets/s; all closed (RST)."
	local mac
	mac=$(ins cat "/sys/class/net/$VS/address")
	capture_start masscan "$VS"
	run client timeout 20 masscan "$SERVER" -p1-300 --rate 500 --wait 1 --adapter "$VC" --adapter-ip "$CLIENT" --router-mac "$mac" || true
	capture_stop
	readme_end "no sequence alert of medium or more: masscan's 40-byte SYNs to hundreds of ports."
	reset_server
}

cap_hping3_scan() {
	readme_begin hping3-scan "hping3 scan mode over 200 ports; 22 open, the rest closed."
	listener 22
	capture_start hping3-scan "$VS"
	run client hping3 --scan 1-200 -S "$SERVER" || true
	capture_stop
	readme_end "no sequence alert of medium or more."
	reset_server
}

cap_hping3_knock() {
	readme_begin hping3-knock "hping3 used as a knock client: one SYN each to 7000, 8000, 9000 of a default-drop host."
	firewall_drop
	capture_start hping3-knock "$VS"
	for p in 7000 8000 9000; do
		run client hping3 -S -c 1 -p "$p" "$SERVER" || true
	done
	capture_stop
	readme_end "a sequence alert on 7000/tcp,8000/tcp,9000/tcp: hping3's shape is not a scanner's."
	reset_server
}

cap_magic() {
	readme_begin magic-hping3 "Magic-packet triggers built to the published formats and sent with hping3 (payload files written with printf, shown below)."
	local d=$RUN/magic
	mkdir -p "$d"
	# BPFDoor struct magic_packet: flag 72 55 00 00 (UDP/ICMP) or 52 93 00 00
	# (TCP), connect-back ip 198.51.100.7, port 4444, password "justforfun".
	printf '\x72\x55\x00\x00\xc6\x33\x64\x07\x11\x5cjustforfun\x00\x00\x00\x00' >"$d/bpfdoor-udp.bin"
	printf '\x52\x93\x00\x00\xc6\x33\x64\x07\x11\x5cjustforfun\x00\x00\x00\x00' >"$d/bpfdoor-tcp.bin"
	printf 'hax0r \x1c\x9c\x95\x92\x5f\xeb\xe4\xea\x87\xf5 4444\x00' >"$d/reptile.bin"
	printf 'p4ssw0rd 198.51.100.7 4444' >"$d/prism.txt"
	{ printf '\xff\xff\xff\xff\xff\xff'; for _ in $(seq 16); do printf '\x52\x54\x00\x12\x34\x56'; done; } >"$d/wol.bin"
	note "# printf '\\x72\\x55\\x00\\x00\\xc6\\x33\\x64\\x07\\x11\\x5cjustforfun\\x00\\x00\\x00\\x00' > bpfdoor-udp.bin"
	note "# printf '\\x52\\x93\\x00\\x00\\xc6\\x33\\x64\\x07\\x11\\x5cjustforfun\\x00\\x00\\x00\\x00' > bpfdoor-tcp.bin"
	note "# printf 'hax0r \\x1c\\x9c\\x95\\x92\\x5f\\xeb\\xe4\\xea\\x87\\xf5 4444\\x00' > reptile.bin"
	note "# printf 'p4ssw0rd 198.51.100.7 4444' > prism.txt"
	note "# wol.bin: ff x6 then 52:54:00:12:34:56 x16"
	capture_start magic-hping3 "$VS"
	run client hping3 -2 -c 1 -p 53 -d 24 -E "$d/bpfdoor-udp.bin" "$SERVER" || true
	run client hping3 -A -P -c 1 -p 22 -d 24 -E "$d/bpfdoor-tcp.bin" "$SERVER" || true
	run client hping3 -1 -c 1 -d 24 -E "$d/bpfdoor-udp.bin" "$SERVER" || true
	run client hping3 -S -c 1 -s 666 -k -N 3429 -w 9965 -t 255 -M 4923 -p 80 -d 22 -E "$d/reptile.bin" "$SERVER" || true
	run client hping3 -2 -c 1 -s 666 -k -N 3429 -t 255 -p 53 -d 22 -E "$d/reptile.bin" "$SERVER" || true
	run client hping3 -1 -c 1 -d 26 -E "$d/prism.txt" "$SERVER" || true
	run client hping3 -2 -c 1 -p 9 -d 102 -E "$d/wol.bin" "$SERVER" || true
	for p in 200 80 22 53 3; do
		run client hping3 -S -c 1 -p "$p" "$SERVER" || true
	done
	capture_stop
	readme_end "magic alerts for bpfdoor-udp, bpfdoor-tcp, bpfdoor-icmp, reptile-tcp, reptile-udp, prism-icmp, wake-on-lan and cd00r-sequence. (Reptile's ICMP trigger needs echo id 9965 and sequence 15123, which hping3 cannot set, and SYNful Knock's needs an acknowledgment number on a SYN: both are built with gopacket in internal/detect/magic_test.go.)" \
		"hping3 pads nothing: -d sets the data length, -E the file it is read from. The Reptile payload is the token \"hax0r \" then bytes standing for the encrypted \"<host> <port>\"."
	reset_server
}

all=(knock knock_connect knock_udp knock_rst knock_sll2 knock_vlan knock_tun knock_ipv6 knock_pcapng spa_plain spa_replay nmap nmap_knockports masscan hping3_scan hping3_knock magic)
names=("$@")
((${#names[@]})) || names=("${all[@]}")
net_up
log "namespaces $C and $S up"
for n in "${names[@]}"; do
	n=${n//-/_}
	[[ $n == spa ]] && n=spa_plain
	[[ $n == magic_hping3 ]] && n=magic
	declare -F "cap_$n" >/dev/null || die "no capture $n (have: ${all[*]})"
	log "recording $n"
	"cap_$n"
done
log "done: $OUT"
