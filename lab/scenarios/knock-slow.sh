#!/usr/bin/env bash
# knock-slow: a patient knock, 8 seconds between hits (`knock -d 8000`; the
# client also sleeps 8 s after the last hit), within knockd's default 25 s
# sequence timeout, then a connection.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c1 knock -d 8000 "$GW_IP" 7000 8000 9000
	connect c1 "$SSH_PORT" || die "door did not open"
	label_end knock-slow "$C1_IP" "knock -d 8000" "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp"
}

lab_main "$@"
