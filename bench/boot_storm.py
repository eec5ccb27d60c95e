"""A boot storm against cloudmeta (docs/benchmarks.md, "Boot storm"): N guests, each in its own
network namespace with its own address, MAC and bridge port, replay at once the requests that
Debian 12's cloud-init and botocore send at boot (bench/boot_sequence.json), under each
CALLER_BINDING mode; or, with --load, a steady stream of instance-id GETs from the same guests
(a new connection per request, or keep-alive) to price the binding per connection.

Network (all in namespaces created here, removed at exit):
  bs<pid>h   "host": bridge br0 with 198.18.0.1/15 and 169.254.169.254/32 (docs/hypervisor.md,
             "Binding the address on the bridge"); cloudmeta on 169.254.169.254:80
  bs<pid>g<i>  guest i: eth0 = 198.18.1.0 + i/15 with MAC 0e:00:5e:53:HH:LL, the peer of port vm<i>
             on br0; default route via 198.18.0.1
One process drives every guest: it enters a guest's namespace (setns) before creating each of the
guest's sockets, so the guest's frames leave through the guest's own port with its own MAC, and
the host's neighbour table and the bridge's forwarding database hold real entries for it.
Before each storm every guest sends one TCP SYN to the host (what its DHCP exchange would have
done): the host learns its MAC, the bridge its port. Guests keep a permanent neighbour entry for
the gateway, so the kernel's shared neighbour table (default gc_thresh3 = 1024 entries for every
namespace on the machine) holds only the host side's N entries.

The server is pinned to one core, this process to the other (as bench/run.sh does). Server CPU is
utime + stime from /proc/PID/stat over the storm; the kernel's work for packets is partly done
in softirq context and charged to whatever runs then (docs/benchmarks.md, "Boot storm", has what
that means for the numbers). On a machine shared with long-running niced work, every request's
wake-up of the server and of this client waits behind it; --realtime (SCHED_FIFO 1 for both,
inherited by the server) takes the neighbours out of the wall-clock numbers, at their expense for
the length of the run (the kernel's RT throttling still leaves them 5 %). Each run prints a
`RESULT mode=... key=value ...` line, and the end `MEDIAN mode=...` lines over the runs.

Usage (root): python3 bench/boot_storm.py --cloudmeta build/cloudmeta [--guests 1000]
  [--modes address,port,mac] [--runs 3] [--clients cloud-init-aws,botocore] [--realtime]
  [--load new|keepalive [--duration 10] [--concurrency 50] [--callgrind]]
"""

import argparse
import asyncio
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLONE_NEWNET = 0x40000000
GATEWAY = "198.18.0.1"
IMDS = "169.254.169.254"
BRIDGE_MAC = "0e:00:5e:53:ff:01"
FIRST_GUEST = (198 << 24) | (18 << 16) | (1 << 8)  # 198.18.1.0
MAX_GUESTS = 60000  # inside 198.18.0.0/15 above the gateway's /24
SERVER_CPU, CLIENT_CPU = 0, 1
libc = ctypes.CDLL(None, use_errno=True)


def guest_ip(i):
    a = FIRST_GUEST + i
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


def guest_mac(i):
    return f"0e:00:5e:53:{(i >> 8) & 255:02x}:{i & 255:02x}"


