#!/usr/bin/env bash
# Build a local Kubernetes control plane from published Go modules: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok (which simulates the kubelets of fake nodes)
# and KEDA's operator and metrics API server (run out of cluster against it). Versions are pinned by
# the wrapper modules' go.mod/go.sum (kubernetes/, kwok/, etcd/, keda/).
#
# Output: $MLOPS_ENGINE_CACHE/control-plane-<key>/bin (default ~/.cache/mlops-platform/engine), next
# to the engine and under the same rules: the key covers the versions, the architecture, this script
# and every wrapper source; it is computed without Go; a build with the same key is reused.
# bin/cluster.json records the versions. Prints the bin directory as its last line; with --cached it
# only prints an existing build (exit 1 when there is none).
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
kube_version="$(module_version kubernetes k8s.io/kubernetes)"
staging_version="$(module_version kubernetes k8s.io/apiserver)"
kwok_version="$(module_version kwok sigs.k8s.io/kwok)"
etcd_version="$(module_version etcd go.etcd.io/etcd/server/v3)"
keda_version="$(module_version keda github.com/kedacore/keda/v2)"
for v in kube_version staging_version kwok_version etcd_version keda_version; do
  [ -n "${!v}" ] || { echo "cluster: $v not found in the wrapper modules" >&2; exit 1; }
done
if [ "${kube_version#v1.}" != "${staging_version#v0.}" ]; then
  echo "cluster: k8s.io/kubernetes $kube_version and its staging modules $staging_version differ" >&2
  exit 1
fi

sources_hash="$(cd "$here" && find build.sh kubernetes kwok etcd keda -type f \( -name build.sh -o -name go.mod -o -name go.sum -o -name '*.go' \) \
  -not -name '*_test.go' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)"
key="control-plane-kubernetes-${kube_version#v}_kwok-${kwok_version#v}_etcd-${etcd_version#v}_keda-${keda_version#v}_$(uname -m)_${sources_hash}"
bin="$cache_root/$key/bin"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok keda-operator keda-adapter)

built() { for b in "${binaries[@]}"; do [ -x "$bin/$b" ] || return 1; done; [ -f "$bin/cluster.json" ]; }
if built; then
  echo "cluster: cached ($key)" >&2
  echo "$bin"
  exit 0
fi
$cached_only && { echo "cluster: not built ($key); run make cluster" >&2; exit 1; }

command -v go >/dev/null || { echo "cluster: 'go' not found; install Go 1.26 (make go)" >&2; exit 1; }
# GOPROXY stays whatever the machine configured (env or `go env -w`), e.g. a team's module mirror.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

start=$SECONDS
step() { echo "cluster: [$((SECONDS - start))s] $*" >&2; }
mkdir -p "$cache_root"
stage="$(mktemp -d "$cache_root/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# The release every Kubernetes binary reports (`--version`, /version, the API server's emulation
# version), as the upstream release scripts set it; the build date is fixed so builds are repeatable.
minor="${kube_version#v1.}"
minor="${minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

timed() {
  local name="$1" t0=$SECONDS
  shift
  step "$name ..."
  "$@"
  step "$name built in $((SECONDS - t0))s"
}
timed "etcd $etcd_version" bash -c "cd '$here/etcd' && go build -trimpath -ldflags '-s -w' -o '$stage/etcd' ."
timed "kwok $kwok_version" bash -c "cd '$here/kwok' && go build -trimpath -ldflags '-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kube_version#v}' -o '$stage/kwok' sigs.k8s.io/kwok/cmd/kwok"
for cmd in kubectl kube-scheduler kube-controller-manager kube-apiserver; do
  timed "$cmd $kube_version" bash -c "cd '$here/kubernetes' && go build -trimpath -ldflags '$kube_ldflags' -o '$stage/$cmd' k8s.io/kubernetes/cmd/$cmd"
done

keda_ldflags="-s -w -X github.com/kedacore/keda/v2/version.Version=${keda_version#v}"
for cmd in operator adapter; do
  timed "keda-$cmd $keda_version" bash -c "cd '$here/keda' && go build -trimpath -ldflags '$keda_ldflags' -o '$stage/keda-$cmd' github.com/kedacore/keda/v2/cmd/$cmd"
done

printf '{"kubernetes": "%s", "kwok": "%s", "etcd": "%s", "keda": "%s", "go": "%s"}\n' \
  "${kube_version#v}" "${kwok_version#v}" "${etcd_version#v}" "${keda_version#v}" "$(go env GOVERSION)" >"$stage/cluster.json"
chmod 0755 "$stage"
mkdir -p "$(dirname "$bin")"
rm -rf "$bin"
mv "$stage" "$bin"
trap - EXIT
step "control plane built in $((SECONDS - start))s"
echo "$bin"
