#!/usr/bin/env bash
# e2e.sh OUTDIR: the end-to-end run internal/e2e drives: one lab, then one
# default knock followed by a connection (c1), one accepted fwknop SPA
# followed by a connection (c2), and one nmap SYN scan of the top 100 ports
# (scan), with labels. Not a corpus scenario: it lives outside scenarios/.
source "$(dirname "$0")/lib.sh"

scenario() {
	label_begin
	in_ns c1 knock "$GW_IP" 7000 8000 9000
	sleep 1
	connect c1 "$SSH_PORT" || die "door did not open"
	label_end knock "$C1_IP" knock "7000/tcp,8000/tcp,9000/tcp" "$SSH_PORT/tcp"

	label_begin
	in_ns c2 fwknop --no-save-args -A "tcp/$SSH_PORT" -a "$C2_IP" -D "$GW_IP" \
		--use-hmac --key-base64-rijndael "$FW_KEY" --key-base64-hmac "$FW_HMAC" >/dev/null
	sleep 1
	connect c2 "$SSH_PORT" || die "fwknopd did not open the port"
	label_end spa "$C2_IP" fwknop "$FWKNOP_PORT/udp" "$SSH_PORT/tcp"

	label_begin
	in_ns scan nmap -sS -Pn -n -T4 --top-ports 100 "$GW_IP" >/dev/null
	label_end scan "$SCAN_IP" "nmap -sS -T4 --top-ports 100" "" ""
}

SCENARIO=e2e
LAB_TAIL=${LAB_TAIL:-2}
lab_main "$@"
