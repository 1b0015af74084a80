#!/usr/bin/env bash
# scan-nmap-udp: nmap UDP scan of its 20 most common UDP ports.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns scan nmap -sU -Pn -n --top-ports 20 "$GW_IP" >/dev/null
	label_end scan "$SCAN_IP" "nmap -sU --top-ports 20" "" ""
}

lab_main "$@"
