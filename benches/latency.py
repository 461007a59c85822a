#!/usr/bin/env python3
"""Kernel event -> STATE_DB latency, measured from outside the daemon.

usage (inside the daemon's network namespace):
    latency.py REDIS_SOCKET PORT COUNT

COUNT times: changes PORT's MTU with our own RTM_SETLINK (the clock starts just
before the request goes to the kernel, which sends the link notification
before it answers), then polls STATE_DB `PORT_TABLE|PORT` `mtu` over one Redis
connection (every ~0.2 ms) until it shows the new value. One change at a time,
each after the last one landed: this is the latency of an isolated event, not of
a storm. Prints the samples in microseconds, one line, space-separated; exits 1
if a change does not show within 5 s.
"""
import os
import socket
import struct
import sys
import time

RTM_SETLINK, NLM_F_REQUEST, NLM_F_ACK, NLMSG_ERROR, IFLA_MTU = 19, 1, 4, 2, 4


def set_mtu(nl, seq, ifindex, mtu):
    attr = struct.pack("=HHI", 8, IFLA_MTU, mtu)
    body = struct.pack("=BxHiII", 0, 0, ifindex, 0, 0) + attr
    nl.send(struct.pack("=IHHII", 16 + len(body), RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body)
    while True:
        data = nl.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, kind, _, s, _ = struct.unpack_from("=IHHII", data, off)
            if kind == NLMSG_ERROR and s == seq:
                errno = struct.unpack_from("=i", data, off + 16)[0]
                if errno:
                    raise OSError(-errno, os.strerror(-errno))
                return
            off += (length + 3) & ~3


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def reply(r):
    line = r.readline()
    if line.startswith(b"$"):
        n = int(line[1:])
        if n < 0:
            return None
        value = r.read(n + 2)[:-2]
        return value
    return line.rstrip(b"\r\n")


def main():
    sock_path, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    redis = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    redis.connect(sock_path)
    r = redis.makefile("rb")
    redis.sendall(command("SELECT", "6"))
    reply(r)
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    nl.bind((0, 0))
    ifindex = socket.if_nametoindex(port)
    key = "PORT_TABLE|" + port
    samples = []
    for i in range(count):
        mtu = 1500 + 2 * (i % 2) + 100 * (i % 3)
        redis.sendall(command("HGET", key, "mtu"))
        if reply(r) == str(mtu).encode():
            mtu += 1
        start = time.monotonic_ns()
        set_mtu(nl, i + 1, ifindex, mtu)
        while True:
            redis.sendall(command("HGET", key, "mtu"))
            if reply(r) == str(mtu).encode():
                samples.append((time.monotonic_ns() - start) // 1000)
                break
            if time.monotonic_ns() - start > 5_000_000_000:
                print(f"latency: {port} mtu {mtu} not in STATE_DB after 5 s", file=sys.stderr)
                sys.exit(1)
            time.sleep(0.0002)
        time.sleep(0.02)
    print(" ".join(map(str, samples)))


if __name__ == "__main__":
    main()
