#!/usr/bin/env python3
"""Builds the ECS samples from the spec (formats.md 5.4; field names from
https://www.elastic.co/guide/en/ecs/current/ecs-process.html, ecs-file.html,
ecs-event.html, ecs-user.html, ecs-host.html): documents shaped as Auditbeat's
auditd module, Elastic Defend (endpoint) and Winlogbeat write them, one JSON
object per line. Run from this folder: python3 make-samples.py"""
import json

def doc(ts, host, user, args, exe, ppid, pexe, pcmd, pid, etype="start", action="exec", cwd="/home/alice", extra=None):
    d = {"@timestamp": ts, "ecs": {"version": "8.11.0"},
         "event": {"category": ["process"], "type": [etype], "action": action, "kind": "event"},
         "host": {"name": host, "hostname": host, "os": {"type": "linux"}},
         "user": {"name": user, "id": "1000"},
         "process": {"pid": pid, "name": exe.rsplit("/", 1)[-1], "executable": exe, "args": args,
                     "args_count": len(args), "command_line": " ".join(args), "working_directory": cwd,
                     "parent": {"pid": ppid, "name": pexe.rsplit("/", 1)[-1], "executable": pexe, "command_line": pcmd}}}
    if extra:
        for k, v in extra.items():
            d[k].update(v) if isinstance(v, dict) and k in d else d.__setitem__(k, v)
    return d

lines = [
    # formats.md 5.4's example document.
    {"@timestamp": "2025-11-22T10:15:01.902Z", "event": {"category": ["process"], "type": ["start"], "action": "exec"},
     "host": {"name": "ws-0142"}, "user": {"name": "alice", "id": "1000"},
     "process": {"pid": 4188, "name": "knock", "executable": "/usr/bin/knock",
                 "args": ["knock", "-v", "203.0.113.10", "7000", "8000", "9000"], "args_count": 6,
                 "command_line": "knock -v 203.0.113.10 7000 8000 9000", "working_directory": "/home/alice",
                 "parent": {"pid": 4121, "name": "bash", "executable": "/usr/bin/bash", "command_line": "-bash"}}},
    # Auditbeat's auditd module: sudo'ed nmap knock; user.audit is the login user.
    doc("2025-11-22T10:18:20.330Z", "ws-0142", "root",
        ["nmap", "-Pn", "-r", "--max-retries", "0", "-p", "7000,8000,9000", "203.0.113.10"], "/usr/bin/nmap",
        4500, "/usr/bin/sudo", "sudo nmap -Pn -r --max-retries 0 -p 7000,8000,9000 203.0.113.10", 4501,
        action="executed", extra={"user": {"audit": {"id": "1000", "name": "alice"}}}),
    # Dotted keys, as some shippers flatten documents.
    {"@timestamp": "2025-11-22T10:19:00.000Z", "event.category": "process", "event.type": "start",
     "host.name": "ws-0142", "user.name": "alice", "process.pid": 4600, "process.executable": "/usr/bin/nping",
     "process.args": ["nping", "--tcp", "-p", "7000,8000,9000", "--flags", "syn", "-c", "1", "203.0.113.10"],
     "process.parent": {"executable": "/usr/bin/bash", "pid": 4121}},
    # A process end: ignored.
    doc("2025-11-22T10:18:21.100Z", "ws-0142", "root", ["nmap"], "/usr/bin/nmap", 4500, "/usr/bin/sudo", "sudo", 4501,
        etype="end", action="end"),
    # Elastic Defend: a file change of knockd.conf on gw01.
    {"@timestamp": "2025-11-22T10:21:30.441Z", "event": {"category": ["file"], "type": ["change"], "action": "modification"},
     "host": {"name": "gw01", "hostname": "gw01"}, "user": {"name": "root"},
     "file": {"path": "/etc/knockd.conf", "name": "knockd.conf", "extension": "conf"},
     "process": {"pid": 7410, "executable": "/usr/bin/vim.basic", "name": "vim.basic"}},
    # A file read (event.type access): ignored.
    {"@timestamp": "2025-11-22T10:21:31.000Z", "event": {"category": ["file"], "type": ["access"]},
     "host": {"name": "gw01"}, "file": {"path": "/etc/knockd.conf"}, "process": {"pid": 7411, "executable": "/usr/bin/cat"}},
    # A network flow: not a process or file event.
    {"@timestamp": "2025-11-22T10:15:04.450Z", "event": {"category": ["network"], "type": ["connection", "start"]},
     "host": {"name": "ws-0142"}, "source": {"ip": "198.51.100.7", "port": 51600}, "destination": {"ip": "203.0.113.10", "port": 22},
     "process": {"pid": 4190, "executable": "/usr/bin/ssh"}},
    # An Elasticsearch hit as exported by a search: the document is _source.
    {"_index": ".ds-logs-endpoint.events.process-default-2025.11.22-000001", "_id": "Yb3kx5MBq9", "_score": None,
     "_source": doc("2025-11-22T10:15:02.135Z", "gw01", "root",
                    ["/usr/sbin/iptables", "-A", "INPUT", "-s", "198.51.100.7", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
                    "/usr/sbin/xtables-nft-multi", 7302, "/usr/bin/dash",
                    "sh -c /usr/sbin/iptables -A INPUT -s 198.51.100.7 -p tcp --dport 22 -j ACCEPT", 7303, cwd="/")},
    # Winlogbeat's Sysmon event 1 for a renamed fwknop client (process.pe.original_file_name).
    {"@timestamp": "2025-11-22T10:31:12.020Z", "event": {"category": ["process"], "type": ["start"], "code": "1",
     "provider": "Microsoft-Windows-Sysmon"}, "host": {"name": "ws-0077.corp.example"}, "user": {"name": "bob", "domain": "CORP"},
     "process": {"pid": 6230, "executable": "C:\\Users\\bob\\AppData\\Local\\Temp\\svchelper.exe", "name": "svchelper.exe",
                 "pe": {"original_file_name": "fwknop.exe"},
                 "args": ["C:\\Users\\bob\\AppData\\Local\\Temp\\svchelper.exe", "-A", "tcp/3389", "-a", "198.51.100.7", "-D", "203.0.113.10", "--use-hmac"],
                 "command_line": "\"C:\\Users\\bob\\AppData\\Local\\Temp\\svchelper.exe\" -A tcp/3389 -a 198.51.100.7 -D 203.0.113.10 --use-hmac",
                 "parent": {"pid": 6201, "executable": "C:\\Windows\\System32\\cmd.exe", "name": "cmd.exe"}}},
]
with open("events.json", "w") as f:
    for d in lines:
        f.write(json.dumps(d, separators=(",", ":")) + "\n")
