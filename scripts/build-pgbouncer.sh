#!/usr/bin/env bash
# Builds PgBouncer 1.24.1 into .cache/pgbouncer/bin/pgbouncer (git-ignored), for the tests of named
# prepared statements through PgBouncer (max_prepared_statements needs 1.21 or newer; Debian 12 packages
# 1.18). The source is Debian's own tarball, fetched from the Debian mirror apt already uses and checked
# against its sha256. Idempotent: exits at once when the binary there already reports this version.
# Installs its build packages with apt when missing (as root, or with sudo). About 15 s on 2 cores.
#
# PGBOUNCER_TARBALL=/path/to/pgbouncer_1.24.1.orig.tar.gz builds from a file instead (still checked).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022 # the tests run PgBouncer as the postgres OS user when they run as root: it must read the binary

version=1.24.1
sha256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
tarball=pgbouncer_${version}.orig.tar.gz
cache=$PWD/.cache
prefix=$cache/pgbouncer
binary=$prefix/bin/pgbouncer
build_packages=(gcc make libc6-dev pkg-config curl libevent-dev libc-ares-dev libssl-dev)

built() { [ -x "$binary" ] && [ "$("$binary" --version 2>/dev/null | head -n 1)" = "PgBouncer $version" ]; }
if built; then
  echo "PgBouncer $version is built: $binary"
  exit 0
fi

mkdir -p "$cache"
# Two runs at once (CI and a developer, two terminals) would build into the same place: one waits.
exec 9>"$cache/pgbouncer.lock"
flock 9
if built; then
  echo "PgBouncer $version is built: $binary"
  exit 0
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "build-pgbouncer: needs root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
}
missing=()
for package in "${build_packages[@]}"; do
  dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q ' installed$' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-pgbouncer: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The pool of the first Debian archive in apt's sources (deb822 or one-line format), not its security one.
debian_mirror() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
    grep -v '^[[:space:]]*#' |
    grep -oE '(https?|file)://[^[:space:]]+' |
    sed 's:/*$::' |
    grep -E '/debian$' |
    head -n 1
}

work=$(mktemp -d "$cache/pgbouncer-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -n "${PGBOUNCER_TARBALL:-}" ]; then
  cp "$PGBOUNCER_TARBALL" "$work/$tarball"
else
  mirror=$(debian_mirror) || true # missing files and head's early exit are not errors here
  if [ -z "$mirror" ]; then
    echo "build-pgbouncer: no Debian archive in apt's sources; set PGBOUNCER_TARBALL to $tarball" >&2
    exit 1
  fi
  url=$mirror/pool/main/p/pgbouncer/$tarball
  echo "build-pgbouncer: fetching $url"
  curl -sSf --retry 3 --connect-timeout 20 -o "$work/$tarball" "$url"
fi
echo "$sha256  $work/$tarball" | sha256sum -c --quiet - || {
  echo "build-pgbouncer: $tarball does not have the expected sha256 $sha256" >&2
  exit 1
}

tar -xzf "$work/$tarball" -C "$work"
source_dir=$work/pgbouncer-$version
log=$work/build.log
build() {
  cd "$source_dir" &&
    ./configure --prefix="$prefix" --without-systemd --without-pam &&
    make -j"$(nproc)" &&
    make install DESTDIR="$work/stage"
}
echo "build-pgbouncer: building PgBouncer $version"
if ! (build) >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "build-pgbouncer: the build failed (the lines above are the end of its log)" >&2
  exit 1
fi

# Into place in one rename on the same file system, so a stopped build never leaves a half-installed one.
rm -rf "$prefix"
mv "$work/stage$prefix" "$prefix"
built || {
  echo "build-pgbouncer: $binary does not report PgBouncer $version" >&2
  exit 1
}
"$binary" --version | head -n 1
echo "build-pgbouncer: installed $binary"
