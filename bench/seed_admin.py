#!/usr/bin/env python3
"""Registers instance records (JSON lines on stdin) through the admin API: bench/run.sh's way to
seed a small fleet when the binary has no `cloudmeta import`. Usage: seed_admin.py PORT TOKEN.
Exits 1 naming the first record the API refused."""
import http.client
import sys


def main() -> int:
    port, token = int(sys.argv[1]), sys.argv[2]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    for number, line in enumerate(sys.stdin, 1):
        connection.request("POST", "/api/v1/instances", line.strip(), headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 201:
            print(f"line {number}: {response.status} {body[:200]!r}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
