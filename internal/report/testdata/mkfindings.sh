#!/usr/bin/env bash
# Makes findings.jsonl, the fixed input of the report's golden tests: real
# knockwatch output ("knockwatch hunt --tz UTC -o json") over recorded data in
# this repository, one hunt per scenario, appended in this order. Run from
# anywhere; it hunts from the repository root so evidence names are stable.
# Regenerate the golden files afterwards:
#   go test ./internal/report -run TestGolden -update
set -euo pipefail
cd "$(dirname "$0")/../../.."
kw() { go run ./cmd/knockwatch hunt --tz UTC -o json "$@"; }
lab() { local d=lab/corpus/$1; kw --boot-time "$(cat "$d/boot-time")" "$d/fw.log" "$d/knockd.log" "$d/fwknopd.log"; }
out=internal/report/testdata/findings.jsonl
{
	lab knock-tcp          # default knock client: incident (wire + knockd LogFile, minute precision)
	lab knock-slow         # 8 s between knocks: a 16 s sequence, then the connection
	lab knock-wrong-order  # unjoined sequence alerts (one supersedes the other), knockd's failure
	lab scan-nmap-4ports   # a scan finding
	kw lab/corpus/spa/capture.pcap lab/corpus/spa/fwknopd.log   # SPA incident (capture + fwknopd)
	kw internal/correlate/testdata/one-knock/                    # client run + wire + daemon incident
	kw internal/report/testdata/magic.pcap                       # magic packets: BPFDoor, Reptile, cd00r
} > "$out"
wc -l "$out"
