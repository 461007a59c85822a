#!/usr/bin/env bash
# Builds the Debian package of the static build (run the static build first:
# README, "Building for a switch"): `cargo deb` with the metadata in
# daemon/Cargo.toml, then what cargo-deb 3 does not do:
#   - md5sums in the control archive (dpkg --verify and debsums check an
#     install against the package, not against what dpkg saw at unpack),
#     conffiles excluded as dh_md5sums does (dpkg keeps their sums itself);
#   - no Depends field rather than an empty one (the binary is static).
# Prints the package's path last.
#
# usage: packaging/build-deb.sh OUTDIR [cargo deb options, e.g. --deb-version 0.1.0-2]
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"
shift
target="$(uname -m)-unknown-linux-musl"
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
mkdir -p "$out"
deb="$(cargo deb -p portsyncd --target "$target" --no-build --output "$out/" "$@" 2>&1 | tail -1)"
[ -f "$deb" ] || { echo "build-deb: cargo deb made no package: $deb" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dpkg-deb -R "$deb" "$work/pkg"
sed -i '/^Depends: *$/d' "$work/pkg/DEBIAN/control"
(
    cd "$work/pkg"
    find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
        grep -vxF -f <(sed 's|^/||' DEBIAN/conffiles 2>/dev/null || true) |
        xargs -d '\n' md5sum
) > "$work/pkg/DEBIAN/md5sums"
chmod 0644 "$work/pkg/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz -b "$work/pkg" "$deb" >/dev/null
echo "$deb"
