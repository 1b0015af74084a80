#!/usr/bin/env bash
# scan-masscan: masscan over ports 1-1000 at 500 packets/s (its own raw
# stack: 40-byte SYNs, window 1024, one source port).
source "$(dirname "$0")/../lib.sh"

scenario() {
	local mac
	mac=$(in_ns rt cat /sys/class/net/br1/address)
	label_begin
	# masscan sometimes waits for its receive thread forever after the scan
	# is sent (a known hang); timeout ends it once every probe is out.
	in_ns scan timeout -s INT 15 masscan "$GW_IP" -p1-1000 --rate 500 --wait 1 \
		--adapter eth0 --adapter-ip "$SCAN_IP" --router-mac "$mac" >/dev/null 2>&1 || true
	label_end scan "$SCAN_IP" "masscan -p1-1000 --rate 500" "" ""
}

lab_main "$@"
