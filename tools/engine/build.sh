#!/usr/bin/env bash
# Build the Pulumi engine from published Go modules: the `pulumi` CLI, the Python language host
# (with the SDK's program runner next to it) and the Kubernetes provider. Versions are pinned by
# the wrapper modules' go.mod/go.sum (cli/ and kubernetes/), which tests keep equal to the
# `pulumi` and `pulumi-kubernetes` pins in requirements.txt.
#
# Output: $MLOPS_ENGINE_CACHE/<key>/bin (default ~/.cache/mlops-platform/engine), reused when
# present. The key covers the versions, this script and every wrapper source, so any change
# rebuilds; it is computed without Go, so a copied cache serves machines that have none.
# bin/engine.json records the versions, for callers that check them.
# Prints the bin directory as its last line. With --cached it only prints an existing build
# (exit 1 when there is none), for callers that use the engine when it is there.
set -euo pipefail
cached_only=false
case "${1:-}" in
  "") ;;
  --cached) cached_only=true ;;
  *) echo "usage: $0 [--cached]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${MLOPS_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-platform/engine}"

# A module's required version, read from go.mod (no Go needed).
module_version() { awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$here/$1/go.mod"; }
cli_version="$(module_version cli github.com/pulumi/pulumi/pkg/v3)"
sdk_version="$(module_version cli github.com/pulumi/pulumi/sdk/v3)"
k8s_version="$(module_version kubernetes github.com/pulumi/pulumi-kubernetes/sdk/v4)"
provider_pseudo="$(module_version kubernetes github.com/pulumi/pulumi-kubernetes/provider/v4)"
if [ -z "$cli_version" ] || [ "$cli_version" != "$sdk_version" ]; then
  echo "engine: pkg '$cli_version' and sdk '$sdk_version' differ" >&2
  exit 1
fi
if [ -z "$k8s_version" ] || [ -z "$provider_pseudo" ]; then
  echo "engine: kubernetes/go.mod lacks the provider or its SDK" >&2
  exit 1
fi

sources_hash="$(cd "$here" && find build.sh cli kubernetes -type f \( -name build.sh -o -name go.mod -o -name go.sum -o -name '*.go' -o -name '*.py' \) \
  -not -name '*-embed.json' -not -name '*_test.go' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)"
key="pulumi-${cli_version#v}_kubernetes-${k8s_version#v}_$(uname -m)_${sources_hash}"
bin="$cache_root/$key/bin"
binaries=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python pulumi-resource-kubernetes)

built() { for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done; [ -f "$bin/engine.json" ]; }
if built; then
  echo "engine: cached ($key)" >&2
  echo "$bin"
  exit 0
fi
$cached_only && { echo "engine: not built ($key); run make engine" >&2; exit 1; }

command -v go >/dev/null || { echo "engine: 'go' not found; install Go 1.26 (make go)" >&2; exit 1; }
# GOPROXY stays whatever the machine configured (env or `go env -w`), e.g. a team's module mirror.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

start=$SECONDS
step() { echo "engine: [$((SECONDS - start))s] $*" >&2; }
mkdir -p "$cache_root"
stage="$(mktemp -d "$cache_root/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
ldflags_cli="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version"

step "pulumi CLI $cli_version (the longest step on a cold cache)"
(cd "$here/cli" && go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags_cli" -o "$stage/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)

step "Python language host"
(cd "$here/cli" && go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags_cli" -o "$stage/pulumi-language-python" ./cmd/pulumi-language-python)
sdk_dir="$(cd "$here/cli" && go mod download -json "github.com/pulumi/pulumi/sdk/v3@$sdk_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$stage/"
install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$stage/"

step "Kubernetes provider ${k8s_version#v} ($provider_pseudo)"
provider_dir="$(cd "$here/kubernetes" && go mod download -json "github.com/pulumi/pulumi-kubernetes/provider/v4@$provider_pseudo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
(cd "$here/kubernetes" && python3 embed.py "$provider_dir" "${k8s_version#v}" \
  && go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${k8s_version#v}" \
     -o "$stage/pulumi-resource-kubernetes" .)

printf '{"pulumi": "%s", "kubernetes": "%s", "provider_module": "%s", "go": "%s"}\n' \
  "${cli_version#v}" "${k8s_version#v}" "$provider_pseudo" "$(go env GOVERSION)" >"$stage/engine.json"
chmod 0755 "$stage"
mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$stage" "$bin"
trap - EXIT
step "done in $((SECONDS - start))s"
echo "$bin"
