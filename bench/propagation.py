#!/usr/bin/env python3
"""A write on one host, served by the others (issue 17; docs/benchmarks.md, "Fleet sync").

Three `cloudmeta serve` hosts share one throwaway Postgres (tests/support/pg_cluster.sh) holding
a fleet of COUNT instances. Two measurements per fleet size:
  1. Propagation: host A PATCHes an instance's host name, then hosts B and C are asked for that
     instance's hostname (from its own source address, as its VM would) until they serve the new
     one; the time from A's answer to B's (and C's) first new answer, over --writes writes.
  2. CPU per write: the hosts take --rate writes/s in total for --seconds (a third each, all
     three at once); each host's CPU time over that window (utime+stime from /proc), minus what
     it spends idle in as long, divided by the writes of all three (its own admin requests and
     applying the others'), to compare across fleet sizes.

Usage: bench/propagation.py [--writes 200] [--rate 1000] [--seconds 10] [--build build] SIZES...
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from admin_scale import (ROOT, free_port, import_fleet, instance_id,  # noqa: E402
                         metadata_of, percentile, postgres, rss_mib, table)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Host:
    def __init__(self, cloudmeta, env, work, name):
        self.port, self.admin_port = free_port(), free_port()
        # A working directory each, for each host's own snapshot cache file, as on three hosts.
        home = os.path.join(work, name)
        os.mkdir(home)
        self.log = open(os.path.join(home, "serve.log"), "w")
        self.process = subprocess.Popen(
            [cloudmeta, "serve"], stdout=self.log, stderr=subprocess.STDOUT, cwd=home,
            env=dict(env, SECRET_KEY="bench-secret-key-0123456789abcdef", BIND="127.0.0.1",
                     PORT=str(self.port), ADMIN_PORT=str(self.admin_port), THREADS="1"))

    def wait(self):
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.admin_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"cloudmeta serve exited; see {self.log.name}")
                time.sleep(0.05)

    def stop(self):
        self.process.terminate()
        self.process.wait()
        self.log.close()


def patch(connection, token, n, hostname):
    connection.request("PATCH", f"/api/v1/instances/{instance_id(n)}",
                       json.dumps({"hostname": hostname}),
                       {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"PATCH {instance_id(n)}: {response.status} {body[:200]!r}")


def propagation(hosts, token, count, writes):
    a, others = hosts[0], hosts[1:]
    connection = http.client.HTTPConnection("127.0.0.1", a.admin_port, timeout=30)
    delays = {id(h): [] for h in others}
    for k in range(writes):
        n = 1 + (k * 7919) % count
        name = f"p{k}-{n}"
        patch(connection, token, n, name)
        written = time.perf_counter()
        pending = list(others)
        while pending:
            for host in list(pending):
                if metadata_of(host.port, n, "/latest/meta-data/hostname") == name:
                    delays[id(host)].append((time.perf_counter() - written) * 1000)
                    pending.remove(host)
            if time.perf_counter() - written > 30:
                raise RuntimeError(f"write {k} not served by every host within 30 s")
    return [delays[id(h)] for h in others]


def writer(host, token, count, rate, seconds, offset, made):
    connection = http.client.HTTPConnection("127.0.0.1", host.admin_port, timeout=30)
    interval = 1.0 / rate
    due = time.perf_counter()
    end = due + seconds
    k = 0
    while due < end:
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        n = 1 + ((k * 3 + offset) * 104729) % count
        patch(connection, token, n, f"r{offset}-{k}")
        k += 1
        due += interval
    made[offset] = k


def cpu_per_remote_write(hosts, token, count, rate, seconds):
    idle_before = [cpu_s(h.process.pid) for h in hosts]
    time.sleep(seconds)
    idle = [cpu_s(h.process.pid) - b for h, b in zip(hosts, idle_before)]
    made = [0] * len(hosts)
    before = [cpu_s(h.process.pid) for h in hosts]
    started = time.perf_counter()
    threads = [threading.Thread(target=writer,
                                args=(h, token, count, rate / len(hosts), seconds, i, made))
               for i, h in enumerate(hosts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started  # longer than asked when the writes fell behind
    time.sleep(1)  # the last writes reach the others
    busy = [cpu_s(h.process.pid) - b for h, b in zip(hosts, before)]
    # A host's CPU in the window pays for its own writes (admin API, store) and for applying
    # the others'; what matters is that it does not grow with the fleet (compare the sizes).
    return made, idle, busy, sum(made), elapsed


def run_size(args, count, work):
    hosts = []
    with postgres(work, f"pg{count}") as url:
        try:
            env = dict(os.environ, LOG_LEVEL="warn", DATABASE_URL=url)
            cloudmeta = os.path.join(args.build, "cloudmeta")
            import_fleet(env, cloudmeta,
                         os.path.join(args.build, "bench", "cloudmeta_loadgen"), count)
            token = subprocess.run([cloudmeta, "token", "create", "--name", "bench"], env=env,
                                   check=True, capture_output=True, text=True).stdout.split()[-1]
            hosts = [Host(cloudmeta, env, work, f"host{i}-{count}") for i in range(3)]
            for host in hosts:
                host.wait()
            delays = propagation(hosts, token, count, args.writes)
            made, idle, busy, total, elapsed = cpu_per_remote_write(hosts, token, count,
                                                                    args.rate, args.seconds)
            rss = [rss_mib(host.process.pid) for host in hosts]
        finally:
            for host in hosts:
                host.stop()
    print(f"\n### {count:,} instances, 3 hosts on one Postgres\n")
    table(["a write on host A, first served by", "writes", "p50 ms", "p99 ms", "max ms"],
          [(name, len(v), f"{percentile(v, 50):.1f}", f"{percentile(v, 99):.1f}",
            f"{max(v):.1f}") for name, v in zip(("host B", "host C"), delays)])
    rss_text = ", ".join(f"{r:.0f}" for r in rss)
    print(f"\n{total} writes in {elapsed:.1f} s across the three ({total / elapsed:.0f}/s; "
          f"{args.rate:.0f}/s for {args.seconds:.0f} s asked), each host's RSS afterwards "
          f"{rss_text} MiB\n")
    table(["host", "own writes", "others' writes", "CPU s in the window", "idle CPU s",
           "CPU ms per write in the fleet"],
          [("ABC"[i], made[i], total - made[i], f"{busy[i]:.2f}", f"{idle[i]:.2f}",
            f"{(busy[i] - idle[i]) / max(1, total) * 1000:.3f}") for i in range(len(hosts))])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cloudmeta-propagation-") as work:
        for count in args.sizes:
            run_size(args, count, work)


if __name__ == "__main__":
    main()
