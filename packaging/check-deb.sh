#!/usr/bin/env bash
# The Debian package, built and installed into a clean root, then checked
# there (issues 14 and 23):
#   - packaging/build-deb.sh packs the static build (cargo-deb installed if
#     missing), and a second version of it (0.1.0-2) for the upgrade;
#   - lintian (--pedantic) reports no error and no warning that the package's
#     overrides (each with its reason) do not explain;
#   - `dpkg --root` installs it into an empty root (a dpkg database and nothing
#     else: the binary is static; maintainer scripts run chrootless, on
#     $DPKG_ROOT);
#   - from that root: `portsyncd --version`, and `--check-config` on the
#     settings file the package installed (and a database_config.json);
#   - the units as installed: `systemd-analyze verify`, and `systemd-analyze
#     security --offline=true --threshold=20` (exposure at most 2.0) for
#     portsyncd.service and portsyncd@0.service (which Requires= SONiC's
#     database@0.service: a unit of that name is put in the root);
#   - upgrade and purge, under the real supervisord: v1 installed into another
#     empty root whose /etc/supervisor/supervisord.conf runs the installed
#     portsyncd (--db memory, in a network namespace of its own); the settings
#     file edited; v2 installed over it: the edit is kept, no .dpkg-* file,
#     the postinst restarted the daemon (a new pid, RUNNING), md5sums verify;
#     `dpkg --remove`: the prerm stopped it; `dpkg --purge`: the root holds
#     exactly what it held before the install (the state dir the daemon made
#     is gone too).
#
# usage (root): packaging/check-deb.sh    (after the static build, as tests/run-all.sh does it)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in lintian supervisord; do
    command -v "$tool" >/dev/null ||
        { echo "check-deb: $tool missing (tests/run-all.sh installs it: lintian, supervisor)" >&2; exit 1; }
done
debs="$(mktemp -d)"
deb="$(packaging/build-deb.sh "$debs/v1" | tail -1)"
deb2="$(packaging/build-deb.sh "$debs/v2" --deb-version 0.1.0-2 | tail -1)"
echo "deb: $deb"
dpkg-deb --info "$deb" | grep -E '^ (Package|Version|Architecture|Depends|Section|Description):' || true
# (No `grep -q`, no `head` in a pipeline: under pipefail the writer's
# SIGPIPE when the reader stops early would fail the pipeline.)
dpkg-deb --info "$deb" | grep '^ Depends:' >/dev/null && { echo "check-deb: an empty Depends field" >&2; exit 1; }
dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -x './md5sums' >/dev/null || { echo "check-deb: no md5sums" >&2; exit 1; }
# The summary is daemon/Cargo.toml's description whole (cargo-deb wraps a
# longer one: `dpkg -s` then shows it cut, "... in step with the").
summary="$(dpkg-deb -f "$deb" Description | sed -n 1p)"
description="$(sed -n 's/^description = "\(.*\)"$/\1/p' daemon/Cargo.toml)"
[ "$summary" = "$description" ] && [ "${#summary}" -lt 80 ] ||
    { echo "check-deb: the summary is \"$summary\", not the description whole under 80 characters" >&2; exit 1; }

# lintian: errors and warnings fail (overridden tags do not show; with
# --show-overrides lintian would fail on them too). Infos are shown.
lintian --fail-on error,warning --display-info --pedantic "$deb" 2>&1 | { grep -v 'running with root privileges' || true; }
echo "deb: lintian --pedantic: no error, no warning but those overridden with a reason"

root="$(mktemp -d)"
trap 'rm -rf "$root" "$debs"' EXIT
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
chroot "$root" /usr/bin/portsyncd --check-config --db-config /tmp/database_config.json | sed -n 1,3p
echo "deb: --version and --check-config (the installed settings file) ran from the clean root"

# The units as installed, against this machine's own systemd units.
mkdir -p "$root/usr/lib/systemd"
cp -r /lib/systemd/system "$root/usr/lib/systemd/"
# portsyncd@N.service Requires= SONiC's database@N.service, which this machine
# has not (SONiC's runs the database container): a unit of that name, so that
# verify checks ours against it; what it runs is not ours to check.
mkdir -p "$root/etc/systemd/system"
printf '[Unit]\nDescription=SONiC database for asic%%i (the name only: a placeholder for check-deb.sh)\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
    > "$root/etc/systemd/system/database@.service"
units=(portsyncd.service portsyncd@0.service)
systemd-analyze verify --root="$root" "${units[@]}"
echo "units: systemd-analyze verify passed (${units[*]})"
systemd-analyze security --offline=true --root="$root" --threshold=20 --no-pager "${units[@]}" |
    grep -E '^→ Overall exposure'
