#!/usr/bin/env python3
"""The admin side at fleet size (issue 17; docs/benchmarks.md, "The admin side at fleet size").

For each fleet size: imports the fleet (`cloudmeta_loadgen records --labels | cloudmeta import`,
timed), imports one more record into it (timed), starts `cloudmeta serve` on it, lets a thousand
instances fetch metadata (so that "last seen" has entries), then times every admin request the
page and the API's users make, each repeated, on one keep-alive connection as the page has, and
prints p50/p99/max per request and the server's RSS after start-up and after all the requests.
SQLite by default; --postgres runs the same against a throwaway server (tests/support/
pg_cluster.sh: durability off, so the import times are a lower bound for a real disk).

Usage: bench/admin_scale.py [--postgres] [--repeat 50] [--build build] 10000 100000 1000000
Prints a markdown table per fleet size; the numbers in docs/benchmarks.md come from it.
"""
import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST_SOURCE = "127.16.0.0"  # instance n (1-based) is at FIRST_SOURCE + n - 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres(work, name):
    """A throwaway Postgres server (tests/support/pg_cluster.sh); yields its DATABASE_URL."""
    state = os.path.join(work, name)
    os.mkdir(state)
    cluster = os.path.join(ROOT, "tests", "support", "pg_cluster.sh")
    subprocess.run(["bash", cluster, "start", state], check=True)
    try:
        with open(os.path.join(state, "env")) as f:
            pg = dict(line.split("=", 1) for line in f.read().split() if "=" in line)
        yield (f"postgresql://{pg['PG_USER']}:{pg['PG_PASSWORD']}@{pg['PG_HOST']}:"
               f"{pg['PG_PORT']}/postgres")
    finally:
        subprocess.run(["bash", cluster, "stop", state], check=True)


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def table(headers, rows):
    """Prints a markdown table."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    sys.stdout.flush()


def source_of(n):
    base = int.from_bytes(socket.inet_aton(FIRST_SOURCE), "big")
    return socket.inet_ntoa((base + n - 1).to_bytes(4, "big"))


def instance_id(n):
    return "i-%017x" % n


class Admin:
    """One keep-alive connection to the admin API, as the page keeps one."""

    def __init__(self, port, token):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None, expect=(200,)):
        started = time.perf_counter()
        self.connection.request(method, path, body, self.headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return elapsed_ms, (json.loads(data) if data else None)


def import_fleet(env, cloudmeta, loadgen, count):
    started = time.perf_counter()
    records = subprocess.Popen([loadgen, "records", "--count", str(count), "--labels",
                                "--first-source", FIRST_SOURCE, "--extra-ip", "127.0.0.1"],
                               stdout=subprocess.PIPE)
    subprocess.run([cloudmeta, "import"], stdin=records.stdout, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    records.stdout.close()
    if records.wait() != 0:
        raise RuntimeError("cloudmeta_loadgen records failed")
    return time.perf_counter() - started


def import_one(env, cloudmeta):
    line = json.dumps({"instance_id": "i-0fffffffffffffff0", "ip": "127.15.255.254",
                       "hostname": "one-more"}) + "\n"
    started = time.perf_counter()
    subprocess.run([cloudmeta, "import"], input=line.encode(), env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def metadata_of(port, n, path):
    """Instance n's GET of a metadata path (IMDSv1), from its own source address: the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source_of(n), 0)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    return answer.split(b"\r\n\r\n", 1)[-1].decode()


def touch_metadata(port, count):
    """A thousand instances fetch their instance-id, so last_seen has something to sort."""
    for n in range(1, min(count, 1000) + 1):
        answer = metadata_of(port, n, "/latest/meta-data/instance-id")
        if answer != instance_id(n):
            raise RuntimeError(f"instance {n} was answered {answer[:200]!r}")


