#!/usr/bin/env bash
# scan-hping: hping3's built-in SYN port scanner over ports 1-100.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns scan timeout 20 hping3 --scan 1-100 -S "$GW_IP" >/dev/null 2>&1 || true
	label_end scan "$SCAN_IP" "hping3 --scan 1-100 -S" "" ""
}

lab_main "$@"
