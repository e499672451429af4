#!/usr/bin/env bash
# Fetches a Node.js release into .cache/node-<version>/ (git-ignored) and prints its bin directory, so CI
# can run the test suite on every Node.js major the package supports, not only the machine's own.
# The binaries come from the npm registry (the official builds, published as node-<platform>-<arch>),
# which npm checks against the registry's integrity hash. Idempotent: a fetched version is reused.
#
#   scripts/fetch-node.sh 22.23.3    # → .cache/node-22.23.3/bin
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:?usage: scripts/fetch-node.sh VERSION}
target=$PWD/.cache/node-$version
package=node-$(node -p 'process.platform + "-" + process.arch')

if [ "$("$target/bin/node" --version 2>/dev/null)" != "v$version" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  npm pack "$package@$version" --pack-destination "$work" --silent >/dev/null
  rm -rf "$target"
  mkdir -p "$target"
  tar -xzf "$work/$package-$version.tgz" -C "$target" --strip-components=1
  actual=$("$target/bin/node" --version)
  [ "$actual" = "v$version" ] || { echo "fetched $package@$version reports $actual" >&2; exit 1; }
fi
echo "$target/bin"
