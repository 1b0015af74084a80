#!/usr/bin/env bash
# Regenerates fwknop-payloads.txt: real SPA payloads built by the fwknop
# client (Debian fwknop-client 2.6.10) in test mode (-T: built, not sent),
# with throw-away keys made by `fwknop -k`. One payload per line, preceded by
# a comment line with the options that built it. Needs no root, sends nothing.
set -euo pipefail
cd "$(dirname "$0")"
keys=$(fwknop -k)
K=$(awk '/^KEY_BASE64/ {print $2}' <<<"$keys")
H=$(awk '/^HMAC_KEY_BASE64/ {print $2}' <<<"$keys")
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
out=fwknop-payloads.txt
echo "# fwknop $(fwknop -V 2>&1 | head -1) payloads; see README.md" > "$out"
gen() {
	fwknop --no-rc-file --no-save-args -T -B "$tmp" -D 203.0.113.10 --key-base64-rijndael "$K" "$@" >/dev/null
	echo "# fwknop $*" | sed "s|$H|HMAC_KEY|" >> "$out"
	cat "$tmp" >> "$out"
}
for i in 1 2 3; do
	gen -A tcp/22 -a 198.51.100.7 --use-hmac --key-base64-hmac "$H"
done
gen -A tcp/22 -s --use-hmac --key-base64-hmac "$H"
gen -A tcp/22,udp/53,tcp/443 -a 198.51.100.7 --use-hmac --key-base64-hmac "$H"
gen -A tcp/3389 -a 198.51.100.7 -f 120 --use-hmac --key-base64-hmac "$H"
gen -A tcp/22 -a 198.51.100.7 -N 192.0.2.5:22 --use-hmac --key-base64-hmac "$H"
gen -A tcp/22 -a 198.51.100.7 -C "/usr/sbin/service ssh restart" --use-hmac --key-base64-hmac "$H"
for d in md5 sha1 sha256 sha384 sha512 sha3_256 sha3_512; do
	gen -A tcp/22 -a 198.51.100.7 --use-hmac --key-base64-hmac "$H" --hmac-digest-type "$d"
done
for m in md5 sha1 sha384 sha512; do
	gen -A tcp/22 -a 198.51.100.7 --use-hmac --key-base64-hmac "$H" -m "$m"
done
gen -A tcp/22 -a 198.51.100.7
gen -A tcp/22,tcp/80,tcp/443,udp/1194,tcp/8443 -a 198.51.100.7
gen -A tcp/22 -a 198.51.100.7 -M cbc --use-hmac --key-base64-hmac "$H"
gen -A tcp/22 -a 198.51.100.7 -M ecb --use-hmac --key-base64-hmac "$H"
gen -A tcp/22 -a 198.51.100.7 -M cfb --use-hmac --key-base64-hmac "$H"
for m in ofb ctr; do
	gen -A tcp/22 -a 198.51.100.7 -M "$m" --use-hmac --key-base64-hmac "$H"
done
gen -A tcp/22 -a 198.51.100.7 -C "/bin/echo $(printf 'x%.0s' {1..80})" --use-hmac --key-base64-hmac "$H"
