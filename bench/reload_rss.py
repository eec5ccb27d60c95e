"""The server's resident memory across full reloads with one metadata thread idle: what a
superseded snapshot costs while a thread that served it once serves nothing more.

Starts `cloudmeta serve` on an already seeded SQLite fleet (bench/run.sh's records, e.g.
`cloudmeta_loadgen records --count 1000000 --first-source 127.16.0.0 | cloudmeta import`) with
THREADS=2 and FULL_RESYNC_INTERVAL_S=1, so that reloads follow each other. Before the first
reload, 32 short connections from fleet addresses are served (with SO_REUSEPORT both threads get
some, and each caches the snapshot); then one keep-alive connection asks every 100 ms, keeping
one thread busy and leaving the other idle. Prints VmRSS after each reload and a RESULT line.

  python3 bench/reload_rss.py BINARY DB [RELOADS]
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get(port, source):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    conn.request("GET", "/latest/meta-data/instance-id")
    body = conn.getresponse().read()
    conn.close()
    return body


def main():
    binary, db = sys.argv[1], sys.argv[2]
    reloads = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    log = tempfile.NamedTemporaryFile(prefix="reload-rss-", suffix=".log", delete=False)
    env = dict(os.environ, DATABASE_URL=f"sqlite://{db}", BIND="127.0.0.1", PORT="0",
               ADMIN_PORT="0", THREADS="2", FULL_RESYNC_INTERVAL_S="1",
               REFRESH_INTERVAL_MS="100", LOG_LEVEL="info",
               SECRET_KEY="reload-rss-secret-key-0123456789abcdef")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log)

    def text():
        with open(log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    try:
        port = None
        while port is None:
            if server.poll() is not None:
                sys.exit("server exited:\n" + text())
            m = re.search(r"event=listening surface=metadata .*port=(\d+)", text())
            port = int(m.group(1)) if m else None
            time.sleep(0.1)
        # 127.16.0.0 + i are fleet addresses (bench/run.sh's records).
        for i in range(32):
            if get(port, f"127.16.0.{i + 1}") == b"":
                sys.exit("a fleet address got no instance id")
        stop = threading.Event()

        def busy():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60,
                                              source_address=("127.16.1.1", 0))
            while not stop.is_set():
                conn.request("GET", "/latest/meta-data/instance-id")
                conn.getresponse().read()
                time.sleep(0.1)
            conn.close()

        worker = threading.Thread(target=busy)
        worker.start()
        loaded = text().count("event=snapshot_loaded")
        first = loaded
        samples = []
        print(f"after start-up and the first requests: {rss_kib(server.pid)} KiB", flush=True)
        while loaded - first < reloads:
            time.sleep(0.05)
            now = text().count("event=snapshot_loaded")
            if now != loaded:
                loaded = now
                samples.append(rss_kib(server.pid))
                print(f"reload {loaded - first}: {samples[-1]} KiB", flush=True)
        stop.set()
        worker.join()
        ordered = sorted(samples)
        print(f"RESULT reloads={len(samples)} rss_min_kib={ordered[0]} "
              f"rss_median_kib={ordered[len(ordered) // 2]} rss_max_kib={ordered[-1]} "
              f"rss_last_kib={samples[-1]}", flush=True)
    finally:
        server.terminate()
        server.wait()
        os.unlink(log.name)


if __name__ == "__main__":
    main()
