#!/usr/bin/env python3
"""STATE_DB against the kernel: for every Ethernet* link of the network
namespace it runs in, admin (IFF_UP), oper (IFF_RUNNING, the flag portsyncd
reads) and MTU, against STATE_DB PORT_TABLE|<name>'s admin_status,
netdev_oper_status and mtu; a STATE_DB port with no link differs too. Prints
"<links that differ> <links>" and the first differences on stderr.

usage (inside the namespace): statecheck.py REDIS_SOCKET"""
import fcntl, os, socket, struct, subprocess, sys

sock = sys.argv[1]
lua = ("local out = {}; for _, k in ipairs(redis.call('KEYS', 'PORT_TABLE|Ethernet*')) do "
       "local v = redis.call('HMGET', k, 'admin_status', 'netdev_oper_status', 'mtu'); "
       "out[#out + 1] = string.sub(k, 12) .. ' ' .. tostring(v[1]) .. ' ' .. tostring(v[2]) .. ' ' .. tostring(v[3]) end; return out")
db = {}
for line in subprocess.run(["redis-cli", "-s", sock, "-n", "6", "--raw", "EVAL", lua, "0"],
                           check=True, capture_output=True, text=True).stdout.splitlines():
    name, *fields = line.split()
    db[name] = tuple(fields)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
kernel = {}
for name in os.listdir("/sys/class/net"):
    if not name.startswith("Ethernet"):
        continue
    flags = struct.unpack_from("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", name.encode(), 0)))[1]  # SIOCGIFFLAGS
    with open(f"/sys/class/net/{name}/mtu") as f:
        mtu = f.read().strip()
    kernel[name] = ("up" if flags & 0x1 else "down", "up" if flags & 0x40 else "down", mtu)
bad = [f"{n}: kernel {kernel.get(n)} STATE_DB {db.get(n)}" for n in sorted(set(kernel) | set(db)) if kernel.get(n) != db.get(n)]
if bad:
    print(f"statecheck: STATE_DB differs from the kernel for {len(bad)} of {len(kernel)} links: " + "; ".join(bad[:4]), file=sys.stderr)
print(len(bad), len(kernel))
