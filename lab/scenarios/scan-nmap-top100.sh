#!/usr/bin/env bash
# scan-nmap-top100: nmap's SYN scan of its 100 most common ports (-F set),
# default timing; filtered ports get one retransmission.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns scan nmap -sS -Pn -n --top-ports 100 "$GW_IP" >/dev/null
	label_end scan "$SCAN_IP" "nmap -sS --top-ports 100" "" ""
}

lab_main "$@"
