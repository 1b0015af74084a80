#!/usr/bin/env bash
# Rebuilds demo/ (the README's demo hunt) from recordings the repository already holds:
#  - lab/corpus/* : real knock, fwknop, nmap and masscan runs in network
#    namespaces (see lab/README.md), with the gateway's kernel firewall log,
#    knockd's LogFile, fwknopd's log and a tcpdump capture;
#  - internal/decode/testdata/auditd : real auditd records of knock client runs;
#  - internal/decode/testdata/zeek-conn-tsv : a Zeek conn.log built from the spec.
# The lab writes the kernel log as dmesg prints it (uptime stamps) plus the
# boot time; here those lines are dated the way rsyslog's imklog writes them
# to /var/log/kern.log ("Mmm dd hh:mm:ss host kernel: [uptime] ..."), so the
# demo needs no --boot-time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo
rm -rf "$out/gateway" "$out/capture" "$out/workstation" "$out/zeek"
mkdir -p "$out/gateway" "$out/capture" "$out/workstation" "$out/zeek"

logs=(knock-tcp knock-slow knock-wrong-order spa scan-nmap-top100 benign-health)
for s in "${logs[@]}"; do
	boot=$(cat "lab/corpus/$s/boot-time")
	python3 - "$boot" "lab/corpus/$s/fw.log" <<'PY'
import sys, datetime, re
boot = datetime.datetime.fromisoformat(sys.argv[1].replace('Z', '+00:00'))
for line in open(sys.argv[2]):
    m = re.match(r'\[\s*(\d+)\.(\d+)\]', line)
    if not m:
        continue
    t = boot + datetime.timedelta(seconds=int(m.group(1)), microseconds=int(m.group(2)))
    sys.stdout.write(t.strftime('%b %e %H:%M:%S').replace('  ', ' ', 0) + ' lab-gw kernel: ' + line)
PY
done | sort -s -k1,1M -k2,2n -k3,3 > "$out/gateway/kern.log"
for s in "${logs[@]}"; do cat "lab/corpus/$s/knockd.log"; done > "$out/gateway/knockd.log"
for s in "${logs[@]}"; do cat "lab/corpus/$s/fwknopd.log"; done > "$out/gateway/fwknopd.log"

# Captures of other runs: a UDP knock, a mixed knock and a masscan scan.
cp lab/corpus/knock-udp/capture.pcap "$out/capture/knock-udp.pcap"
cp lab/corpus/knock-mixed/capture.pcap "$out/capture/knock-mixed.pcap"
cp lab/corpus/scan-masscan/capture.pcap "$out/capture/scan-masscan.pcap"

cp internal/decode/testdata/auditd/enriched-clients.log "$out/workstation/audit.log"
cp internal/decode/testdata/zeek-conn-tsv/conn.log "$out/zeek/conn.log"
echo "demo rebuilt in $out/"
