#!/usr/bin/env python3
"""Builds the Sysmon samples from the spec (formats.md 5.2; SysmonForLinux
outputxml.cpp at a9db850308e9b67fc0f31af76a96f7a6767b699b): one <Event> per
line, no XML declaration, the System fields that code writes, the EventData
fields of Sysmon's ProcessCreate (1), NetworkConnect (3) and FileCreate (11)
events. Run from this folder: python3 make-samples.py"""
from xml.sax.saxutils import escape, quoteattr

GUID = "{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"
record = [48210]

def system(eid, when, host, task, ns=False):
    record[0] += 1
    return (f'<System><Provider Name="Linux-Sysmon" Guid="{GUID}"/><EventID>{eid}</EventID><Version>5</Version>'
            f'<Level>4</Level><Task>{task}</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>'
            f'<TimeCreated SystemTime="{when}000Z"/><EventRecordID>{record[0]}</EventRecordID><Correlation/>'
            f'<Execution ProcessID="733" ThreadID="733"/><Channel>Linux-Sysmon/Operational</Channel>'
            f'<Computer>{host}</Computer><Security UserId="0"/></System>')

def data(fields):
    return "<EventData>" + "".join(f'<Data Name="{k}">{escape(str(v))}</Data>' for k, v in fields) + "</EventData>"

def utc(when):  # "2025-11-22T10:15:01.902113" -> "2025-11-22 10:15:01.902"
    return when.replace("T", " ")[:23]

def proc(when, host, pid, image, cmd, user, ppid, pimage, pcmd, orig="-", cwd="/root"):
    return "<Event>" + system(1, when, host, 1) + data([
        ("RuleName", "-"), ("UtcTime", utc(when)), ("ProcessGuid", "{5e1c2a9b-8f30-6921-5d1f-%012x}" % pid),
        ("ProcessId", pid), ("Image", image), ("FileVersion", "-"), ("Description", "-"), ("Product", "-"),
        ("Company", "-"), ("OriginalFileName", orig), ("CommandLine", cmd), ("CurrentDirectory", cwd),
        ("User", user), ("LogonGuid", "{5e1c2a9b-0000-0000-e803-000000000000}"), ("LogonId", 1000),
        ("TerminalSessionId", 7), ("IntegrityLevel", "no level"), ("Hashes", "-"),
        ("ParentProcessGuid", "{5e1c2a9b-7a11-6921-45b2-%012x}" % ppid), ("ParentProcessId", ppid),
        ("ParentImage", pimage), ("ParentCommandLine", pcmd), ("ParentUser", user)]) + "</Event>"

def filecreate(when, host, pid, image, target, user):
    return "<Event>" + system(11, when, host, 11) + data([
        ("RuleName", "-"), ("UtcTime", utc(when)), ("ProcessGuid", "{5e1c2a9b-8f30-6921-5d1f-%012x}" % pid),
        ("ProcessId", pid), ("Image", image), ("TargetFilename", target),
        ("CreationUtcTime", utc(when)), ("User", user)]) + "</Event>"

def netconn(when, host, pid, image, user, src, sport, dst, dport):
    return "<Event>" + system(3, when, host, 3) + data([
        ("RuleName", "-"), ("UtcTime", utc(when)), ("ProcessGuid", "{5e1c2a9b-8f30-6921-5d1f-%012x}" % pid),
        ("ProcessId", pid), ("Image", image), ("User", user), ("Protocol", "tcp"), ("Initiated", "true"),
        ("SourceIsIpv6", "false"), ("SourceIp", src), ("SourceHostname", "-"), ("SourcePort", sport),
        ("SourcePortName", "-"), ("DestinationIsIpv6", "false"), ("DestinationIp", dst),
        ("DestinationHostname", "-"), ("DestinationPort", dport), ("DestinationPortName", "ssh")]) + "</Event>"

def syslog(stamp, host, xml):
    return f"{stamp} {host} sysmon: {xml}"

