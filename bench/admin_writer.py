#!/usr/bin/env python3
"""A steady stream of admin writes for bench/run.sh ("writes don't hurt reads").

PATCHes the instance at 127.0.0.1 (i-0123456789abcdef0) RATE times a second for SECONDS,
alternating its instance_type, and after each write reads meta-data/instance-type from the
metadata surface (from 127.0.0.1, so as that instance): a write must be visible on the next
request. Prints `RESULT writes=N errors=N stale_reads=N`.
"""
import http.client
import json
import sys
import time


def main() -> int:
    admin_port, metadata_port, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    admin = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    metadata = http.client.HTTPConnection("127.0.0.1", metadata_port, timeout=5)
    headers = {"Authorization": "Bearer " + token,
               "Content-Type": "application/merge-patch+json"}
    writes = errors = stale = 0
    start = time.monotonic()
    while True:
        due = start + writes / rate
        if due - start >= seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        instance_type = ("t3.micro", "t3.small")[writes % 2]
        writes += 1
        try:
            admin.request("PATCH", "/api/v1/instances/i-0123456789abcdef0",
                          json.dumps({"instance_type": instance_type}), headers)
            response = admin.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
                continue
            metadata.request("GET", "/latest/meta-data/instance-type")
            seen = metadata.getresponse().read().decode()
            if seen != instance_type:
                stale += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            admin.close()
            metadata.close()
    print(f"RESULT writes={writes} errors={errors} stale_reads={stale}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
