#!/usr/bin/env bash
# knock-two-sources: the same door sequence from two clients six seconds
# apart, each followed by a connection: a shared secret in use.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c1 knock "$GW_IP" 7000 8000 9000
	sleep 1
	connect c1 "$SSH_PORT" || die "door did not open for c1"
	label_end knock "$C1_IP" knock "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp" "first of two sources"
	sleep 5
	label_begin
	in_ns c2 knock -d 100 "$GW_IP" 7000 8000 9000
	sleep 1
	connect c2 "$SSH_PORT" || die "door did not open for c2"
	label_end knock "$C2_IP" "knock -d 100" "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp" "second of two sources"
}

lab_main "$@"
