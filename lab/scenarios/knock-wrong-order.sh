#!/usr/bin/env bash
# knock-wrong-order: the right ports in the wrong order (8000,7000,9000):
# knockd does not open, and the client's connection goes unanswered (the
# kernel retransmits its SYN). The technique was used; it failed.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c1 knock "$GW_IP" 8000 7000 9000
	sleep 1
	if connect c1 "$SSH_PORT"; then die "door opened on a wrong-order knock"; fi
	label_end knock-wrong-order "$C1_IP" knock "8000/tcp,7000/tcp,9000/tcp" ""
}

lab_main "$@"
