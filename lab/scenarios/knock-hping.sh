#!/usr/bin/env bash
# knock-hping: a knock crafted with hping3, one bare SYN per port (40 bytes,
# no options, window 64) 300 ms apart, then a connection.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	local p
	for p in 7000 8000 9000; do
		in_ns c2 hping3 -q -S -c 1 -p "$p" "$GW_IP" >/dev/null 2>&1 || true
		sleep 0.3
	done
	sleep 0.5
	connect c2 "$SSH_PORT" || die "door did not open"
	label_end knock-hping "$C2_IP" "hping3 -S -c 1 -p PORT" "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp"
}

lab_main "$@"