echo "units: exposure at most 2.0 (systemd-analyze security --threshold=20)"

# Upgrade and purge, under the real supervisord (as in SONiC's swss container).
up="$(mktemp -d)"
sup="$(mktemp -d)"
ns="pkgdeb$$"
cleanup_upgrade() {
    [ -f "$sup/supervisord.pid" ] && kill "$(cat "$sup/supervisord.pid")" 2>/dev/null && sleep 1
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$up" "$sup"
}
trap 'cleanup_upgrade; rm -rf "$root" "$debs"' EXIT
ip netns add "$ns"
mkdir -p "$up/var/lib/dpkg/info" "$up/var/lib/dpkg/updates" "$up/etc/supervisor"
touch "$up/var/lib/dpkg/status" "$up/var/lib/dpkg/available"
cat > "$up/etc/supervisor/supervisord.conf" <<CONF
[unix_http_server]
file=$sup/supervisor.sock
[supervisord]
pidfile=$sup/supervisord.pid
logfile=$sup/supervisord.log
childlogdir=$sup
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://$sup/supervisor.sock
[program:portsyncd]
command=$up/usr/bin/portsyncd --db memory --netns $ns --config $up/etc/sonic/portsyncd.conf --state-dir $up/var/lib/sonic/portsyncd
autostart=false
startsecs=1
stdout_logfile=$sup/portsyncd.out
stderr_logfile=$sup/portsyncd.err
CONF
before="$(cd "$up" && find . -path ./var/lib/dpkg -prune -o -print | LC_ALL=C sort)"
ctl() { supervisorctl -c "$up/etc/supervisor/supervisord.conf" "$@"; }
state() { ctl status portsyncd | awk '{print $2}'; }
dpkg --root="$up" --force-script-chrootless -i "$deb" >/dev/null
supervisord -c "$up/etc/supervisor/supervisord.conf"
for _ in $(seq 50); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(state)" = STOPPED ] || { echo "check-deb: the install started portsyncd: $(ctl status portsyncd)" >&2; exit 1; }
ctl start portsyncd >/dev/null
pid1="$(ctl pid portsyncd)"
echo "# edited by the operator" >> "$up/etc/sonic/portsyncd.conf"
edited="$(md5sum < "$up/etc/sonic/portsyncd.conf")"
dpkg --root="$up" --force-script-chrootless -i "$deb2" >/dev/null
[ "$(dpkg-query --admindir="$up/var/lib/dpkg" -W -f='${Version}' portsyncd)" = 0.1.0-2 ]
[ "$(md5sum < "$up/etc/sonic/portsyncd.conf")" = "$edited" ] || { echo "check-deb: the upgrade lost the edit" >&2; exit 1; }
leftovers="$(find "$up/etc" -name '*.dpkg-*')"
[ -z "$leftovers" ] || { echo "check-deb: left by the upgrade: $leftovers" >&2; exit 1; }
for _ in $(seq 50); do [ "$(state)" = RUNNING ] && break; sleep 0.1; done
pid2="$(ctl pid portsyncd)"
[ "$(state)" = RUNNING ] && [ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] ||
    { echo "check-deb: the upgrade did not restart portsyncd ($pid1 -> $pid2: $(ctl status portsyncd))" >&2; exit 1; }
# md5sums: every file as packaged but the settings file, edited (5: its md5).
verify="$(dpkg --root="$up" --verify portsyncd || true)"
[ "$verify" = "??5?????? c /etc/sonic/portsyncd.conf" ] || { echo "check-deb: dpkg --verify: $verify" >&2; exit 1; }
[ -d "$up/var/lib/sonic/portsyncd" ] || { echo "check-deb: the daemon made no state dir" >&2; exit 1; }
echo "deb: upgraded 0.1.0-1 -> 0.1.0-2 under supervisord: the edited settings file kept, portsyncd restarted (pid $pid1 -> $pid2), dpkg --verify: only the edited settings file differs"
dpkg --root="$up" --force-script-chrootless --remove portsyncd >/dev/null
[ "$(state)" = STOPPED ] || { echo "check-deb: the removal left portsyncd $(state)" >&2; exit 1; }
[ -f "$up/etc/sonic/portsyncd.conf" ] || { echo "check-deb: the removal took the conffile" >&2; exit 1; }
dpkg --root="$up" --force-script-chrootless --purge portsyncd >/dev/null
after="$(cd "$up" && find . -path ./var/lib/dpkg -prune -o -print | LC_ALL=C sort)"
[ "$before" = "$after" ] || { echo "check-deb: left after the purge:" >&2; diff <(echo "$before") <(echo "$after") >&2; exit 1; }
echo "deb: dpkg --remove stopped portsyncd under supervisord; dpkg --purge left the root as it was"
