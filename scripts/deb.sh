#!/usr/bin/env bash
# make deb: the Debian package postgresql-<version>-electric-sync for the versions in
# debian/pgversions (docs/install.md). Installs the build tools it lacks (debhelper,
# postgresql-server-dev-all, dpkg-dev), builds from a copy of the files git knows or would add
# (tracked, and untracked ones not ignored; the working tree is left alone) and leaves the .deb
# files in dist/. With an argument, builds from that folder instead (an unpacked release).
# Usage: scripts/deb.sh [SOURCE_DIR]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ES_ROOT"

es_install_deps debhelper dpkg-dev postgresql-server-dev-all
version=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
ext_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" electric_sync.control)
[ "$version" = "$ext_version" ] || { echo "debian/changelog says $version, electric_sync.control $ext_version" >&2; exit 1; }

work=$(mktemp -d /tmp/electric_sync-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/electric-sync-$version"
mkdir -p "$src"
if [ -n "${1:-}" ]; then
  cp -a "$1/." "$src/"   # an unpacked release (test/packaging builds from the zip)
else
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$src"
fi
es_log "building the Debian package electric-sync $version (dpkg-buildpackage, $(nproc) jobs)"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") > "$work/build.log" 2>&1; then
  tail -n 60 "$work/build.log"
  echo "make deb: dpkg-buildpackage failed (the last lines of its log are above)" >&2
  exit 1
fi
mkdir -p dist
for f in "$work"/*.deb; do cp "$f" dist/; echo "built dist/$(basename "$f")"; done
