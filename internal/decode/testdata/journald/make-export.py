#!/usr/bin/env python3
"""Writes journal export-format files (https://systemd.io/JOURNAL_EXPORT_FORMATS/)
from which make-samples.sh builds real journal files and real
`journalctl -o json` output. Run from this folder."""
import struct

BOOT = "8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"
MACHINE = "0d6f2a9c8b7e4d3a2f1e0c9b8a7d6e5f"
# 2025-11-22 10:15:02.118311 UTC is 1763806502118311 us; the kernel has been
# up 4821.337104 s then (formats.md 0 and 4.1).
REAL0 = 1763806502118311
MONO0 = 4821337104


def field(k, v):
    if isinstance(v, str):
        v = v.encode()
    if b"\n" in v or any(c < 0x20 and c != 9 for c in v) or not valid_utf8(v):
        return k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
    return k.encode() + b"=" + v + b"\n"


def valid_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def entry(fields):
    return b"".join(field(k, v) for k, v in fields) + b"\n"


def kernel(delay_us, offset_us, msg):
    # journald reads /dev/kmsg delay_us after the printk.
    return entry([
        ("__REALTIME_TIMESTAMP", str(REAL0 + offset_us + delay_us)),
        ("__MONOTONIC_TIMESTAMP", str(MONO0 + offset_us + delay_us)),
        ("_BOOT_ID", BOOT),
        ("_SOURCE_MONOTONIC_TIMESTAMP", str(MONO0 + offset_us)),
        ("_TRANSPORT", "kernel"),
        ("PRIORITY", "4"),
        ("SYSLOG_FACILITY", "0"),
        ("SYSLOG_IDENTIFIER", "kernel"),
        ("MESSAGE", msg),
        ("_MACHINE_ID", MACHINE),
        ("_HOSTNAME", "gw01"),
    ])


def syslog(offset_us, ident, pid, msg, extra=()):
    f = [
        ("__REALTIME_TIMESTAMP", str(REAL0 + offset_us + 150)),
        ("__MONOTONIC_TIMESTAMP", str(MONO0 + offset_us + 150)),
        ("_BOOT_ID", BOOT),
        ("_TRANSPORT", "syslog"),
        ("PRIORITY", "6"),
        ("SYSLOG_FACILITY", "3"),
        ("SYSLOG_IDENTIFIER", ident),
    ]
    if pid:
        f.append(("SYSLOG_PID", pid))
        f.append(("_PID", pid))
    f += [
        ("SYSLOG_TIMESTAMP", "Nov 22 10:15:02 "),
        ("MESSAGE", msg),
        ("_SOURCE_REALTIME_TIMESTAMP", str(REAL0 + offset_us)),
        ("_UID", "0"), ("_GID", "0"),
        ("_MACHINE_ID", MACHINE),
        ("_HOSTNAME", "gw01"),
    ]
    f += list(extra)
    return entry(f)


UFW = "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 "
with open("kernel.export", "wb") as out:
    out.write(kernel(1896, 0, UFW + "LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0 "))
    out.write(kernel(1650, 284000, UFW + "LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40212 DF PROTO=TCP SPT=51515 DPT=8000 WINDOW=64240 RES=0x00 SYN URGP=0 "))
    out.write(kernel(2210, 569709, UFW + "LEN=29 TOS=0x00 PREC=0x00 TTL=52 ID=17211 DF PROTO=UDP SPT=40622 DPT=8284 LEN=9 "))
    # A log prefix that is not UTF-8 (a Latin-1 byte): journalctl prints
    # MESSAGE as an array of byte values.
    out.write(kernel(1900, 1200000, b"KNOCK\xb7DROP IN=eth0 OUT= SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40215 DF PROTO=TCP SPT=51517 DPT=9000 WINDOW=64240 RES=0x00 SYN URGP=0 "))
    # Kernel text that is not packet text.
    out.write(kernel(1000, 2000000, "e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx"))

with open("syslog.export", "wb") as out:
    out.write(syslog(0, "fwknopd", "2211", "Added access rule to FWKNOP_INPUT for 198.51.100.7 -> 0.0.0.0/0 tcp/22, expires at 1763806532"))
    out.write(syslog(1000, "sshd", "811", "Accepted publickey for admin from 192.0.2.44 port 50122 ssh2: ED25519 SHA256:3q2+7w"))
    out.write(syslog(2000, "edgefw", "", "CEF:0|Example Networks|EdgeFW|9.1.2|traffic-deny|Traffic denied|5|rt=1763806502120 src=198.51.100.7 spt=51516 dst=203.0.113.10 dpt=9000 proto=TCP act=deny msg=quoted \"text\""))
    # A field logged twice in one entry: journalctl prints an array.
    out.write(syslog(3000, "edgefw", "", "CEF:0|Example Networks|EdgeFW|9.1.2|traffic-allow|Traffic allowed|3|src=198.51.100.7 spt=51520 dst=203.0.113.10 dpt=22 proto=TCP act=accept",
                     extra=[("MESSAGE", "second value of a repeated field")]))
    # A message over journalctl's 4096-byte JSON threshold: printed as null
    # without --all.
    out.write(syslog(4000, "noisy", "42", "x" * 5000))
