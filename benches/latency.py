#!/usr/bin/env python3
"""Kernel event -> STATE_DB latency, measured from outside the daemon.

usage (inside the daemon's network namespace):
    latency.py REDIS_SOCKET PORT COUNT [--after-burst N] [--pause MS]

COUNT samples, one at a time: changes PORT's MTU with our own RTM_SETLINK (the
clock starts just before the request goes to the kernel, which sends the link
notification before it answers), then polls STATE_DB `PORT_TABLE|PORT` `mtu`
over one Redis connection (every ~0.2 ms) until it shows the new value, then
pauses MS (default 20) before the next sample.

- Without --after-burst: the latency of an isolated event (the daemon is idle
  when each change comes).
- With --after-burst N: before each measured change, a burst of N MTU changes
  on the namespace's other Ethernet* links (round robin, each a real change;
  sent back to back, no answer awaited), then at once the measured change on
  PORT: the latency of an event right behind a burst (with the daemon's
  coalescing window, such an event can wait up to the window). After each
  sample it waits (up to 5 s) until STATE_DB shows the burst's final MTUs too,
  so that every sample starts from a quiet daemon.

Prints the samples in microseconds, one line, space-separated; exits 1 if a
measured change does not show within 5 s.
"""
import os
import socket
import struct
import sys
import time

RTM_SETLINK, NLM_F_REQUEST, NLM_F_ACK, NLMSG_ERROR, IFLA_MTU = 19, 1, 4, 2, 4


def setlink_msg(seq, ifindex, mtu, ack):
    attr = struct.pack("=HHI", 8, IFLA_MTU, mtu)
    body = struct.pack("=BxHiII", 0, 0, ifindex, 0, 0) + attr
    flags = NLM_F_REQUEST | (NLM_F_ACK if ack else 0)
    return struct.pack("=IHHII", 16 + len(body), RTM_SETLINK, flags, seq, 0) + body


def wait_ack(nl, seq):
    """Reads the socket until the answer to SEQ; an error for any request raises."""
    while True:
        data = nl.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, kind, _, s, _ = struct.unpack_from("=IHHII", data, off)
            if kind == NLMSG_ERROR:
                errno = struct.unpack_from("=i", data, off + 16)[0]
                if errno:
                    raise OSError(-errno, os.strerror(-errno))
                if s == seq:
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
    args, burst, pause = [], 0, 0.02
    argv = iter(sys.argv[1:])
    for a in argv:
        if a == "--after-burst":
            burst = int(next(argv, "x"))
        elif a == "--pause":
            pause = float(next(argv, "x")) / 1000
        else:
            args.append(a)
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sock_path, port, count = args[0], args[1], int(args[2])
    redis = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    redis.connect(sock_path)
    r = redis.makefile("rb")
    redis.sendall(command("SELECT", "6"))
    reply(r)
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    nl.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE: room for a burst's answers
    nl.bind((0, 0))
    ifindex = socket.if_nametoindex(port)
    key = "PORT_TABLE|" + port
    others = sorted((n for n in os.listdir("/sys/class/net") if n.startswith("Ethernet") and n != port),
                    key=lambda n: int(n[8:]) if n[8:].isdigit() else 0)
    if burst and not others:
        print("latency: no other Ethernet* link for the burst", file=sys.stderr)
        sys.exit(2)
    current = {}
    for n in others:
        with open(f"/sys/class/net/{n}/mtu") as f:
            current[n] = int(f.read())
    index = {n: socket.if_nametoindex(n) for n in others}
    seq = 0
    samples = []
    for i in range(count):
        mtu = 1500 + 2 * (i % 2) + 100 * (i % 3)
        redis.sendall(command("HGET", key, "mtu"))
        if reply(r) == str(mtu).encode():
            mtu += 1
        touched = {}
        msgs = []
        for j in range(burst):
            n = others[(i * burst + j) % len(others)]
            new = 9101 if current[n] != 9101 else 9102
            current[n] = touched[n] = new
            seq += 1
            msgs.append(setlink_msg(seq, index[n], new, False))
        for m in msgs:
            nl.send(m)
        seq += 1
        start = time.monotonic_ns()
        nl.send(setlink_msg(seq, ifindex, mtu, True))
        wait_ack(nl, seq)
        while True:
            redis.sendall(command("HGET", key, "mtu"))
            if reply(r) == str(mtu).encode():
                samples.append((time.monotonic_ns() - start) // 1000)
                break
            if time.monotonic_ns() - start > 5_000_000_000:
                print(f"latency: {port} mtu {mtu} not in STATE_DB after 5 s", file=sys.stderr)
                sys.exit(1)
            time.sleep(0.0002)
        if touched:  # the burst's ports too, so that the next sample starts quiet
            names = list(touched)
            deadline = time.monotonic_ns() + 5_000_000_000
            while True:
                redis.sendall(b"".join(command("HGET", "PORT_TABLE|" + n, "mtu") for n in names))
                names = [n for n in names if reply(r) != str(touched[n]).encode()]
                if not names:
                    break
                if time.monotonic_ns() > deadline:
                    print(f"latency: the burst's MTU not in STATE_DB after 5 s for {len(names)} ports "
                          f"(e.g. {names[0]}); going on", file=sys.stderr)
                    break
                time.sleep(0.0005)
        time.sleep(pause)
    print(" ".join(map(str, samples)))


if __name__ == "__main__":
    main()
