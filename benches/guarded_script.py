#!/usr/bin/env python3
"""redis-server CPU per batch of N STATE_DB port writes, by how the APPL_DB
check is made: unchecked HSETs (the floor), the generic guarded set script
(field names as arguments), and the script with the field names written in
(adapters/redis/src/named.rs). One redis-server on a unix socket in a temp
dir, 512 APPL_DB ports present; redis CPU from /proc/PID/schedstat.

usage: benches/guarded_script.py [N=14] [BATCHES=3000] [ROUNDS=3]

Prints, per way, µs of redis-server CPU per batch (best of ROUNDS, then every
round). The generic script is read from adapters/redis/src/connections.rs;
the named one is written here the way named.rs writes it (its test pins the
HSET line).
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 14
BATCHES = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = [b"state", b"netdev_oper_status", b"admin_status", b"mtu"]


def generic_script():
    src = open(os.path.join(ROOT, "adapters/redis/src/connections.rs")).read()
    return re.search(r'const GUARDED_SET_SCRIPT: &str = r"(.*?)";', src, re.S).group(1)


def named_script(names):
    sets = "".join(f', "{n.decode()}", ARGV[at + {k}]' for k, n in enumerate(names))
    return f"""redis.call('SELECT', ARGV[1])
local n = #KEYS / 2
local all = n == 0 or redis.call('EXISTS', unpack(KEYS, n + 1)) == n
local each = {{}}
if not all then
    for i = 1, n do
        each[i] = redis.call('EXISTS', KEYS[n + i])
    end
end
redis.call('SELECT', ARGV[2])
for i = 1, n do
    if all or each[i] == 1 then
        local at = 3 + (i - 1) * {len(names)}
        redis.call('HSET', KEYS[i]{sets})
    end
end
if all then
    return 1
end
return each
"""


def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""

    def _more(self):
        self.buf += self.s.recv(1 << 16)

    def _end(self, i):
        while b"\r\n" not in self.buf[i:]:
            self._more()
        j = self.buf.index(b"\r\n", i)
        kind, head = self.buf[i:i + 1], self.buf[i + 1:j]
        if kind in b"+-:":
            return j + 2
        if kind == b"$":
            n = int(head)
            if n < 0:
                return j + 2
            while len(self.buf) < j + 4 + n:
                self._more()
            return j + 4 + n
        if kind == b"*":
            k = j + 2
            for _ in range(int(head)):
                k = self._end(k)
            return k
        raise RuntimeError(self.buf[i:i + 40])

    def reply(self):
        k = self._end(0)
        r, self.buf = self.buf[:k], self.buf[k:]
        if r.startswith(b"-"):
            raise RuntimeError(r)
        return r

    def call(self, *args):
        self.s.sendall(enc(*args))
        return self.reply()


def main():
    work = tempfile.mkdtemp()
    sock = os.path.join(work, "redis.sock")
    server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                               "--appendonly", "no", "--dir", work, "--loglevel", "warning"],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        time.sleep(0.05)
        c = Conn(sock)
        c.call("SELECT", 0)
        for i in range(512):
            c.call("HSET", f"PORT_TABLE:Ethernet{i * 4}", "admin_status", "up")
        sha = {name: c.call("SCRIPT", "LOAD", text).split(b"\r\n")[1]
               for name, text in (("generic", generic_script()), ("named", named_script(FIELDS)))}
        c.call("SELECT", 6)

        def ports(b):
            return [f"Ethernet{((b * N + i) % 512) * 4}" for i in range(N)]

        def values(b):
            return [b"ok", b"up" if b % 2 else b"down", b"up", b"9100"]

        def unchecked(b):
            return b"".join(enc(b"HSET", "PORT_TABLE|" + p, *[x for f, v in zip(FIELDS, values(b)) for x in (f, v)])
                            for p in ports(b)), N

        def generic(b):
            keys = [k for p in ports(b) for k in ("PORT_TABLE|" + p, "PORT_TABLE:" + p)]
            argv = [0, 6, len(FIELDS)] + FIELDS + values(b) * N
            return enc(b"EVALSHA", sha["generic"], len(keys), *keys, *argv), 1

        def named(b):
            keys = ["PORT_TABLE|" + p for p in ports(b)] + ["PORT_TABLE:" + p for p in ports(b)]
            return enc(b"EVALSHA", sha["named"], len(keys), *keys, 0, 6, *(values(b) * N)), 1

        def cpu_us():
            with open(f"/proc/{server.pid}/schedstat") as f:
                return int(f.read().split()[0]) / 1000

        ways = {"unchecked HSETs": unchecked, "generic script": generic, "named script": named}
        seen = {w: [] for w in ways}
        for _ in range(ROUNDS):
            for way, make in ways.items():
                t0 = cpu_us()
                for b in range(BATCHES):
                    request, replies = make(b)
                    c.s.sendall(request)
                    for _ in range(replies):
                        c.reply()
                seen[way].append((cpu_us() - t0) / BATCHES)
        for way, us in seen.items():
            print(f"N={N} {way:16} {min(us):6.1f} µs per batch (rounds: {' '.join(f'{u:.1f}' for u in us)})")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
