#!/usr/bin/env python3
"""Builds export.csv and export.jsonl from an RFC 5424 file written by the
daemon lab's rsyslogd (internal/daemonlab, -capture), in the shape of a
Sentinel / Log Analytics Syslog table export. Usage:
    gen.py CAPTURE/syslog/rfc5424.log
"""
import csv, datetime, json, sys

FAC = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"]
SEV = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
TENANT = "4f3b1c2d-0000-4000-8000-00000000c0de"
RID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/lab/providers/microsoft.compute/virtualmachines/gw01"

rows = []
for line in open(sys.argv[1]):
    pri, rest = line[1:].split(">", 1)
    _, ts, host, app, procid, msgid, rest = rest.split(" ", 6)
    msg = rest[2:].rstrip("\n")  # "- " structured data, then rsyslog's leading space
    msg = msg[1:] if msg.startswith(" ") else msg
    pri = int(pri)
    t = datetime.datetime.fromisoformat(ts).astimezone(datetime.timezone.utc)
    rows.append(dict(t=t, host=host, app=app, pid=None if procid == "-" else int(procid),
                     fac=FAC[pri // 8], sev=SEV[pri % 8], msg=msg))

# A command with double quotes, which CSV doubles inside a quoted field.
rows.append(dict(t=rows[-1]["t"], host="gw01", app="knockd", pid=None, fac="daemon", sev="notice",
                 msg='openNFT: running command: /usr/sbin/nft "add element inet filter knocked { 198.51.100.7 }"'))
# A netfilter line from the same host, to show kernel messages go the same way.
rows.append(dict(t=rows[-1]["t"], host="gw01", app="kernel", pid=None, fac="kern", sev="warning",
                 msg="KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0"))

def portal(t):  # the portal's CSV datetime: M/D/YYYY, h:mm:ss.fff AM
    h = t.hour % 12 or 12
    return f"{t.month}/{t.day}/{t.year}, {h}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 1000:03d} {'AM' if t.hour < 12 else 'PM'}"

with open("export.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["TenantId", "SourceSystem", "TimeGenerated [UTC]", "Computer", "EventTime [UTC]", "Facility", "HostName",
                "SeverityLevel", "SyslogMessage", "ProcessID", "HostIP", "ProcessName", "MG", "CollectorHostName", "Type", "_ResourceId"])
    for r in rows:
        w.writerow([TENANT, "Linux", portal(r["t"] + datetime.timedelta(seconds=2)), r["host"], portal(r["t"]), r["fac"], r["host"],
                    r["sev"], r["msg"], "" if r["pid"] is None else r["pid"], "203.0.113.10", r["app"],
                    "00000000-0000-0000-0000-000000000002", "", "Syslog", RID])

with open("export.jsonl", "w") as f:
    for r in rows:
        iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        f.write(json.dumps({"TenantId": TENANT, "SourceSystem": "Linux", "TimeGenerated": iso(r["t"] + datetime.timedelta(seconds=2)),
                            "Computer": r["host"], "EventTime": iso(r["t"]), "Facility": r["fac"], "HostName": r["host"],
                            "SeverityLevel": r["sev"], "SyslogMessage": r["msg"], "ProcessID": r["pid"], "HostIP": "203.0.113.10",
                            "ProcessName": r["app"], "MG": "00000000-0000-0000-0000-000000000002", "CollectorHostName": "",
                            "Type": "Syslog", "_ResourceId": RID}) + "\n")