def measure(admin, count, repeat):
    """Yields (name, [ms...]) per admin request."""
    mid = max(1, count // 2)
    page = "/api/v1/instances?sort=instance_id&order=asc&limit=50"
    yield "page opens: first list call (`sort=instance_id&limit=50`)", [
        admin.call("GET", page)[0] for _ in range(repeat)]

    times, cursor = [], None
    for _ in range(repeat):
        path = page + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        ms, body = admin.call("GET", path)
        times.append(ms)
        cursor = body["next_cursor"]
    yield f"next page by cursor ({repeat} pages deep)", times

    _, body = admin.call("GET", "/api/v1/instances?sort=hostname&order=desc&limit=50")
    times, cursor = [], body["next_cursor"]
    for _ in range(repeat):
        ms, body = admin.call("GET", "/api/v1/instances?sort=hostname&order=desc&limit=50"
                              "&cursor=" + urllib.parse.quote(cursor))
        times.append(ms)
        cursor = body["next_cursor"] or cursor
    yield "page by cursor, `sort=hostname&order=desc`", times

    cases = [
        ("search: id prefix (`q=i-0000000000000`)", "q=i-0000000000000"),
        (f"search: host name (`q=vm-{mid}`)", f"q=vm-{mid}"),
        ("filter: tag on a tenth of the fleet (`tag=env=env-3`)", "tag=env=env-3"),
        ("filter: rare tag (`tag=canary=yes`)", "tag=canary=yes"),
        ("filter: both tags", "tag=env=env-0&tag=canary=yes"),
        (f"filter: address (`ip={source_of(mid)}`)", f"ip={source_of(mid)}"),
        ("sort by last seen (`sort=last_seen&order=desc`)", "sort=last_seen&order=desc"),
        ("sort by address, descending", "sort=ip&order=desc"),
    ]
    for name, query in cases:
        yield name, [admin.call("GET", f"/api/v1/instances?{query}&limit=50")[0]
                     for _ in range(repeat)]

    yield "GET one instance", [
        admin.call("GET", f"/api/v1/instances/{instance_id(1 + i * 7919 % count)}")[0]
        for i in range(repeat)]
    yield "PATCH one instance (a tag)", [
        admin.call("PATCH", f"/api/v1/instances/{instance_id(1 + i * 7919 % count)}",
                   json.dumps({"tags": {"patched": str(i)}}))[0]
        for i in range(repeat)]
    deleted, recreated = [], []
    for i in range(repeat):
        n = 1 + (i * 104729 + 13) % count
        _, record = admin.call("GET", f"/api/v1/instances/{instance_id(n)}")
        deleted.append(admin.call("DELETE", f"/api/v1/instances/{instance_id(n)}",
                                  expect=(204,))[0])
        record = {k: v for k, v in record.items() if k not in ("created_at", "updated_at",
                                                               "last_seen")}
        recreated.append(admin.call("POST", "/api/v1/instances", json.dumps(record),
                                    expect=(201,))[0])
    yield "DELETE one instance", deleted
    yield "POST one instance", recreated
    yield "unpaginated `GET /api/v1/instances` (refused past 1,000)", [
        admin.call("GET", "/api/v1/instances", expect=(200, 400))[0] for _ in range(repeat)]


def run_size(args, count, database_url, work):
    env = dict(os.environ, DATABASE_URL=database_url, LOG_LEVEL="warn")
    cloudmeta = os.path.join(args.build, "cloudmeta")
    loadgen = os.path.join(args.build, "bench", "cloudmeta_loadgen")
    import_s = import_fleet(env, cloudmeta, loadgen, count)
    one_s = import_one(env, cloudmeta)
    token = subprocess.run([cloudmeta, "token", "create", "--name", f"bench{count}"], env=env,
                           check=True, capture_output=True, text=True).stdout.split()[-1]
    port, admin_port = free_port(), free_port()
    log = open(os.path.join(work, f"serve-{count}.log"), "w")
    started = time.perf_counter()
    # In the work directory: its snapshot cache (SNAPSHOT_CACHE's default, a file in the working
    # directory, 1 GB at a million instances) goes there, as it would to /var/lib/cloudmeta.
    server = subprocess.Popen(
        [cloudmeta, "serve"], stdout=log, stderr=subprocess.STDOUT, cwd=work,
        env=dict(env, SECRET_KEY="bench-secret-key-0123456789abcdef", BIND="127.0.0.1",
                 PORT=str(port), ADMIN_PORT=str(admin_port), THREADS="1"))
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", admin_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"cloudmeta serve exited; see {log.name}")
                time.sleep(0.05)
        startup_s = time.perf_counter() - started
        touch_metadata(port, count)
        rss_start = rss_mib(server.pid)
        admin = Admin(admin_port, token)
        rows = list(measure(admin, count, args.repeat))
        rss_end = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait()
        log.close()
    print(f"\n### {count:,} instances ({args.backend})\n")
    print(f"import of the fleet {import_s:.1f} s ({count / import_s:,.0f} records/s); "
          f"import of one more record {one_s * 1000:.0f} ms; start-up {startup_s:.2f} s; "
          f"RSS after start-up and 1,000 metadata callers {rss_start:.0f} MiB, after the "
          f"admin requests below {rss_end:.0f} MiB ({rss_end - rss_start:+.0f} MiB)\n")
    table([f"admin request ({args.repeat} each)", "p50 ms", "p99 ms", "max ms"],
          [(name, f"{percentile(t, 50):.1f}", f"{percentile(t, 99):.1f}", f"{max(t):.1f}")
           for name, t in rows])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="+", type=int)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = parser.parse_args()
    args.backend = "Postgres" if args.postgres else "SQLite"
    with tempfile.TemporaryDirectory(prefix="cloudmeta-admin-bench-") as work:
        for count in args.sizes:
            if not args.postgres:
                run_size(args, count, "sqlite://" + os.path.join(work, f"fleet{count}.db"), work)
                continue
            with postgres(work, f"pg{count}") as url:
                run_size(args, count, url, work)

if __name__ == "__main__":
    main()
