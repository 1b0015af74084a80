#!/usr/bin/env bash
# knock-partial: the first two ports of the door (7000,8000), then nothing:
# knockd reaches stage 2 and later times the attempt out.
source "$(dirname "$0")/../lib.sh"

scenario() {
	label_begin
	in_ns c2 knock -d 200 "$GW_IP" 7000 8000
	label_end knock-partial "$C2_IP" "knock -d 200" "7000/tcp,8000/tcp" ""
}

lab_main "$@"
