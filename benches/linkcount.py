#!/usr/bin/env python3
"""Counts RTM_NEWLINK/RTM_DELLINK notifications until SIGTERM, then prints
"<messages> <overruns>". Run inside the daemon's network namespace (e2e.sh keeps
the ports' veth peers in another, so it counts exactly the notifications the
daemon must read); a 64 MiB forced receive buffer keeps it from losing what it
counts."""
import errno, signal, socket, struct, sys

sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE
sock.bind((0, 1))  # RTMGRP_LINK
count = overruns = 0

def done(*_):
    print(count, overruns, flush=True)
    sys.exit(0)

signal.signal(signal.SIGTERM, done)
print("ready", flush=True)
while True:
    try:
        data = sock.recv(1 << 20)
    except OSError as e:
        if e.errno == errno.ENOBUFS:
            overruns += 1
            continue
        raise
    at = 0
    while at + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, at)
        if length < 16:
            break
        if kind in (16, 17):
            count += 1
        at += (length + 3) & ~3
