"""Signed identity at fleet size (docs/benchmarks.md, "Signed identity"): what a guest's first
request for dynamic/instance-identity/pkcs7 costs (the signing thread signs the document, the
connection waits), what its later requests cost (served like any leaf), and what the signatures
cost the server in CPU and memory, in a fleet of --fleet instances of which --guests ask.

A fleet is imported with `cloudmeta import` into a fresh SQLite file; the guests are loopback
addresses (127.1.0.0 up, each its record's ip; no namespace needed), each asking once with a new
connection for pkcs7 (signed then) and then for pkcs7 again and for rsa2048 (both served from the
signatures kept). The keys are made first, by GET /api/v1/identity/certificates, and that time is
reported on its own. Each guest's instance is rendered first (its instance-id asked), so that the
numbers are the signing's alone. Server CPU is utime + stime from /proc/PID/stat.

Usage: python3 bench/identity_signing.py --cloudmeta build/cloudmeta [--fleet 100000]
       [--guests 10000]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

FIRST = (127 << 24) | (1 << 16)  # 127.1.0.0


def ip(i):
    a = FIRST + i
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get(port, source, path):
    """One GET on a new connection from `source`: (status, body length, seconds)."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), source_address=(source, 0)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    elapsed = time.perf_counter() - start
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), len(body), elapsed


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cloudmeta", required=True)
    parser.add_argument("--fleet", type=int, default=100000)
    parser.add_argument("--guests", type=int, default=10000)
    args = parser.parse_args()
    binary = os.path.abspath(args.cloudmeta)
    work = tempfile.mkdtemp(prefix="cloudmeta-signing-")
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{work}/fleet.db",
           "SNAPSHOT_CACHE": "off", "LOG_LEVEL": "warn"}

    started = time.time()
    lines = "".join(json.dumps({"instance_id": f"i-{i + 1:017x}", "ip": ip(i)}) + "\n"
                    for i in range(args.fleet))
    subprocess.run([binary, "import"], input=lines.encode(), env=env, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"imported {args.fleet} records in {time.time() - started:.1f} s")

    log = open(f"{work}/server.log", "w")
    server = subprocess.Popen([binary, "serve"], env={**env, "PORT": "0", "BIND": "127.0.0.1",
                                                      "ADMIN_PORT": "0", "LOG_LEVEL": "info"},
                              stderr=log, stdout=subprocess.DEVNULL)
    try:
        ports = {}
        for _ in range(600):
            text = open(f"{work}/server.log").read()
            for line in text.splitlines():
                if "event=listening" in line:
                    surface = line.split("surface=")[1].split()[0]
                    ports[surface] = int(line.split(" port=")[1].split()[0])
            if len(ports) == 2:
                break
            time.sleep(0.1)
        meta, admin = ports["metadata"], ports["admin"]

        cpu0, rss0 = cpu_seconds(server.pid), rss_kib(server.pid)
        t = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/api/v1/identity/certificates") as r:
            r.read()
        keys_s = time.perf_counter() - t
        cpu1, rss1 = cpu_seconds(server.pid), rss_kib(server.pid)
        print(f"keys made (DSA 2048/224 + RSA 2048, stored): {keys_s * 1000:.0f} ms wall, "
              f"{(cpu1 - cpu0) * 1000:.0f} ms server CPU")

        # Rendered first (a fleet loaded from the store renders an instance on its first request),
        # so that what follows is the signing alone.
        for i in range(args.guests):
            get(meta, ip(i), "/latest/meta-data/instance-id")
        cpu1, rss1 = cpu_seconds(server.pid), rss_kib(server.pid)
        path = "/latest/dynamic/instance-identity/"
        first, again, other = [], [], []
        for i in range(args.guests):
            status, size, s = get(meta, ip(i), path + "pkcs7")
            if status != 200 or size < 500:
                sys.exit(f"guest {ip(i)}: pkcs7 answered {status}, {size} bytes")
            first.append(s)
        cpu2, rss2 = cpu_seconds(server.pid), rss_kib(server.pid)
        for i in range(args.guests):
            again.append(get(meta, ip(i), path + "pkcs7")[2])
            other.append(get(meta, ip(i), path + "rsa2048")[2])
        cpu3 = cpu_seconds(server.pid)

        def ms(values, p):
            return percentile(values, p) * 1000

        print(f"fleet {args.fleet}, {args.guests} guests")
        print(f"  first pkcs7 (signs): p50 {ms(first, 0.5):.2f} ms, p99 {ms(first, 0.99):.2f} ms; "
              f"server CPU {(cpu2 - cpu1) / args.guests * 1e6:.0f} us per guest; "
              f"RSS +{rss2 - rss1} KiB = {(rss2 - rss1) * 1024 / args.guests:.0f} B per signed document")
        print(f"  pkcs7 again: p50 {ms(again, 0.5):.2f} ms, p99 {ms(again, 0.99):.2f} ms; rsa2048: "
              f"p50 {ms(other, 0.5):.2f} ms; server CPU {(cpu3 - cpu2) / (2 * args.guests) * 1e6:.0f} "
              f"us per request (new connection each)")
        print(f"  RSS at start {rss0} KiB, after {rss_kib(server.pid)} KiB")
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
