#!/usr/bin/env bash
# scan-nmap-1024: nmap SYN scan of ports 1-1024 with the aggressive timing
# template (-T4) attackers use.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns scan nmap -sS -Pn -n -T4 -p 1-1024 "$GW_IP" >/dev/null
	label_end scan "$SCAN_IP" "nmap -sS -T4 -p 1-1024" "" ""
}

lab_main "$@"
