"""Reads the IP TTL of the metadata service's responses as they arrive in the guest: a token PUT
must come with the instance's http_put_response_hop_limit as TTL (AWS: "the number of network
hops that the PUT response is allowed to make"), a GET with the host's normal TTL.

Usage (inside the VM's network namespace, as root, with Debian's /usr/bin/python3):
  ttl_probe.py INSTANCE_ID PUT_TTL GET_TTL

Linux hands no IP_TTL control message to a TCP socket (IP_RECVTTL works for UDP and raw sockets
only), so a raw IPPROTO_TCP socket receives a copy of every incoming TCP segment, IP header
included, and the segment that carries the response's status line is picked out by its ports.
Each request uses its own connection: cloudmeta keeps a token response's TTL on its connection.
"""

import http.client
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

IMDS = "169.254.169.254"


def response_ttl(raw, local_port, deadline):
    """The TTL of the first segment from IMDS:80 to local_port whose payload starts a response."""
    server = socket.inet_aton(IMDS)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([raw], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        packet = raw.recv(65535)
        ihl = (packet[0] & 0x0F) * 4
        if packet[12:16] != server:
            continue
        sport, dport = struct.unpack("!HH", packet[ihl:ihl + 4])
        data_offset = (packet[ihl + 12] >> 4) * 4
        if (sport, dport) == (80, local_port) and packet[ihl + data_offset:].startswith(b"HTTP/"):
            return packet[8]
    return None


def request(raw, method, path, headers):
    conn = http.client.HTTPConnection(IMDS, 80, timeout=3)
    conn.connect()
    local_port = conn.sock.getsockname()[1]
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    # The segment reached the raw socket before the TCP socket, so it is already queued.
    return response.status, body, response_ttl(raw, local_port, time.monotonic() + 1)


def main():
    instance_id, put_ttl, get_ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    c = Checks(f"ttl probe ({instance_id})")
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)

    status, token, ttl = request(raw, "PUT", "/latest/api/token",
                                 {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    c.eq("token PUT status", 200, status)
    c.eq("token PUT response TTL", put_ttl, ttl)

    status, body, ttl = request(raw, "GET", "/latest/meta-data/instance-id",
                                {"X-aws-ec2-metadata-token": token})
    c.eq("GET with the token", (200, instance_id), (status, body))
    c.eq("GET response TTL", get_ttl, ttl)
    c.finish()


if __name__ == "__main__":
    main()
