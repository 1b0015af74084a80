#!/usr/bin/env bash
# spa-rejected: an SPA packet made with keys the server does not have:
# fwknopd rejects it (the HMAC does not match) and the client's connection
# goes unanswered.
source "$(dirname "$0")/../lib.sh"

scenario() {
	local keys key hmac
	keys=$(fwknop --key-gen)
	key=$(sed -n 's/^KEY_BASE64:[[:space:]]*//p' <<<"$keys")
	hmac=$(sed -n 's/^HMAC_KEY_BASE64:[[:space:]]*//p' <<<"$keys")
	label_begin
	in_ns c1 fwknop --no-save-args -A "tcp/$SSH_PORT" -a "$C1_IP" -D "$GW_IP" \
		--use-hmac --key-base64-rijndael "$key" --key-base64-hmac "$hmac" >/dev/null
	sleep 1
	if connect c1 "$SSH_PORT"; then die "fwknopd opened the port for a wrong key"; fi
	label_end spa-rejected "$C1_IP" fwknop "$FWKNOP_PORT/udp" ""
}

lab_main "$@"
