#!/usr/bin/env bash
# scan-nmap-4ports: nmap SYN scan of exactly four unusual high ports: as
# few ports as a knock, so only the packets' shape (nmap's 44-byte SYN,
# window 1024, one source port, retransmissions) tells it from one.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns scan nmap -sS -Pn -n -p 3000,4000,5000,6000 "$GW_IP" >/dev/null
	label_end scan "$SCAN_IP" "nmap -sS -p 3000,4000,5000,6000" "" ""
}

lab_main "$@"
