#!/usr/bin/env bash
# spa: fwknop single-packet authorization with the right keys (HMAC-SHA256,
# Rijndael), one UDP datagram to 62201; fwknopd opens tcp/22 for the
# client, which then connects.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c2 fwknop --no-save-args -A "tcp/$SSH_PORT" -a "$C2_IP" -D "$GW_IP" \
		--use-hmac --key-base64-rijndael "$FW_KEY" --key-base64-hmac "$FW_HMAC" >/dev/null
	sleep 1
	connect c2 "$SSH_PORT" || die "fwknopd did not open the port"
	label_end spa "$C2_IP" fwknop "$FWKNOP_PORT/udp" "$SSH_PORT/tcp"
}

lab_main "$@"