def run(cmd, stdin=None):
    subprocess.run(cmd, input=stdin, text=True, check=True, stdout=subprocess.DEVNULL)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_times():
    """Per core: (user+nice, system, softirq+irq, idle) in seconds, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            name, *v = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) / tick for x in v]
                out[name] = (v[0] + v[1], v[2], v[4] + v[5] + v[6], v[3])
    return out


def core_report(before, after, wall):
    parts = []
    for name in sorted(after):
        d = [a - b for a, b in zip(after[name], before[name])]
        parts.append(f"{name} user {d[0] / wall:.0%} sys {d[1] / wall:.0%} "
                     f"irq {d[2] / wall:.0%} idle {d[3] / wall:.0%}")
    return "; ".join(parts)


def loadavg():
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


class Network:
    """The host namespace with its bridge and one namespace per guest."""

    def __init__(self, guests):
        self.prefix = f"bs{os.getpid()}"
        self.host = f"{self.prefix}h"
        self.guests = guests
        self.created = []
        self.ns_fds = []
        self.host_fd = None

    def guest_ns(self, i):
        return f"{self.prefix}g{i}"

    def up(self):
        started = time.monotonic()
        run(["ip", "netns", "add", self.host])
        self.created.append(self.host)
        h = ["ip", "-n", self.host]
        run(h + ["link", "set", "lo", "up"])
        run(h + ["link", "add", "br0", "address", BRIDGE_MAC, "type", "bridge"])
        run(h + ["addr", "add", f"{GATEWAY}/15", "dev", "br0"])
        run(h + ["addr", "add", f"{IMDS}/32", "dev", "br0"])
        run(h + ["link", "set", "br0", "up"])
        names = [self.guest_ns(i) for i in range(self.guests)]
        run(["ip", "-batch", "-"], "".join(f"netns add {n}\n" for n in names))
        self.created += names
        self.host_fd = os.open(f"/run/netns/{self.host}", os.O_RDONLY)
        self.ns_fds = [os.open(f"/run/netns/{n}", os.O_RDONLY) for n in names]
        # No IPv6 on the guests' links: at link-up each would send router solicitations and
        # MLD reports, flooded to every port, thousands of packets the storm would pay for.
        for fd in self.ns_fds + [self.host_fd]:
            self.enter(fd)
            for scope in ("all", "default"):
                with open(f"/proc/sys/net/ipv6/conf/{scope}/disable_ipv6", "w") as f:
                    f.write("1")
        run(["ip", "-batch", "-"], "".join(
            f"link add vm{i} netns {self.host} type veth peer name eth0 netns {n} "
            f"address {guest_mac(i)}\n" for i, n in enumerate(names)))
        run(h + ["-batch", "-"], "".join(
            f"link set vm{i} master br0 up\n" for i in range(self.guests)))
        for i, n in enumerate(names):
            run(["ip", "-n", n, "-batch", "-"],
                f"addr add {guest_ip(i)}/15 dev eth0\nlink set eth0 up\n"
                f"route add default via {GATEWAY}\n"
                f"neigh replace {GATEWAY} lladdr {BRIDGE_MAC} dev eth0 nud permanent\n")
        return time.monotonic() - started

    def down(self):
        for fd in self.ns_fds + ([self.host_fd] if self.host_fd is not None else []):
            os.close(fd)
        self.ns_fds, self.host_fd = [], None
        if self.created:
            subprocess.run(["ip", "-batch", "-"], text=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL,
                           input="".join(f"netns delete {n}\n" for n in self.created))
        self.created = []

    @staticmethod
    def enter(fd):
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")

    def socket_in_host(self):
        return self.socket_in(None)

    def socket_in(self, i):
        """A socket in guest i's namespace, or the host's for None (the namespace is a property
        of the socket, fixed at creation)."""
        self.enter(self.host_fd if i is None else self.ns_fds[i])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        return s

    def records(self, template):
        text = json.dumps(template)
        for i in range(self.guests):
            record = json.loads(text.replace("{instance_id}", f"i-0b57{i:013x}")
                                .replace("{ip}", guest_ip(i)).replace("{mac}", guest_mac(i)))
            record["interface"] = f"vm{i}"
            record["subnet_ipv4_cidr_block"] = "198.18.0.0/15"
            yield json.dumps(record)


class Server:
    def __init__(self, binary, work, net):
        self.binary, self.work, self.net, self.host_ns = binary, work, net, net.host
        self.database = f"sqlite://{work}/storm.db"
        self.proc = None

    def import_records(self, lines):
        env = dict(os.environ, DATABASE_URL=self.database, LOG_LEVEL="warn")
        subprocess.run([self.binary, "import"], input="\n".join(lines) + "\n", text=True,
                       env=env, check=True, stdout=subprocess.DEVNULL, cwd=self.work)

    def start(self, mode, callgrind=False):
        self.log = os.path.join(self.work, f"server-{mode}.log")
        self.callgrind_out = os.path.join(self.work, f"callgrind-{mode}.out")
        tool = (["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.callgrind_out}"]
                if callgrind else [])
        env = ["env", f"DATABASE_URL={self.database}", f"BIND={IMDS}", "PORT=80", "ADMIN_PORT=0",
               "ADMIN_BIND=127.0.0.1", "THREADS=1", "LOG_LEVEL=warn", "LOG_FORMAT=text",
               "SECRET_KEY=boot-storm-secret-key-0123456789abcdef", "ADMIN_SCHED_IDLE=1",
               "IMDS_MAX_CONNECTIONS=100000", f"CALLER_BINDING={mode}",
               # Nothing written besides the database in the temporary directory.
               "SNAPSHOT_CACHE=off"]
        self.started = time.monotonic()
        with open(self.log, "w", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.host_ns, "taskset", "-c", str(SERVER_CPU)] + env +
                tool + [self.binary, "serve"], stdout=subprocess.DEVNULL, stderr=log, cwd=self.work)
        # LOG_LEVEL=warn keeps the per-request log off (and with it the "listening" line): wait
        # until the port accepts, from the host's own namespace.
        deadline = time.monotonic() + (300 if callgrind else 60)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            probe = self.net.socket_in_host()
            probe.setblocking(True)
            try:
                probe.connect((IMDS, 80))
                return
            except OSError:
                time.sleep(0.05)
            finally:
                probe.close()
        raise RuntimeError(f"cloudmeta did not start; its log: {open(self.log).read()[-2000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=15)
        self.proc = None

    def wait_idle(self, settle_s):
        """Until the server's CPU time has stopped growing for two seconds, and at least
        settle_s after its start (longer under callgrind): whatever it still does after the
        port opens must stay out of the measured window."""
        time.sleep(max(0.0, self.started + settle_s - time.monotonic()))
        deadline = time.monotonic() + 300
        last, quiet = cpu_seconds(self.proc.pid), 0
        while quiet < 4:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not go idle after its start")
            time.sleep(0.5)
            now = cpu_seconds(self.proc.pid)
            quiet = quiet + 1 if now - last < 0.02 else 0
            last = now

    def callgrind_zero(self):
        subprocess.run(["callgrind_control", "-z", str(self.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def callgrind_instructions(self):
        """User-space instructions the whole server executed since callgrind_zero()."""
        subprocess.run(["callgrind_control", "-d", str(self.proc.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dumps = [os.path.join(self.work, f) for f in os.listdir(self.work)
                 if f.startswith(os.path.basename(self.callgrind_out) + ".")]
        newest = max(dumps, key=os.path.getmtime)
        out = subprocess.run(["callgrind_annotate", newest], check=True, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        # Self cost; the thread entry points that hold everything after the counters were
        # zeroed (clone, start_thread) are dropped, as bench/run.sh does.
        top = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", newest],
                             check=True, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.split("file:function", 1)[-1]
        rows, rule = [], 0
        for line in top.splitlines():
            if line.startswith("-" * 20):
                rule += 1
            elif rule == 1 and line.strip() and not re.search(r"\((99|100)\.[0-9]+%\)", line):
                rows.append(line[:160])
        self.callgrind_top = rows[:20]
        for line in out.splitlines():
            if "PROGRAM TOTALS" in line:
                return int(line.split()[0].replace(",", ""))
        raise RuntimeError("callgrind_annotate printed no PROGRAM TOTALS")

    def binding_refusals(self):
        with open(self.log, encoding="utf-8") as f:
            return sum("event=binding_mismatch" in line for line in f)


def request_bytes(entry, guest, token):
    headers = "".join(
        f"{k}: {v.replace('{token}', token).replace('{mac}', guest_mac(guest))}\r\n"
        for k, v in entry["headers"])
    path = entry["path"].replace("{mac}", guest_mac(guest))
    return (f"{entry['method']} {path} {entry['version']}\r\n{headers}\r\n{entry['body']}"
            ).encode("latin-1")


async def read_response(loop, sock):
    """(status, body) of one response framed by Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            raise ConnectionError("closed before the response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return status, body


class Tally:
    def __init__(self):
        self.latencies = []  # seconds, per request (its connect included when it opened one)
        self.done_at = []    # seconds after the start, per guest with a full crawl
        self.wrong = []      # (guest, path, expected, got)
        self.errors = []     # (guest, path, error)
        self.connections = 0
        self.cores = ""


async def boot(loop, net, guest, sequences, start, tally):
    """One guest's boot: each client's requests in order, on the connections the client used."""
    for sequence in sequences:
        token = ""
        sock, current = None, None
        for entry in sequence:
            began = time.perf_counter()
            try:
                if entry["connection"] != current:
                    if sock:
                        sock.close()
                    sock = net.socket_in(guest)
                    await loop.sock_connect(sock, (IMDS, 80))
                    tally.connections += 1
                    current = entry["connection"]
                await loop.sock_sendall(sock, request_bytes(entry, guest, token))
                status, body = await read_response(loop, sock)
            except OSError as e:
                tally.errors.append((guest, entry["path"], repr(e)))
                if sock:
                    sock.close()
                return
            tally.latencies.append(time.perf_counter() - began)
            if status != entry["status"]:
                tally.wrong.append((guest, entry["path"], entry["status"], status))
            if entry["method"] == "PUT" and entry["path"] == "/latest/api/token":
                token = body.decode("ascii", "replace")
        if sock:
            sock.close()
    tally.done_at.append(time.perf_counter() - start)


async def warm(net, guests):
    """One SYN per guest to a closed port on the host: the host resolves the guest's MAC (its
    neighbour entry) and the bridge learns the guest's port, as a DHCP exchange would."""
    loop = asyncio.get_running_loop()

    async def one(i):
        s = net.socket_in(i)
        try:
            await asyncio.wait_for(loop.sock_connect(s, (GATEWAY, 9)), 5)
        except (OSError, asyncio.TimeoutError):
            pass  # refused is the expected answer
        finally:
            s.close()
    for first in range(0, guests, 200):
        await asyncio.gather(*(one(i) for i in range(first, min(guests, first + 200))))


async def prime(net, guests):
    """One instance-id GET per guest: the server renders an instance's answers on its first
    request (SnapshotEntry::render_once, ~45,000 instructions), a one-time cost per guest that
    the storm includes and the steady --load measurement must not."""
    loop = asyncio.get_running_loop()
    entry = {"method": "GET", "path": "/latest/meta-data/instance-id", "version": "HTTP/1.1",
             "headers": [["Host", IMDS]], "body": ""}

    async def one(i):
        s = net.socket_in(i)
        try:
            await loop.sock_connect(s, (IMDS, 80))
            await loop.sock_sendall(s, request_bytes(entry, i, ""))
            status, _ = await read_response(loop, s)
            if status != 200:
                raise RuntimeError(f"guest {i}: instance-id answered {status}")
        finally:
            s.close()
    for first in range(0, guests, 200):
        await asyncio.gather(*(one(i) for i in range(first, min(guests, first + 200))))


async def storm(net, sequences, pid):
    loop = asyncio.get_running_loop()
    tally = Tally()
    cores0 = core_times()
    cpu0, wall0, client0 = cpu_seconds(pid), time.perf_counter(), time.process_time()
    await asyncio.gather(*(boot(loop, net, g, sequences, wall0, tally)
                           for g in range(net.guests)))
    wall = time.perf_counter() - wall0
    tally.cores = core_report(cores0, core_times(), wall)
    return tally, wall, cpu_seconds(pid) - cpu0, time.process_time() - client0


async def load(net, pid, kind, duration, concurrency):
    """instance-id GETs from the guests in turn for `duration` seconds: `new` opens a connection
    per request (and closes it after the response, as cloud-init does), `keepalive` keeps one
    per worker."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    entry = {"method": "GET", "path": "/latest/meta-data/instance-id", "version": "HTTP/1.1",
             "headers": [["Host", IMDS], ["User-Agent", "boot-storm"]], "body": ""}
    request = request_bytes(entry, 0, "")
    end = time.perf_counter() + duration

    async def worker(w):
        guest = w % net.guests
        sock = None
        while time.perf_counter() < end:
            began = time.perf_counter()
            try:
                if sock is None:
                    sock = net.socket_in(guest)
                    await loop.sock_connect(sock, (IMDS, 80))
                    tally.connections += 1
                await loop.sock_sendall(sock, request)
                status, _ = await read_response(loop, sock)
            except OSError as e:
                tally.errors.append((guest, entry["path"], repr(e)))
                if sock:
                    sock.close()
                sock = None
                await asyncio.sleep(0.001)
                continue
            tally.latencies.append(time.perf_counter() - began)
            if status != 200:
                tally.wrong.append((guest, entry["path"], 200, status))
            if kind == "new":
                sock.close()
                sock = None
                guest = (guest + concurrency) % net.guests
        if sock:
            sock.close()

    cores0 = core_times()
    cpu0, wall0, client0 = cpu_seconds(pid), time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    wall = time.perf_counter() - wall0
    tally.cores = core_report(cores0, core_times(), wall)
    return tally, wall, cpu_seconds(pid) - cpu0, time.process_time() - client0


def percentile(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(mode, run_no, tally, wall, server_cpu, client_cpu, guests, load_kind):
    requests = len(tally.latencies)
    p50, p99 = percentile(tally.latencies, 0.5) * 1e3, percentile(tally.latencies, 0.99) * 1e3
    problems = len(tally.wrong) + len(tally.errors)
    if load_kind:
        print(f"  {mode:7} run {run_no}: {requests} requests in {wall:.2f} s "
              f"({requests / wall:.0f}/s, {tally.connections} connections); p50 {p50:.2f} ms, "
              f"p99 {p99:.2f} ms; server CPU {server_cpu:.2f} s = "
              f"{server_cpu / max(requests, 1) * 1e6:.1f} us/request; client CPU "
              f"{client_cpu:.2f} s; problems {problems}")
        line = (f"RESULT mode={mode} run={run_no} load={load_kind} requests={requests} "
                f"rps={requests / wall:.0f} p50_ms={p50:.3f} p99_ms={p99:.3f} "
                f"server_cpu_s={server_cpu:.3f} "
                f"server_us_per_request={server_cpu / max(requests, 1) * 1e6:.2f} "
                f"client_cpu_s={client_cpu:.3f} problems={problems}")
    else:
        last = max(tally.done_at, default=0)
        per_guest_ms = server_cpu / guests * 1e3
        print(f"  {mode:7} run {run_no}: {len(tally.done_at)}/{guests} guests crawled, last after "
              f"{last:.2f} s; {requests} requests on {tally.connections} connections; p50 "
              f"{p50:.2f} ms, p99 {p99:.2f} ms; server CPU {server_cpu:.2f} s = "
              f"{per_guest_ms:.2f} ms/guest (one core: {1e3 / per_guest_ms:.0f} guests/s); "
              f"client CPU {client_cpu:.2f} s; problems {problems}")
        line = (f"RESULT mode={mode} run={run_no} guests={guests} crawled={len(tally.done_at)} "
                f"last_s={last:.3f} requests={requests} connections={tally.connections} "
                f"p50_ms={p50:.3f} p99_ms={p99:.3f} server_cpu_s={server_cpu:.3f} "
                f"server_ms_per_guest={per_guest_ms:.3f} "
                f"guests_per_core_s={1e3 / per_guest_ms if per_guest_ms else 0:.0f} "
                f"client_cpu_s={client_cpu:.3f} problems={problems}")
    print(line)
    print(f"    cores over the run (every process on the machine): {tally.cores}")
    for guest, path, expected, got in tally.wrong[:3]:
        print(f"    guest {guest} {path}: expected {expected}, got {got}")
    for guest, path, error in tally.errors[:3]:
        print(f"    guest {guest} {path}: {error}")
    sys.stdout.flush()
    return dict(field.split("=", 1) for field in line.split()[1:])


def medians(results):
    """Per mode, the median of every numeric RESULT field over the runs."""
    print("medians:")
    for mode in dict.fromkeys(r["mode"] for r in results):
        runs = [r for r in results if r["mode"] == mode]
        fields = []
        for key, value in runs[0].items():
            if key in ("mode", "run", "load"):
                continue
            try:
                fields.append(f"{key}={statistics.median(float(r[key]) for r in runs):g}")
            except ValueError:
                continue
        print(f"MEDIAN mode={mode} runs={len(runs)} " + " ".join(fields))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cloudmeta", required=True, help="the cloudmeta binary")
    p.add_argument("--guests", type=int, default=1000, help=f"1..{MAX_GUESTS}")
    p.add_argument("--modes", default="address,port,mac")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sequence", default=os.path.join(os.path.dirname(__file__),
                                                      "boot_sequence.json"))
    p.add_argument("--clients", default="cloud-init-aws,botocore",
                   help="which recorded clients each guest runs, in order")
    p.add_argument("--load", choices=["new", "keepalive"],
                   help="instead of the storm: instance-id GETs for --duration seconds")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--callgrind", action="store_true",
                   help="with --load: the server under callgrind, user-space instructions per "
                        "request instead of timings")
    p.add_argument("--realtime", action="store_true",
                   help="run this client and the server as SCHED_FIFO 1 (see the module doc)")
    args = p.parse_args()
    modes = args.modes.split(",")
    if not set(modes) <= {"address", "mac", "port"} or args.runs < 1:
        sys.exit("--modes takes address, mac, port; --runs at least 1")
    if args.callgrind and not args.load:
        sys.exit("--callgrind goes with --load")
    if not 1 <= args.guests <= MAX_GUESTS:
        sys.exit(f"--guests must be 1..{MAX_GUESTS}")
    if os.geteuid() != 0:
        sys.exit("network namespaces need root")
    binary = os.path.abspath(args.cloudmeta)
    with open(args.sequence, encoding="utf-8") as f:
        recorded = json.load(f)
    sequences = [recorded["clients"][name] for name in args.clients.split(",")]

    if len(os.sched_getaffinity(0)) > 1 and os.cpu_count() >= 2:
        os.sched_setaffinity(0, {CLIENT_CPU})
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))  # the server inherits it
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = tempfile.mkdtemp(prefix="boot-storm.")
    net = Network(args.guests)
    server = Server(binary, work, net)
    try:
        print(f"load average before: {loadavg()}")
        print(f"network: {args.guests} guest namespaces on one bridge in {net.up():.1f} s")
        server.import_records(net.records(recorded["record"]))
        per_guest = sum(len(s) for s in sequences)
        print(f"{args.clients} from {recorded['versions']}: {per_guest} requests per guest")
        results = []
        for run_no in range(1, args.runs + 1):
            for mode in modes:
                server.start(mode, args.callgrind)
                asyncio.run(warm(net, args.guests))
                if args.load:
                    asyncio.run(prime(net, args.guests))
                server.wait_idle(10 if args.callgrind else 2)
                if args.callgrind:
                    server.callgrind_zero()
                if args.load:
                    result = asyncio.run(load(net, server.proc.pid, args.load, args.duration,
                                              args.concurrency))
                else:
                    result = asyncio.run(storm(net, sequences, server.proc.pid))
                fields = report(mode, run_no, *result, args.guests, args.load)
                if args.callgrind:
                    requests = len(result[0].latencies)
                    total = server.callgrind_instructions()
                    print(f"  {mode:7} run {run_no}: callgrind, whole server: {total} "
                          f"instructions for {requests} requests = {total / requests:.0f} per "
                          f"request")
                    print(f"RESULT mode={mode} run={run_no} callgrind_instructions={total} "
                          f"requests={requests} instructions_per_request={total / requests:.0f}")
                    fields["instructions_per_request"] = f"{total / requests:.0f}"
                    print("    the server's own instructions, top functions:")
                    for line in server.callgrind_top:
                        print(f"      {line}")
                results.append(fields)
                refusals = server.binding_refusals()
                if refusals:
                    print(f"    {refusals} binding_mismatch lines in the server log")
                server.stop()
        medians(results)
        print(f"load average after: {loadavg()}")
        if any(r["problems"] != "0" for r in results):
            sys.exit("some requests failed or got an unexpected status (above)")
    finally:
        server.stop()
        net.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
