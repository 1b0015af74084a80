#!/usr/bin/env bash
# benign-use: normal use of the open web service: a ping, then six page
# fetches with curl at irregular intervals.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c1 ping -c 2 -i 0.5 "$GW_IP" >/dev/null
	local d
	for d in 0.7 2.1 0.4 3.2 1.1 0.9; do
		in_ns c1 curl -s -m 3 -o /dev/null "http://$GW_IP/" || die "web service did not answer"
		sleep "$d"
	done
	label_end benign-use "$C1_IP" "curl, ping" "" "$WEB_PORT/tcp"
}

lab_main "$@"