lines = [
    # The event of formats.md 5.2 (UtcTime derived from its SystemTime).
    syslog("Nov 22 10:15:01", "ws-0142", proc("2025-11-22T10:15:01.902113", "ws-0142", 4188, "/usr/bin/knock",
           "knock -d 200 203.0.113.10 7000 8000 9000", "alice", 4121, "/usr/bin/bash", "-bash", cwd="/home/alice")),
    # A bash /dev/tcp loop; Sysmon for Linux joins argv with spaces, without quoting.
    syslog("Nov 22 10:16:40", "ws-0142", proc("2025-11-22T10:16:40.118200", "ws-0142", 4301, "/usr/bin/bash",
           "bash -c for p in 7000 8000 9000; do echo > /dev/tcp/203.0.113.10/$p; done", "alice", 4121, "/usr/bin/bash", "-bash", cwd="/home/alice")),
    # hping3 probes typed one by one at a host name.
    *[syslog(f"Nov 22 10:17:0{i}", "ws-0077", proc(f"2025-11-22T10:17:0{i}.50{i}000", "ws-0077", 5100 + i, "/usr/sbin/hping3",
           f"hping3 -S -p {p} -c 1 gw01.example.net", "bob", 5001, "/usr/bin/zsh", "-zsh", cwd="/home/bob"))
      for i, p in enumerate([7000, 8000, 9000])],
    # The door firing on gw01: knockd -> sh -c -> iptables (formats.md 1.7).
    syslog("Nov 22 10:15:02", "gw01", proc("2025-11-22T10:15:02.131000", "gw01", 7302, "/usr/bin/dash",
           "sh -c /usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", "root", 7301,
           "/usr/sbin/knockd", "/usr/sbin/knockd -i eth0", cwd="/")),
    syslog("Nov 22 10:15:02", "gw01", proc("2025-11-22T10:15:02.135000", "gw01", 7303, "/usr/sbin/xtables-nft-multi",
           "/usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", "root", 7302,
           "/usr/bin/dash", "sh -c /usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", cwd="/")),
    # Reading the config is not editing it; writing it is (FileCreate).
    syslog("Nov 22 10:20:11", "gw01", proc("2025-11-22T10:20:11.000100", "gw01", 7400, "/usr/bin/cat",
           "cat /etc/knockd.conf", "root", 7390, "/usr/bin/bash", "-bash")),
    syslog("Nov 22 10:21:30", "gw01", filecreate("2025-11-22T10:21:30.441000", "gw01", 7410, "/usr/bin/vim.basic",
           "/etc/knockd.conf", "root")),
    # A network event: read, yields nothing.
    syslog("Nov 22 10:15:04", "ws-0142", netconn("2025-11-22T10:15:04.450000", "ws-0142", 4190, "/usr/bin/ssh",
           "alice", "198.51.100.7", 51600, "203.0.113.10", 22)),
    # Another program's line and a netfilter line in the same file: decoded as the syslog format does.
    "Nov 22 10:15:03 gw01 sshd[811]: Accepted publickey for alice from 198.51.100.7 port 51600 ssh2",
    "Nov 22 10:15:02 gw01 kernel: [ 4821.337104] KNOCK-DROP IN=eth0 OUT= MAC=52:54:00:aa:bb:cc:52:54:00:11:22:33:08:00 SRC=198.51.100.7 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=40211 DF PROTO=TCP SPT=51514 DPT=7000 WINDOW=64240 RES=0x00 SYN URGP=0",
]
with open("syslog.log", "w") as f:
    f.write("\n".join(lines) + "\n")

# Windows Sysmon exported as XML (one event per line, with the event-log
# namespace): a renamed fwknop client; OriginalFileName comes from its
# version resource.
ns = "http://schemas.microsoft.com/win/2004/08/events/event"
win = proc("2025-11-22T10:15:01.455000", "ws-0077.corp.example", 6120,
           r"C:\Users\bob\AppData\Local\Temp\svchelper.exe",
           r'"C:\Users\bob\AppData\Local\Temp\svchelper.exe" -A tcp/3389 -a 198.51.100.7 -D 203.0.113.10 --use-hmac',
           r"CORP\bob", 6001, r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
           '"powershell.exe" -NoProfile', orig="fwknop.exe", cwd="C:\\Users\\bob\\")
win = win.replace("<Event>", f"<Event xmlns='{ns}'>", 1).replace('Name="Linux-Sysmon" Guid="' + GUID + '"',
      "Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'").replace(
      "Linux-Sysmon/Operational", "Microsoft-Windows-Sysmon/Operational")
with open("windows.xml", "w") as f:
    f.write(win + "\n")
