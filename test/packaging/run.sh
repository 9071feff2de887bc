#!/usr/bin/env bash
# Packaging (docs/install.md): META.json is valid for PGXN and agrees with the control file,
# `make dist` builds a release zip that holds everything, the Debian package built from that zip
# installs, and pg_regress passes against the installed package. Afterwards the package is
# removed and the tree's own build installed again. Ends with "N passed, M failed".
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ES_ROOT"
PASS=0; FAIL=0
check() {  # check NAME STATUS [DETAIL]
  if [ "$2" -eq 0 ]; then PASS=$((PASS + 1)); echo "ok   - $1"
  else FAIL=$((FAIL + 1)); echo "FAIL - $1"; [ -n "${3:-}" ] && printf '%s\n' "$3" | head -n 40; fi
}
WORK=$(mktemp -d /tmp/electric_sync-packaging.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" electric_sync.control)

# 1. META.json: the fields PGXN requires, the same version everywhere, a maintainer with an
#    email, resources, and the license file it names.
out=$(python3 - "$version" <<'PY' 2>&1
import json, re, sys
version = sys.argv[1]
m = json.load(open("META.json"))
errors = []
for k in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec", "resources"):
    if k not in m: errors.append("missing " + k)
if m.get("version") != version: errors.append(f"version {m.get('version')} != control {version}")
p = m.get("provides", {}).get("electric_sync", {})
if p.get("version") != version: errors.append("provides.electric_sync.version differs")
if p.get("file") != f"sql/electric_sync--{version}.sql": errors.append("provides.electric_sync.file: " + str(p.get("file")))
if not re.fullmatch(r"\d+\.\d+\.\d+", m.get("version", "")): errors.append("version is not semver")
maint = m.get("maintainer", [])
if not any(re.search(r"<[^@>]+@[^>]+>", x) for x in maint): errors.append("no maintainer with an email")
if m.get("license") != "apache_2_0": errors.append("license " + str(m.get("license")))
if not m.get("resources"): errors.append("no resources")
if m.get("meta-spec", {}).get("version") != "1.0.0": errors.append("meta-spec version")
print("\n".join(errors))
sys.exit(1 if errors else 0)
PY
)
check "META.json is valid for PGXN and says version $version" $? "$out"
grep -q 'Apache License' LICENSE && grep -q 'Version 2.0' LICENSE
check "LICENSE holds the Apache License 2.0 that META.json declares" $?

# 2. make dist: a zip of HEAD under electric_sync-<version>/ with the assembled install script.
rm -f "electric_sync-$version.zip"
out=$(make -s dist 2>&1) && [ -f "electric_sync-$version.zip" ] && mv "electric_sync-$version.zip" "$WORK/"
check "make dist builds electric_sync-$version.zip" $? "$out"
out=$(cd "$WORK" && python3 - "$version" <<'PY' 2>&1
import sys, zipfile
v = sys.argv[1]; top = f"electric_sync-{v}/"
names = set(zipfile.ZipFile(f"electric_sync-{v}.zip").namelist())
need = ["META.json", "LICENSE", "Makefile", "electric_sync.control", "README.md", f"sql/electric_sync--{v}.sql",
        "debian/control", "debian/rules", "debian/pgversions", "docs/install.md"]
missing = [n for n in need if top + n not in names]
stray = [n for n in names if not n.startswith(top)]
print("missing: %s; outside %s: %s" % (missing, top, stray[:5]))
sys.exit(1 if missing or stray else 0)
PY
)
check "the zip holds META.json, LICENSE, the build, the install script and debian/, all under one folder" $? "$out"

# 3. The Debian package, built from the unpacked zip (so the zip is complete), installed.
( cd "$WORK" && python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall('.')" "electric_sync-$version.zip" )
chmod +x "$WORK/electric_sync-$version/debian/rules" "$WORK/electric_sync-$version"/scripts/*.sh 2>/dev/null
out=$(bash scripts/deb.sh "$WORK/electric_sync-$version" 2>&1)
deb="dist/postgresql-15-electric-sync_${version}_amd64.deb"
[ -f "$deb" ]
check "make deb (dpkg-buildpackage with pg_buildext) builds $deb from the release zip" $? "$out"
if [ -f "$deb" ]; then
  out=$(dpkg-deb -c "$deb" | awk '{print $6}')
  echo "$out" | grep -q '/usr/lib/postgresql/15/lib/electric_sync.so$' &&
    echo "$out" | grep -q "/usr/share/postgresql/15/extension/electric_sync--$version.sql$" &&
    echo "$out" | grep -q '/usr/share/postgresql/15/extension/electric_sync.control$'
  check "the package holds the library, the control file and the install script in PostgreSQL 15's folders" $? "$out"
  out=$(DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" 2>&1) &&
    dpkg-query -W -f='${Status}' postgresql-15-electric-sync | grep -q 'ok installed'
  check "dpkg -i installs postgresql-15-electric-sync" $? "$out"
  # 4. pg_regress against the installed package (the same suite make test runs on the tree).
  rdir=$(mktemp -d /tmp/electric_sync-regress.XXXXXX)
  out=$(es_regress "$rdir" "${PACKAGING_REGRESS_PORT:-54392}"); rc=$?
  echo "$out" | grep -E 'tests passed|failed' | tail -n 3
  check "pg_regress passes against the installed package" $rc "$(echo "$out" | tail -n 30; [ -f "$rdir/regression.diffs" ] && head -n 80 "$rdir/regression.diffs")"
  rm -rf "$rdir"
  DEBIAN_FRONTEND=noninteractive dpkg -r postgresql-15-electric-sync >/dev/null 2>&1
fi
# The package's removal took the extension's files: install the tree's build again.
make -s install >/dev/null 2>&1 || echo "warning: make install after the package test failed"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
