#!/usr/bin/env bash
# Print the bin directory of Go 1.26.8, installing it when missing. A Go of exactly that version on
# PATH or in /usr/local/go is used as it is; otherwise the official toolchain module is fetched from
# the Go module proxy (the one Go source CI machines reach; Debian's golang-go is far older), checked
# against the SHA-256 pinned here, and unpacked under ~/.cache/mlops-platform/go.
set -euo pipefail
version=1.26.8
zip_sha256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7  # linux-amd64
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform/go"

for go in "$(command -v go || true)" /usr/local/go/bin/go "$cache/go$version/bin/go"; do
  if [ -n "$go" ] && [ -x "$go" ] && [ "$(GOTOOLCHAIN=local "$go" env GOVERSION 2>/dev/null)" = "go$version" ]; then
    dirname "$go"
    exit 0
  fi
done

[ "$(uname -sm)" = "Linux x86_64" ] || { echo "go.sh: install Go $version for $(uname -sm) yourself" >&2; exit 1; }
module="v0.0.1-go$version.linux-amd64"
echo "go.sh: installing Go $version from the module proxy" >&2
mkdir -p "$cache"
work="$(mktemp -d "$cache/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The first proxy of GOPROXY's list (comma or pipe separated), as the go command would try it.
proxy="${GOPROXY:-https://proxy.golang.org}"
proxy="${proxy%%[,|]*}"
case "$proxy" in
  off | direct | "") echo "go.sh: GOPROXY '$GOPROXY' names no module proxy to fetch Go from" >&2; exit 1 ;;
esac
curl -fsSL --retry 3 -o "$work/go.zip" "${proxy%/}/golang.org/toolchain/@v/$module.zip"
echo "$zip_sha256  $work/go.zip" | sha256sum -c --quiet - >&2
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$work/go.zip" "$work/x"
root="$work/x/golang.org/toolchain@$module"
chmod -R u+x "$root/bin" "$root/pkg/tool"
rm -rf "$cache/go$version"
mv "$root" "$cache/go$version"
echo "$cache/go$version/bin"
