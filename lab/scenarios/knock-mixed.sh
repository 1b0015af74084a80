#!/usr/bin/env bash
# knock-mixed: the knock client with per-port protocols (knockd's man-page
# door 2222:udp,3333:tcp,4444:udp) and a 300 ms delay, then a connection.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c2 knock -d 300 "$GW_IP" 2222:udp 3333:tcp 4444:udp
	sleep 1.5
	connect c2 "$SSH_PORT" || die "door did not open"
	label_end knock-mixed "$C2_IP" knock "2222/udp,3333/tcp,4444/udp" "$SSH_PORT/tcp"
}

lab_main "$@"
