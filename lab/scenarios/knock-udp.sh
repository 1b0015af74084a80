#!/usr/bin/env bash
# knock-udp: `knock -u` (every hit a UDP datagram with one NUL byte, no
# delay) on the door 8284,4721,18592,42912, then a connection to the port it
# opened.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c1 knock -u "$GW_IP" 8284 4721 18592 42912
	sleep 0.8
	connect c1 "$SSH_PORT" || die "door did not open"
	label_end knock-udp "$C1_IP" "knock -u" "8284/udp,4721/udp,18592/udp,42912/udp" "$SSH_PORT/tcp"
}

lab_main "$@"
