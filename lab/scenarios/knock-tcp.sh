#!/usr/bin/env bash
# knock-tcp: the default knock client (no delay: three SYNs within about a
# millisecond) on knockd's openSSH door 7000,8000,9000, then an ssh-like
# connection to the port the door opened.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c1 knock "$GW_IP" 7000 8000 9000
	sleep 1.2
	connect c1 "$SSH_PORT" || die "door did not open"
	label_end knock "$C1_IP" knock "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp"
}

lab_main "$@"
