"""Times how long after a guest's move the metadata service answers it as expected.

Usage (inside the guest's network namespace, with Debian's /usr/bin/python3):
  rebind_poll.py STATUS LIMIT_MS INTERVAL_MS -- COMMAND...

Runs COMMAND (what makes the guest send from its new place: its address on the new port), then
from the moment it returned polls GET /latest/meta-data/instance-id at 169.254.169.254, a new
connection each time (the binding is checked once per connection), every INTERVAL_MS until the
answer's status is STATUS. Prints the elapsed milliseconds and every poll's status; exits 1 if
STATUS did not come within LIMIT_MS. Polling from one process keeps a process start per poll
(tens to hundreds of milliseconds on a busy machine) out of the measurement.
"""

import http.client
import subprocess
import sys
import time


def status_now():
    conn = http.client.HTTPConnection("169.254.169.254", 80, timeout=1)
    try:
        conn.request("GET", "/latest/meta-data/instance-id")
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError as e:
        return type(e).__name__
    finally:
        conn.close()


def main():
    want, limit_ms, interval_ms = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    if sys.argv[4] != "--" or len(sys.argv) < 6:
        sys.exit("usage: rebind_poll.py STATUS LIMIT_MS INTERVAL_MS -- COMMAND...")
    subprocess.run(sys.argv[5:], check=True)
    start = time.monotonic()
    polls = []
    while True:
        got = status_now()
        elapsed = (time.monotonic() - start) * 1000
        polls.append(f"{got}@{elapsed:.0f}ms")
        if got == want or elapsed > limit_ms:
            break
        time.sleep(interval_ms / 1000)
    ok = got == want and elapsed <= limit_ms
    print(f"{elapsed:.0f} ms; polls: {' '.join(polls)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
