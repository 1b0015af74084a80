#!/usr/bin/env python3
"""Builds the Defender samples from the spec (formats.md 5.1; column names
from https://learn.microsoft.com/en-us/defender-xdr/advanced-hunting-deviceprocessevents-table
and .../advanced-hunting-devicefileevents-table; the streaming API's record
envelope from https://learn.microsoft.com/en-us/defender-xdr/streaming-api-event-hub).
CSV is written with Python's csv module (RFC 4180 quoting, CRLF line ends as
Excel and the portal write them). Run from this folder: python3 make-samples.py"""
import csv, json

PROC_COLS = ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath", "SHA1", "SHA256", "MD5",
    "FileSize", "ProcessVersionInfoCompanyName", "ProcessVersionInfoProductName", "ProcessVersionInfoProductVersion",
    "ProcessVersionInfoInternalFileName", "ProcessVersionInfoOriginalFileName", "ProcessVersionInfoFileDescription",
    "ProcessId", "ProcessCommandLine", "ProcessIntegrityLevel", "ProcessTokenElevation", "ProcessCreationTime",
    "AccountDomain", "AccountName", "AccountSid", "AccountUpn", "AccountObjectId", "LogonId",
    "InitiatingProcessAccountDomain", "InitiatingProcessAccountName", "InitiatingProcessAccountSid",
    "InitiatingProcessAccountUpn", "InitiatingProcessAccountObjectId", "InitiatingProcessLogonId",
    "InitiatingProcessIntegrityLevel", "InitiatingProcessTokenElevation", "InitiatingProcessSHA1",
    "InitiatingProcessSHA256", "InitiatingProcessMD5", "InitiatingProcessFileName", "InitiatingProcessFileSize",
    "InitiatingProcessVersionInfoCompanyName", "InitiatingProcessVersionInfoProductName",
    "InitiatingProcessVersionInfoProductVersion", "InitiatingProcessVersionInfoInternalFileName",
    "InitiatingProcessVersionInfoOriginalFileName", "InitiatingProcessVersionInfoFileDescription",
    "InitiatingProcessId", "InitiatingProcessCommandLine", "InitiatingProcessCreationTime",
    "InitiatingProcessFolderPath", "InitiatingProcessParentId", "InitiatingProcessParentFileName",
    "InitiatingProcessParentCreationTime", "InitiatingProcessSignerType", "InitiatingProcessSignatureStatus",
    "ReportId", "AppGuardContainerId", "AdditionalFields"]

def proc(ts, device, file, folder, cmd, user, pfile, pcmd, pid, ppid, pfolder="", gp="", orig="", domain=""):
    r = {c: "" for c in PROC_COLS}
    r.update({"Timestamp": ts, "DeviceId": "5a2cbd9e0c1f4b7d8e6a3f2b1c0d9e8f7a6b5c4d", "DeviceName": device,
        "ActionType": "ProcessCreated", "FileName": file, "FolderPath": folder, "ProcessCommandLine": cmd,
        "ProcessVersionInfoOriginalFileName": orig, "ProcessId": pid, "AccountName": user, "AccountDomain": domain,
        "InitiatingProcessAccountName": user, "InitiatingProcessFileName": pfile, "InitiatingProcessCommandLine": pcmd,
        "InitiatingProcessId": ppid, "InitiatingProcessFolderPath": pfolder, "InitiatingProcessParentFileName": gp,
        "ProcessCreationTime": ts, "ReportId": 1000 + pid})
    return r

