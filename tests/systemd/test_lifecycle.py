"""`cloudmeta serve` under a service manager, played for real by this test: socket activation
through systemd-socket-activate (named fds, shared by two metadata threads), sd_notify to a
NOTIFY_SOCKET this test owns (READY=1, STATUS=, STOPPING=1), /readyz, SIGHUP reloading LOG_LEVEL
from ./.env, SIGTERM finishing an in-flight request and exiting 0, SHUTDOWN_GRACE bounding the
wait, and `cloudmeta healthcheck` (healthy, refused, frozen).

Usage: python3 test_lifecycle.py /path/to/cloudmeta
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = os.path.abspath(sys.argv[1])
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return None


def http(method, port, path, body=None, token=None, timeout=5, host="127.0.0.1"):
    request = urllib.request.Request(f"http://{host}:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Notifications:
    """The NOTIFY_SOCKET end: an AF_UNIX datagram socket, as systemd's."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def wait_for_line(self, line, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line in m.split("\n") for m in self.messages):
                return True
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        return any(line in m.split("\n") for m in self.messages)

    def status(self):
        found = [l[7:] for m in self.messages for l in m.split("\n") if l.startswith("STATUS=")]
        return found[-1] if found else ""


def main():
    with tempfile.TemporaryDirectory(prefix="cloudmeta-lifecycle-") as work:
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{work}/cloudmeta.db", LOG_LEVEL="info")
        for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
            env.pop(key, None)
        token = subprocess.run([BINARY, "token", "create", "--name", "lifecycle"], env=env,
                               cwd=work, check=True, capture_output=True,
                               text=True).stdout.strip().splitlines()[-1]

        # 1. Socket activation with three named fds, two of them metadata (one per family, as
        # cloudmeta.socket passes 169.254.169.254:80 and [fd00:ec2::254]:80); the first
        # connection starts the server.
        imds_port, imds6_port, admin_port = free_port(), free_port(), free_port()
        notify = Notifications(work)
        log_path = os.path.join(work, "activated.log")
        with open(log_path, "wb") as log:
            server = subprocess.Popen(
                ["systemd-socket-activate", "-l", f"127.0.0.1:{imds_port}",
                 "-l", f"[::1]:{imds6_port}",
                 "-l", f"127.0.0.1:{admin_port}", "--fdname=metadata:metadata:admin",
                 "-E", f"DATABASE_URL={env['DATABASE_URL']}", "-E", "THREADS=2",
                 "-E", f"NOTIFY_SOCKET={notify.path}",
                 BINARY, "serve"], cwd=work, stdout=log, stderr=subprocess.STDOUT)
        try:
            check(wait_for(lambda: _connectable(admin_port)) is not None,
                  "systemd-socket-activate listens on the admin port")
            status, body = http("GET", admin_port, "/readyz", timeout=20)
            check(status == 200 and json.loads(body)["status"] == "ready",
                  f"/readyz on the passed admin socket: {status} {body}")
            check(notify.wait_for_line("READY=1"), "READY=1 arrived on NOTIFY_SOCKET")
            check("serving 0 instances" in notify.status() and str(imds_port) in notify.status(),
                  f"STATUS= says what is served: {notify.status()!r}")
            status, _ = http("POST", admin_port, "/api/v1/instances",
                             {"instance_id": "i-0123456789abcdef0", "ip": "127.0.0.1"}, token)
            check(status == 201, f"instance registered through the admin API: {status}")
            status, _ = http("POST", admin_port, "/api/v1/instances",
                             {"instance_id": "i-0123456789abcdef6", "ip": "::1"}, token)
            check(status == 201, f"an instance at ::1 registered: {status}")
            answers = {http("GET", imds_port, "/latest/meta-data/instance-id")[1]
                       for _ in range(20)}
            check(answers == {"i-0123456789abcdef0"},
                  f"the passed metadata socket serves the record ({answers})")
            answers = {http("GET", imds6_port, "/latest/meta-data/instance-id", host="[::1]")[1]
                       for _ in range(20)}
            check(answers == {"i-0123456789abcdef6"},
                  f"the second passed metadata socket ([::1]) serves its record ({answers})")
            check(notify.wait_for_line(f"STATUS=serving 2 instances; metadata 127.0.0.1:"
                                       f"{imds_port} [::1]:{imds6_port}, admin 127.0.0.1:"
                                       f"{admin_port}", 10),
                  f"STATUS= follows the instance count: {notify.status()!r}")

            # 2. SIGHUP re-reads ./.env and applies LOG_LEVEL.
            with open(os.path.join(work, ".env"), "w") as f:
                f.write("LOG_LEVEL=debug\nPORT=1\n")
            server.send_signal(signal.SIGHUP)
            check(wait_for(lambda: "event=reloaded log_level=debug" in _read(log_path), 10),
                  "SIGHUP: reloaded log_level=debug logged")
            check(wait_for(lambda: "reload_needs_restart" in _read(log_path), 10),
                  "SIGHUP: a changed PORT is reported as needing a restart")
            check(server.poll() is None, "the server keeps running after SIGHUP")

            # 3. SIGTERM with a request in flight: no new connections, the open one is answered;
            # an idle keep-alive connection (nothing in flight) is closed at once.
            idle = socket.create_connection(("127.0.0.1", imds_port))
            idle.sendall(b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n")
            idle.settimeout(10)
            first_reply = idle.recv(4096)
            check(first_reply.startswith(b"HTTP/1.1 200"),
                  f"the keep-alive connection was served once: {first_reply[:40]!r}")
            inflight = socket.create_connection(("127.0.0.1", imds_port))
            inflight.sendall(b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n")
            time.sleep(0.3)
            server.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            idle.settimeout(5)
            try:
                idle_end = idle.recv(4096)
            except OSError as e:
                idle_end = repr(e).encode()
            idle_closed_after = time.monotonic() - signalled
            idle.close()
            check(idle_end == b"" and idle_closed_after < 2,
                  f"the idle keep-alive connection is closed at SIGTERM ({idle_end!r} after "
                  f"{idle_closed_after:.2f} s), not at the end of the grace period")
            check(notify.wait_for_line("STOPPING=1", 10), "STOPPING=1 arrived on NOTIFY_SOCKET")
            check(wait_for(lambda: not _connectable(admin_port), 10) is not None,
                  "after SIGTERM no new connection is accepted")
            inflight.sendall(b"Connection: close\r\n\r\n")
            inflight.settimeout(10)
            reply = b""
            while True:
                chunk = inflight.recv(4096)
                if not chunk:
                    break
                reply += chunk
            inflight.close()
            check(reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"i-0123456789abcdef0"),
                  f"the in-flight request was answered: {reply[:40]!r}")
            code = server.wait(timeout=20)
            check(code == 0, f"exit status 0 after SIGTERM ({code})")
            log_text = _read(log_path)
            check("event=stopped" in log_text, "'stopped' logged after the store closed")
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

        # 4. SHUTDOWN_GRACE bounds the wait for a request that never completes.
        env_own = dict(env, PORT=str(free_port()), ADMIN_PORT=str(free_port()),
                       SHUTDOWN_GRACE="1", IMDS_READ_TIMEOUT_MS="120000", THREADS="1")
        own = subprocess.Popen([BINARY, "serve"], env=env_own, cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            check(wait_for(lambda: _connectable(int(env_own["ADMIN_PORT"]))) is not None,
                  "self-bound server listens")
            status, body = http("GET", int(env_own["ADMIN_PORT"]), "/readyz")
            check(status == 200, f"/readyz on a self-bound server: {status}")
            hc = subprocess.run([BINARY, "healthcheck"], env=env_own, cwd=work,
                                capture_output=True, text=True, timeout=30)
            check(hc.returncode == 0, f"healthcheck exits 0 on a healthy server ({hc.stderr})")
            own.send_signal(signal.SIGSTOP)
            started = time.monotonic()
            hc = subprocess.run([BINARY, "healthcheck", "--timeout", "1"], env=env_own,
                                cwd=work, capture_output=True, text=True, timeout=30)
            check(hc.returncode == 1 and "unhealthy" in hc.stderr and
                  time.monotonic() - started < 10,
                  f"healthcheck exits 1 on a frozen server ({hc.stderr.strip()})")
            own.send_signal(signal.SIGCONT)
            stuck = socket.create_connection(("127.0.0.1", int(env_own["PORT"])))
            stuck.sendall(b"GET /latest/meta-data/ HTTP/1.1\r\n")
            time.sleep(0.3)
            started = time.monotonic()
            own.send_signal(signal.SIGTERM)
            code = own.wait(timeout=60)
            elapsed = time.monotonic() - started
            stuck.close()
            # Without the bound the read timeout (120 s) would keep it open.
            check(code == 0 and elapsed < 30,
                  f"SHUTDOWN_GRACE=1 ends a stuck connection: exit {code} after {elapsed:.1f} s")
            hc = subprocess.run([BINARY, "healthcheck"], env=env_own, cwd=work,
                                capture_output=True, text=True, timeout=30)
            check(hc.returncode == 1, "healthcheck exits 1 when nothing listens")
        finally:
            if own.poll() is None:
                own.send_signal(signal.SIGCONT)
                own.kill()
                own.wait()

        # 5. A passed socket with a name the server does not know is refused, not ignored.
        bad_port = free_port()
        bad = subprocess.Popen(
            ["systemd-socket-activate", "-l", f"127.0.0.1:{bad_port}", "--fdname=bogus",
             "-E", f"DATABASE_URL={env['DATABASE_URL']}", BINARY, "serve"],
            cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: _connectable(bad_port))
            try:
                socket.create_connection(("127.0.0.1", bad_port), timeout=2).close()
            except OSError:
                pass
            _, err = bad.communicate(timeout=20)
            check(bad.returncode == 1 and "FileDescriptorName" in err,
                  f"an fd named 'bogus' stops the start: exit {bad.returncode}")
        finally:
            if bad.poll() is None:
                bad.kill()
                bad.wait()

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


def _connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


if __name__ == "__main__":
    sys.exit(main())
