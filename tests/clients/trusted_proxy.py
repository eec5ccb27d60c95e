"""Real proxies from Debian (HAProxy and nginx) in front of the real binary, TRUSTED_PROXIES set to
the proxies' address, and a guest that forges X-Forwarded-For and X-Real-IP with its neighbour's
address: cloudmeta must see the address the proxy saw, never the forged one, in both
TRUSTED_PROXY_HEADER modes, and refuse a token PUT that carried the guest's own X-Forwarded-For
(as AWS does). Loopback only: the guest is 127.0.0.2, its neighbour 127.0.0.3, the proxies reach
cloudmeta from 127.0.0.1. The proxies run in the foreground from configurations in a temp dir.
Usage: python3 tests/clients/trusted_proxy.py /path/to/cloudmeta
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import Checks  # noqa: E402

GUEST, GUEST_ID = "127.0.0.2", "i-0aaaaaaaaaaaaaaa2"
VICTIM, VICTIM_ID = "127.0.0.3", "i-0bbbbbbbbbbbbbbb3"
FORGED = {"X-Forwarded-For": VICTIM, "X-Real-IP": VICTIM}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, what):
    for _ in range(200):
        if process.poll() is not None:
            sys.exit(f"{what} exited during start-up (status {process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on port {port}")


def request(port, method, path, headers):
    """One request from the guest's address; `headers` is a list of (name, value): a name may
    repeat. Returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(GUEST, 0))
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


class Cloudmeta:
    def __init__(self, binary, tmp, header):
        self.log_path = os.path.join(tmp, f"cloudmeta-{header}.log")
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/db.sqlite", BIND="127.0.0.1",
                   PORT="0", ADMIN_PORT="0", THREADS="1", LOG_LEVEL="info",
                   TRUSTED_PROXIES="127.0.0.1/32", TRUSTED_PROXY_HEADER=header,
                   SECRET_KEY="trusted-proxy-test-secret-key-0123456789")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([binary, "serve"], cwd=tmp, env=env, stdout=log,
                                            stderr=log)
        self.port = None
        for _ in range(200):
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                m = re.search(r"event=listening surface=metadata .*port=(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        sys.exit(f"cloudmeta did not start: {open(self.log_path).read()}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def start_haproxy(tmp, backend_port, xff_port, real_ip_port):
    """`option forwardfor` adds an X-Forwarded-For line of its own below the guest's; the other
    frontend replaces X-Real-IP with the address it accepted from."""
    config = os.path.join(tmp, "haproxy.cfg")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"""global
  maxconn 100
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend forwarded_for
  bind 127.0.0.1:{xff_port}
  option forwardfor
  default_backend cloudmeta
frontend real_ip
  bind 127.0.0.1:{real_ip_port}
  http-request set-header X-Real-IP %[src]
  default_backend cloudmeta
backend cloudmeta
  server cloudmeta 127.0.0.1:{backend_port}
""")
    process = subprocess.Popen(["haproxy", "-db", "-f", config], stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(tmp, "haproxy.log"), "wb"))
    wait_for_port(xff_port, process, "haproxy")
    wait_for_port(real_ip_port, process, "haproxy")
    return process


