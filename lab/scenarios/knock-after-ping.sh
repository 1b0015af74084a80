#!/usr/bin/env bash
# knock-after-ping: a client pings the host (answered: the firewall allows
# ping), then 2 s later knocks the openSSH door with the default client and
# connects. In a capture the echo requests sit in front of the knock.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c1 ping -c 2 -i 0.5 "$GW_IP" >/dev/null
	sleep 2
	in_ns c1 knock "$GW_IP" 7000 8000 9000
	sleep 1
	connect c1 "$SSH_PORT" || die "door did not open"
	label_end knock "$C1_IP" "ping, then knock" "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp" "two answered echo requests 2 s before the knock"
}

lab_main "$@"