rows = [
    # formats.md 5.1's two constructed rows.
    proc("2025-11-22T10:15:01.902Z", "ws-0142.corp.example", "knock", "/usr/bin/knock",
         "knock -d 200 203.0.113.10 7000 8000 9000", "alice", "bash", "-bash", 4188, 4121, "/usr/bin/bash", "sshd"),
    proc("2025-11-22T10:15:01.455Z", "ws-0077.corp.example", "fwknop.exe", r"C:\Tools\fwknop\fwknop.exe",
         "fwknop.exe -A tcp/3389 -a 198.51.100.7 -D 203.0.113.10 --use-hmac", "bob", "powershell.exe",
         '"powershell.exe" -NoProfile', 6120, 6001, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
         "explorer.exe", "fwknop.exe", "corp"),
    # A renamed fwknop client: the version resource keeps the original name.
    proc("2025-11-22T10:31:12.020Z", "ws-0077.corp.example", "svchelper.exe", r"C:\Users\bob\AppData\Local\Temp\svchelper.exe",
         r'"C:\Users\bob\AppData\Local\Temp\svchelper.exe" -A tcp/3389 -a 198.51.100.7 -D 203.0.113.10 --use-hmac',
         "bob", "cmd.exe", r'"C:\Windows\system32\cmd.exe"', 6230, 6201, r"C:\Windows\System32\cmd.exe",
         "explorer.exe", "fwknop.exe", "corp"),
    # MDE for Linux: a bash loop with nc (space-joined command line), and the
    # three nc processes it starts.
    proc("2025-11-22T10:40:00.100Z", "ws-0142.corp.example", "bash", "/usr/bin/bash",
         "bash -c for p in 7000 8000 9000; do nc -z -w1 203.0.113.10 $p; done", "alice", "bash", "-bash",
         4400, 4121, "/usr/bin/bash", "sshd"),
    *[proc(f"2025-11-22T10:40:00.{110 + 10 * i}Z", "ws-0142.corp.example", "nc.openbsd", "/usr/bin/nc.openbsd",
           f"nc -z -w1 203.0.113.10 {p}", "alice", "bash",
           "bash -c for p in 7000 8000 9000; do nc -z -w1 203.0.113.10 $p; done", 4401 + i, 4400, "/usr/bin/bash", "bash")
      for i, p in enumerate([7000, 8000, 9000])],
    # The door firing on gw01 (MDE for Linux on the server): knockd -> sh -> iptables.
    proc("2025-11-22T10:15:02.135Z", "gw01.corp.example", "xtables-nft-multi", "/usr/sbin/xtables-nft-multi",
         "/usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", "root", "dash",
         "sh -c '/usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT'", 7303, 7302, "/usr/bin/dash", "knockd"),
    # Negatives: a health check, a config read.
    proc("2025-11-22T10:45:00.000Z", "mon01.corp.example", "nping", "/usr/bin/nping",
         "nping --tcp -p 443 -c 1 203.0.113.10", "nagios", "sh", "sh -c 'nping --tcp -p 443 -c 1 203.0.113.10'", 8100, 8099, "/usr/bin/dash", "nagios"),
    proc("2025-11-22T10:46:00.000Z", "gw01.corp.example", "cat", "/usr/bin/cat", "cat /etc/knockd.conf", "root",
         "bash", "-bash", 8200, 8199, "/usr/bin/bash", "sshd"),
    # A PowerShell loop whose command line holds quotes, commas and a line break.
    proc("2025-11-22T10:50:00.000Z", "ws-0077.corp.example", "powershell.exe",
         r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
         '"powershell.exe" -Command "7000,8000,9000 | % {\n Test-NetConnection 203.0.113.10 -Port $_ }"', "bob",
         "explorer.exe", r"C:\Windows\Explorer.EXE", 6400, 1200, r"C:\Windows\explorer.exe", "userinit.exe", "PowerShell.EXE", "corp"),
]

with open("portal.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=PROC_COLS)
    w.writeheader()
    w.writerows(rows)

# KQL/API rows as JSON, one object per line, only the columns a query projects.
keep = ["Timestamp", "DeviceName", "ActionType", "FileName", "FolderPath", "ProcessCommandLine",
        "ProcessVersionInfoOriginalFileName", "ProcessId", "AccountName", "InitiatingProcessFileName",
        "InitiatingProcessFolderPath", "InitiatingProcessCommandLine", "InitiatingProcessId", "InitiatingProcessParentFileName"]
with open("rows.json", "w") as f:
    for r in rows[:3]:
        o = {k: r[k] for k in keep}
        o["Timestamp"] = o["Timestamp"].replace("Z", "0000Z")  # KQL prints 7 fraction digits
        f.write(json.dumps(o) + "\n")

# The streaming API's Event Hub message: {"records":[{…,"properties":{row}}]}.
recs = []
for r in rows[5:8]:
    props = {k: r[k] for k in keep}
    recs.append({"time": r["Timestamp"], "tenantId": "0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f", "operationName": "Publish",
                 "category": "AdvancedHunting-DeviceProcessEvents", "properties": props})
with open("streaming.json", "w") as f:
    f.write(json.dumps({"records": recs}) + "\n")

# DeviceFileEvents: an edit of knockd.conf and of fwknop's access.conf.
FILE_COLS = ["Timestamp", "DeviceId", "DeviceName", "ActionType", "FileName", "FolderPath", "SHA1", "SHA256", "MD5",
    "FileSize", "PreviousFileName", "PreviousFolderPath", "InitiatingProcessAccountDomain", "InitiatingProcessAccountName",
    "InitiatingProcessFileName", "InitiatingProcessFolderPath", "InitiatingProcessCommandLine", "InitiatingProcessId",
    "InitiatingProcessParentFileName", "ReportId"]
frows = [
    {"Timestamp": "2025-11-22T10:21:30.441Z", "DeviceName": "gw01.corp.example", "ActionType": "FileModified",
     "FileName": "knockd.conf", "FolderPath": "/etc/knockd.conf", "InitiatingProcessAccountName": "root",
     "InitiatingProcessFileName": "vim.basic", "InitiatingProcessFolderPath": "/usr/bin/vim.basic",
     "InitiatingProcessCommandLine": "vim /etc/knockd.conf", "InitiatingProcessId": 7410,
     "InitiatingProcessParentFileName": "bash", "ReportId": 3001},
    {"Timestamp": "2025-11-22T10:22:05.010Z", "DeviceName": "gw01.corp.example", "ActionType": "FileCreated",
     "FileName": "access.conf", "FolderPath": "/etc/fwknop", "InitiatingProcessAccountName": "root",
     "InitiatingProcessFileName": "cp", "InitiatingProcessFolderPath": "/usr/bin/cp",
     "InitiatingProcessCommandLine": "cp /tmp/access.conf /etc/fwknop/access.conf", "InitiatingProcessId": 7420,
     "InitiatingProcessParentFileName": "bash", "ReportId": 3002},
]
with open("file-events.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=FILE_COLS, restval="")
    w.writeheader()
    w.writerows(frows)
