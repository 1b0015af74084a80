#!/usr/bin/env bash
# knock-straddle: a knock with 2 s gaps that starts at second 57.5 of a
# minute, so its hits fall at :57.5, :59.5 and :01.5: two in one minute,
# one in the next. Inside one minute these three hits would satisfy the
# fixed-bin rule (3 ports, 3 events, 4 s span); split, neither bin does.
source "$(dirname "$0")/../lib.sh"

scenario() {
	wait_for_second 57
	sleep 0.5
	label_begin
	in_ns c2 knock -d 2000 "$GW_IP" 7000 8000 9000
	connect c2 "$SSH_PORT" || die "door did not open"
	label_end knock-straddle "$C2_IP" "knock -d 2000" "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp"
}

lab_main "$@"
