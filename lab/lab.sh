#!/usr/bin/env bash
# lab.sh: run the knockwatch lab. See README.md beside this file.
#
#   lab.sh install              install the Debian packages the lab uses (apt-get)
#   lab.sh list                 list the scenarios
#   lab.sh run NAME [OUTDIR]    run one scenario (output: OUTDIR, default lab/out/NAME)
#   lab.sh record [DIR] [NAME...]
#                               run scenarios (default: all) into DIR/<name>/
#                               (default DIR: lab/corpus), one fresh lab each
set -Eeuo pipefail
LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

scenarios() { for f in "$LAB_DIR"/scenarios/*.sh; do basename "$f" .sh; done; }

cmd=${1:-help}
shift || true
case $cmd in
install)
	# shellcheck source=lib.sh
	source "$LAB_DIR/lib.sh"
	[[ $EUID -eq 0 ]] || die "install needs root"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${LAB_PACKAGES[@]}"
	;;
list)
	for s in $(scenarios); do
		printf '%-20s %s\n' "$s" "$(sed -n '2s/^# [^:]*: //p' "$LAB_DIR/scenarios/$s.sh")"
	done
	;;
run)
	name=${1:?usage: lab.sh run NAME [OUTDIR]}
	[[ -f $LAB_DIR/scenarios/$name.sh ]] || { echo "no scenario $name (lab.sh list)" >&2; exit 2; }
	exec "$LAB_DIR/scenarios/$name.sh" "${2:-$LAB_DIR/out/$name}"
	;;
record)
	dir=${1:-$LAB_DIR/corpus}
	shift || true
	names=("$@")
	((${#names[@]})) || mapfile -t names < <(scenarios)
	mkdir -p "$dir"
	for s in "${names[@]}"; do
		"$LAB_DIR/scenarios/$s.sh" "$dir/$s"
	done
	;;
*)
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	[[ $cmd == help || $cmd == -h || $cmd == --help ]] || exit 2
	;;
esac
