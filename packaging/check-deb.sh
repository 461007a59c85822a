#!/usr/bin/env bash
# The Debian package, built and installed into a clean root, then checked
# there (issue 14):
#   - `cargo deb` packs the static build (cargo-deb installed if missing);
#   - `dpkg --root` installs it into an empty root (a dpkg database and nothing
#     else: the binary is static, there are no maintainer scripts);
#   - from that root: `portsyncd --version`, and `--check-config` on the
#     settings file the package installed (and a database_config.json);
#   - the units as installed: `systemd-analyze verify`, and `systemd-analyze
#     security --offline=true --threshold=20` (exposure at most 2.0) for
#     portsyncd.service and portsyncd@asic0.service.
#
# usage (root): packaging/check-deb.sh    (after the static build, as tests/run-all.sh does it)
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(uname -m)-unknown-linux-musl"
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
deb="$(cargo deb -p portsyncd --target "$target" --no-build --no-strip --output target/debian/ 2>&1 | tail -1)"
[ -f "$deb" ] || { echo "check-deb: cargo deb made no package: $deb" >&2; exit 1; }
echo "deb: $deb"
dpkg-deb --info "$deb" | grep -E '^ (Package|Version|Architecture|Depends|Section):' || true

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
dpkg --root="$root" --force-script-chrootless -i "$deb" >/dev/null
dpkg --root="$root" -L portsyncd | grep -E '^/(usr/bin|etc|lib/systemd|usr/share/man)/' | sort
grep -q '^/etc/sonic/portsyncd.conf$' "$root/var/lib/dpkg/info/portsyncd.conffiles"
echo "deb: installed into a clean root; /etc/sonic/portsyncd.conf is a conffile"

chroot "$root" /usr/bin/portsyncd --version
mkdir -p "$root/tmp"
printf '{"INSTANCES":{"redis":{"hostname":"127.0.0.1","port":6379,"unix_socket_path":"/var/run/redis/redis.sock"}},"DATABASES":{"APPL_DB":{"id":0,"separator":":","instance":"redis"},"CONFIG_DB":{"id":4,"separator":"|","instance":"redis"},"STATE_DB":{"id":6,"separator":"|","instance":"redis"}},"VERSION":"1.0"}' \
    > "$root/tmp/database_config.json"
chroot "$root" /usr/bin/portsyncd --check-config --db-config /tmp/database_config.json | head -3
echo "deb: --version and --check-config (the installed settings file) ran from the clean root"

# The units as installed, against this machine's own systemd units.
mkdir -p "$root/usr/lib/systemd"
cp -r /lib/systemd/system "$root/usr/lib/systemd/"
units=(portsyncd.service portsyncd@asic0.service)
systemd-analyze verify --root="$root" "${units[@]}"
echo "units: systemd-analyze verify passed (${units[*]})"
systemd-analyze security --offline=true --root="$root" --threshold=20 --no-pager "${units[@]}" |
    grep -E '^→ Overall exposure'
echo "units: exposure at most 2.0 (systemd-analyze security --threshold=20)"
