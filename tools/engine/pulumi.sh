#!/usr/bin/env bash
# Run the real Pulumi engine (built by build.sh) on a stack, offline:
#   tools/engine/pulumi.sh <stack> <pulumi command> [args...]   e.g. `local preview`, `local up`
#
# State lives in a local file backend (<project>/build/state); update checks, plugin downloads and
# registry lookups are off; HOME and the kubeconfig variables are cleared so a stack can never reach a
# real cluster: only stacks that render to files or deploy to the local control plane (make cluster-up,
# its kubeconfig under build/cluster/) run here. `preview` and `up` run with the policy pack and the pack config derived
# from the stack's environment (tools/engine/policy_config.py). MLOPS_PROJECT_DIR selects another
# copy of the project (the tests use one); MLOPS_ENGINE_BIN skips the build lookup.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 <stack> <pulumi command> [args...]" >&2; exit 2; }
stack="$1"
shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$(cd "${MLOPS_PROJECT_DIR:-$here/../..}" && pwd)"
bin="${MLOPS_ENGINE_BIN:-$("$here/build.sh")}"
py="$project/.venv/bin/python"

mkdir -p "$project/build/state" "$project/build/engine-home"
export PATH="$bin:$PATH"
export HOME="$project/build/engine-home"
export PULUMI_HOME="$HOME/.pulumi"
export PULUMI_BACKEND_URL="file://$project/build/state"
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_DISABLE_REGISTRY_RESOLVE=true
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT PULUMI_ACCESS_TOKEN
# Only stacks that render to files or target the local control plane run here: anything else would
# reach a real cluster or cloud.
stack_file="$project/stacks/Pulumi.$stack.yaml"
[ -f "$stack_file" ] || { echo "pulumi.sh: no stack file $stack_file" >&2; exit 2; }
if ! "$py" -c 'import sys; sys.path.insert(0, sys.argv[2]); from tools.release.common import local_only; sys.exit(0 if local_only(open(sys.argv[1]).read()) else 1)' "$stack_file" "$project"; then
  echo "pulumi.sh: stack '$stack' neither renders to files (cluster.source: render) nor targets the local control plane (a kubeconfig_file under build/cluster/); run it with your own Pulumi setup" >&2
  exit 2
fi
cluster_issue="$("$py" -c 'import sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]); from tools.release.common import local_cluster_issue; print(local_cluster_issue(Path(sys.argv[2]), open(sys.argv[1]).read()) or "")' "$stack_file" "$project")"
if [ -n "$cluster_issue" ]; then
  echo "pulumi.sh: stack '$stack': $cluster_issue" >&2
  exit 2
fi
for arg in "$@"; do
  case "$arg" in
    -c | --config | --config=* | --config-file | --config-file=* | --config-path)
      echo "pulumi.sh: config overrides are refused: the stack file is what the policy pack config is derived from" >&2
      exit 2
      ;;
  esac
done
# These stacks hold no secrets; the passphrase only opens the secrets provider of their file state.
export PULUMI_CONFIG_PASSPHRASE="mlops-platform-local"

cd "$project"
# The provider comes from the plugin cache, at exactly the version the pulumi-kubernetes package asks
# for, never from PATH (tests keep the binary's release equal to that package's). A rebuilt binary
# replaces the cached one.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
k8s_version="$("$py" -c 'import importlib.metadata as m; print(m.version("pulumi_kubernetes"))')"
built_version="$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["kubernetes"])' "$bin/engine.json")"
if [ "$built_version" != "$k8s_version" ]; then
  echo "pulumi.sh: the engine's provider is $built_version but pulumi-kubernetes is $k8s_version; rebuild it (make engine)" >&2
  exit 2
fi
cached_provider="$PULUMI_HOME/plugins/resource-kubernetes-v$k8s_version/pulumi-resource-kubernetes"
if ! cmp -s "$bin/pulumi-resource-kubernetes" "$cached_provider"; then
  pulumi plugin install resource kubernetes "$k8s_version" --file "$bin/pulumi-resource-kubernetes" --reinstall >/dev/null
fi
pulumi stack select "$stack" --create --secrets-provider passphrase --non-interactive >/dev/null

command="$1"
shift
case "$command" in
  preview | up)
    policy_config="$project/build/engine/policy-config.$stack.json"
    mkdir -p "$(dirname "$policy_config")"
    "$py" -m tools.engine.policy_config "$stack" >"$policy_config"
    set -- --policy-pack policies --policy-pack-config "$policy_config" "$@"
    ;;
esac
exec pulumi "$command" --stack "$stack" --non-interactive "$@"
