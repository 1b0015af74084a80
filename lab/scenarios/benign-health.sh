#!/usr/bin/env bash
# benign-health: a monitoring prober checks the same three ports every
# 5 seconds for 40 seconds: the open web service (80) and two services the
# firewall closes to it (22, 3306). Not a knock: a fixed set, repeating.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	local i p
	for i in $(seq 8); do
		for p in "$WEB_PORT" "$SSH_PORT" 3306; do
			in_ns probe ncat -z -w 1 "$GW_IP" "$p" >/dev/null 2>&1 || true
		done
		sleep 3
	done
	label_end benign-health "$PROBE_IP" "ncat -z (every 5 s)" "" "$WEB_PORT/tcp"
}

lab_main "$@"
