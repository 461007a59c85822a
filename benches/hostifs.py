#!/usr/bin/env python3
"""The syncd side of mock_orchagent: reads the port names it writes to FIFO
(one per line, at its first SET of each Ethernet*/PortChannel* key) and
creates each Ethernet<N> host interface as a veth pair Ethernet<N> / v<N> in
namespace NS (with PEER_NS, the peer v<N> in that namespace instead), as fast
as they come: all the names one read returns go into one `ip -batch`. Ends
when mock_orchagent closes the FIFO.

usage: hostifs.py FIFO NS [PEER_NS]"""
import os, subprocess, sys

fifo, ns = sys.argv[1], sys.argv[2]
peer = f" netns {sys.argv[3]}" if len(sys.argv) > 3 else ""
fd = os.open(fifo, os.O_RDONLY)
pending = b""
while True:
    data = os.read(fd, 1 << 16)
    if not data:
        break
    pending += data
    *lines, pending = pending.split(b"\n")
    batch = "".join(f"link add {n} type veth peer name v{n[8:]}{peer}\n"
                    for n in (l.decode() for l in lines) if n.startswith("Ethernet") and n[8:].isdigit())
    if batch:
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=False)
