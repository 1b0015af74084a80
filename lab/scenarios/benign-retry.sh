#!/usr/bin/env bash
# benign-retry: an application retrying a closed port (8080): four connects
# two seconds apart, each given one second (so each SYN may be
# retransmitted once by the kernel).
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	local i
	for i in 1 2 3 4; do
		in_ns c2 ncat -z -w 1 "$GW_IP" 8080 >/dev/null 2>&1 || true
		sleep 2
	done
	label_end benign-retry "$C2_IP" "ncat -z -w 1 (4 tries)" "" ""
}

lab_main "$@"
