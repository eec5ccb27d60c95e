"""Turns strace logs of real IMDS clients (bench/capture_boot_sequence.sh) into the request
sequence bench/boot_storm.py replays: per client, every HTTP request in the order sent, with the
connection it went out on (a new number = a new TCP connection), its method, path, headers and
body, and the status the server answered (from the server's request log).

Per-guest values become placeholders the storm fills in: the record's MAC -> {mac}, the record's
address -> {ip}, its instance id -> {instance_id}, a token header's value -> {token} (the body of
the same client's latest token PUT).

Usage: boot_sequence_from_strace.py --record RECORD_JSON --versions TEXT --server-log LOG
         --client NAME=TRACE [--client NAME=TRACE ...]   (JSON on stdout)
"""

import argparse
import json
import re
import sys

# strace -xx prints the address as hex escapes too: inet_addr("\x31\x36...").
IMDS_CONNECT = re.compile(r'sin_port=htons\(80\), sin_addr=inet_addr\("([^"]*)"\)')
CALL = re.compile(r"^(\d+)\s+(connect|sendto|sendmsg|write|close)\((\d+)(.*)$")
QUOTED = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
TOKEN_HEADER = "x-aws-ec2-metadata-token"


def unhex(text):
    return bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", text))


def join_unfinished(lines):
    """strace -f splits a call interrupted by another thread into '<unfinished ...>' and
    '<... NAME resumed>' lines; glue them back together."""
    pending = {}
    for line in lines:
        line = line.rstrip("\n")
        m = re.match(r"^(\d+)\s+(.*) <unfinished \.\.\.>$", line)
        if m:
            pending[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$", line)
        if m:
            yield f"{m.group(1)} {pending.pop(m.group(1), '')}{m.group(2)}"
            continue
        yield line


def streams(trace_path):
    """The bytes sent on each connection to 169.254.169.254:80, in the order connected."""
    open_fds = {}  # (pid, fd) -> index into out
    out = []
    with open(trace_path, encoding="ascii") as f:
        for line in join_unfinished(f):
            m = CALL.match(line)
            if not m:
                continue
            pid, call, fd, rest = m.groups()
            key = (pid, fd)
            if call == "connect":
                a = IMDS_CONNECT.search(rest)
                if a and unhex(a.group(1)) == b"169.254.169.254":
                    open_fds[key] = len(out)
                    out.append(bytearray())
                else:
                    open_fds.pop(key, None)
            elif call == "close":
                open_fds.pop(key, None)
            elif key in open_fds:
                q = QUOTED.search(rest)
                if q:
                    out[open_fds[key]] += unhex(q.group(1))
    return out


def requests_of(stream):
    """Splits one connection's bytes into HTTP requests (Content-Length bodies only: the clients
    send no chunked bodies)."""
    data = bytes(stream)
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError(f"unterminated request head: {data[:80]!r}")
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ")
        headers = [tuple(part.strip() for part in h.split(":", 1)) for h in lines[1:]]
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
        body, data = rest[:length], rest[length:]
        yield method, path, version, headers, body.decode("latin-1")


def server_statuses(log_path, address):
    """(method, path, status) of every metadata request from address, in the order logged."""
    out = []
    with open(log_path, encoding="utf-8") as f:
        for line in f:
            if "event=request " not in line or f" address={address} " not in line:
                continue
            fields = dict(re.findall(r"(\w+)=(\S+)", line))
            out.append((fields["method"], fields["path"], int(fields["status"])))
    return out


def placeholders(text, record):
    for value, name in ((record["mac"], "{mac}"), (record["instance_id"], "{instance_id}"),
                        (record["ip"], "{ip}")):
        text = text.replace(value, name)
    return text


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--record", required=True)
    p.add_argument("--versions", required=True)
    p.add_argument("--server-log", required=True)
    p.add_argument("--client", action="append", required=True, metavar="NAME=TRACE")
    args = p.parse_args()
    with open(args.record, encoding="utf-8") as f:
        record = json.load(f)

    statuses = server_statuses(args.server_log, record["ip"])
    clients = {}
    for spec in args.client:
        name, trace = spec.split("=", 1)
        sequence = []
        for connection, stream in enumerate(streams(trace)):
            for method, path, version, headers, body in requests_of(stream):
                if not statuses:
                    sys.exit(f"{name}: {method} {path} is missing from the server log")
                logged = statuses.pop(0)
                if logged[:2] != (method, path.split("?")[0]):
                    sys.exit(f"{name}: traced {method} {path}, server logged {logged}")
                sequence.append({
                    "connection": connection,
                    "method": method,
                    "path": placeholders(path, record),
                    "version": version,
                    "headers": [[k, "{token}" if k.lower() == TOKEN_HEADER
                                 else placeholders(v, record)] for k, v in headers],
                    "body": body,
                    "status": logged[2],
                })
        clients[name] = sequence
    if statuses:
        sys.exit(f"the server logged {len(statuses)} requests no trace holds: {statuses[:3]}")

    template = json.loads(placeholders(json.dumps(record), record))
    json.dump({
        "about": "Requests sent by real IMDS clients at boot, recorded with strace by "
                 "bench/capture_boot_sequence.sh; replayed by bench/boot_storm.py. A new "
                 "'connection' number is a new TCP connection. {token} is the body of the "
                 "client's latest PUT /latest/api/token; {mac}, {ip}, {instance_id} are the "
                 "guest's.",
        "versions": args.versions,
        "record": template,
        "clients": clients,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