def start_nginx(tmp, backend_port, xff_port, real_ip_port):
    """nginx's usual snippets: $proxy_add_x_forwarded_for appends to the guest's list on one
    line; X-Real-IP set to $remote_addr replaces the guest's. One process, no user switch."""
    prefix = os.path.join(tmp, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    config = os.path.join(prefix, "nginx.conf")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"""daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{xff_port};
    location / {{
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_pass http://127.0.0.1:{backend_port};
    }}
  }}
  server {{
    listen 127.0.0.1:{real_ip_port};
    location / {{
      proxy_set_header X-Real-IP $remote_addr;
      proxy_pass http://127.0.0.1:{backend_port};
    }}
  }}
}}
""")
    process = subprocess.Popen(["nginx", "-p", prefix, "-e", f"{prefix}/logs/error.log", "-c",
                                config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(xff_port, process, "nginx")
    wait_for_port(real_ip_port, process, "nginx")
    return process


def check_through(checks, name, port):
    """What the guest gets through one proxy: its own record whatever it forges, and a token
    only when it sent no X-Forwarded-For of its own."""
    path = "/latest/meta-data/instance-id"
    checks.eq(f"{name}: GET, nothing forged", (200, GUEST_ID), request(port, "GET", path, []))
    checks.eq(f"{name}: GET, both headers forged", (200, GUEST_ID),
              request(port, "GET", path, list(FORGED.items())))
    checks.eq(f"{name}: GET, X-Forwarded-For forged in two lines", (200, GUEST_ID),
              request(port, "GET", path, [("X-Forwarded-For", VICTIM),
                                          ("X-Forwarded-For", VICTIM)]))
    checks.eq(f"{name}: GET, X-Real-IP forged alone", (200, GUEST_ID),
              request(port, "GET", path, [("X-Real-IP", VICTIM)]))
    ttl = ("X-aws-ec2-metadata-token-ttl-seconds", "60")
    status, token = request(port, "PUT", "/latest/api/token", [ttl])
    checks.eq(f"{name}: token PUT", 200, status)
    checks.eq(f"{name}: the token reads the guest's record", (200, GUEST_ID),
              request(port, "GET", path, [("X-aws-ec2-metadata-token", token)]))
    checks.eq(f"{name}: token PUT with forged X-Forwarded-For is refused as on AWS", 403,
              request(port, "PUT", "/latest/api/token", [ttl, ("X-Forwarded-For", VICTIM)])[0])
    checks.eq(f"{name}: token PUT with forged X-Real-IP is the guest's", 200,
              request(port, "PUT", "/latest/api/token", [ttl, ("X-Real-IP", VICTIM)])[0])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: trusted_proxy.py /path/to/cloudmeta")
    binary = os.path.abspath(sys.argv[1])
    for tool in ("haproxy", "nginx"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin"):
            sys.exit(f"{tool} is not installed: run scripts/install-deps.sh")
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin"
    checks = Checks("trusted proxy")
    with tempfile.TemporaryDirectory(prefix="cloudmeta-proxy-") as tmp:
        os.chmod(tmp, 0o755)
        records = os.path.join(tmp, "records.jsonl")
        with open(records, "w", encoding="utf-8") as f:
            for instance_id, ip in ((GUEST_ID, GUEST), (VICTIM_ID, VICTIM)):
                f.write(json.dumps({"instance_id": instance_id, "ip": ip}) + "\n")
        subprocess.run([binary, "import", "--input", records], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL,
                       env=dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/db.sqlite"))
        processes = []
        try:
            for header in ("x-forwarded-for", "x-real-ip"):
                server = Cloudmeta(binary, tmp, header)
                processes.append(server.process)
                ports = [free_port() for _ in range(4)]
                proxies = [start_haproxy(tmp, server.port, ports[0], ports[1]),
                           start_nginx(tmp, server.port, ports[2], ports[3])]
                processes += proxies
                # The proxies' own port for the header this mode reads.
                haproxy_port, nginx_port = (
                    (ports[0], ports[2]) if header == "x-forwarded-for" else (ports[1], ports[3]))
                check_through(checks, f"{header} via HAProxy", haproxy_port)
                check_through(checks, f"{header} via nginx", nginx_port)
                # Straight to cloudmeta the guest is an untrusted peer: the headers name nobody.
                checks.eq(f"{header}: direct GET with both forged", (200, GUEST_ID),
                          request(server.port, "GET", "/latest/meta-data/instance-id",
                                  list(FORGED.items())))
                # The neighbour is still served as itself (the records are right).
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10,
                                                  source_address=(VICTIM, 0))
                conn.request("GET", "/latest/meta-data/instance-id")
                checks.eq(f"{header}: the neighbour reads its own record", VICTIM_ID,
                          conn.getresponse().read().decode())
                conn.close()
                for p in proxies:
                    p.terminate()
                    p.wait(timeout=30)
                server.stop()
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    checks.finish()


if __name__ == "__main__":
    main()
