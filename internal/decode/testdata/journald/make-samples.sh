#!/bin/sh
# Rebuilds the journald samples with the real tools (Debian bookworm:
# systemd 252, package systemd-journal-remote for the import).
set -eu
cd "$(dirname "$0")"
python3 make-export.py
for name in kernel syslog; do
	rm -f "/tmp/kw-$name.journal"
	/lib/systemd/systemd-journal-remote --output="/tmp/kw-$name.journal" "$name.export"
	journalctl --file="/tmp/kw-$name.journal" -o json > "$name.json"
	rm -f "/tmp/kw-$name.journal"
done
