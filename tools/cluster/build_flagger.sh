#!/usr/bin/env bash
# Build Flagger's controller (github.com/fluxcd/flagger/cmd/flagger) and its load tester's task API on
# loopback (flagger/loadtester/main.go), to run out of cluster against the local control plane. The
# version is pinned by the wrapper module's go.mod/go.sum (flagger/).
#
# Output: $MLOPS_ENGINE_CACHE/flagger-<version>_<arch>_<hash>/bin, next to the control plane's build
# and under the same rules, but with a key of its own: a Flagger change never rebuilds the Kubernetes
# binaries (build.sh's key does not cover flagger/ nor this script). The key covers the version, the
# architecture, this script and the wrapper's sources; it is computed without Go; a build with the same
# key is reused. bin/flagger.json records the versions. Prints the bin directory as its last line;
# with --cached it only prints an existing build (exit 1 when there is none).
set -euo pipefail
cached_only=false
case "${1:-}" in
  "") ;;
  --cached) cached_only=true ;;
  *) echo "usage: $0 [--cached]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${MLOPS_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform/engine}"

# The required version of Flagger, read from go.mod (no Go needed).
flagger_version="$(awk '$1 == "github.com/fluxcd/flagger" { print $2; exit } $1 == "require" && $2 == "github.com/fluxcd/flagger" { print $3; exit }' "$here/flagger/go.mod")"
[ -n "$flagger_version" ] || { echo "flagger: github.com/fluxcd/flagger not found in flagger/go.mod" >&2; exit 1; }

sources_hash="$(cd "$here" && find build_flagger.sh flagger -type f \( -name build_flagger.sh -o -name go.mod -o -name go.sum -o -name '*.go' \) \
  -not -name '*_test.go' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)"
key="flagger-${flagger_version#v}_$(uname -m)_${sources_hash}"
bin="$cache_root/$key/bin"
binaries=(flagger loadtester)

built() { for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done; [ -f "$bin/flagger.json" ]; }
if built; then
  echo "flagger: cached ($key)" >&2
  echo "$bin"
  exit 0
fi
$cached_only && { echo "flagger: not built ($key); run make cluster" >&2; exit 1; }

command -v go >/dev/null || { echo "flagger: 'go' not found; install Go 1.26 (make go)" >&2; exit 1; }
# GOPROXY stays whatever the machine configured (env or `go env -w`), e.g. a team's module mirror.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

start=$SECONDS
step() { echo "flagger: [$((SECONDS - start))s] $*" >&2; }
mkdir -p "$cache_root"
stage="$(mktemp -d "$cache_root/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

timed() {
  local name="$1" t0=$SECONDS
  shift
  step "$name ..."
  "$@"
  step "$name built in $((SECONDS - t0))s"
}
# the revision the release's Dockerfile stamps; a module build has no git checkout to read it from
ldflags="-s -w -X github.com/fluxcd/flagger/pkg/version.REVISION=${flagger_version}"
timed "flagger $flagger_version" bash -c "cd '$here/flagger' && go build -trimpath -ldflags '$ldflags' -o '$stage/flagger' github.com/fluxcd/flagger/cmd/flagger"
timed "loadtester $flagger_version" bash -c "cd '$here/flagger' && go build -trimpath -ldflags '-s -w' -o '$stage/loadtester' ./loadtester"

printf '{"flagger": "%s", "go": "%s"}\n' "${flagger_version#v}" "$(go env GOVERSION)" >"$stage/flagger.json"
chmod 0755 "$stage"
mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$stage" "$bin"
trap - EXIT
step "flagger built in $((SECONDS - start))s"
echo "$bin"
