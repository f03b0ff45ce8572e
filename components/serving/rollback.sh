#!/bin/sh
# Canary rollback: for every model whose TritonCanaryRegression alert is firing in this
# namespace, send all traffic back to the stable version (HTTPRoute weights 100 / 0).
# Needs: PROMETHEUS_URL, NAMESPACE; curl, jq and kubectl on PATH; RBAC to get and patch httproutes.
set -eu

query="ALERTS{alertname=\"TritonCanaryRegression\",alertstate=\"firing\",namespace=\"${NAMESPACE}\"}"
models=$(curl -fsS --get --data-urlencode "query=${query}" "${PROMETHEUS_URL}/api/v1/query" | jq -r '.data.result[].metric.model' | sort -u)

for model in ${models}; do
  route="triton-${model}"
  weight=$(kubectl -n "${NAMESPACE}" get httproute "${route}" -o 'jsonpath={.spec.rules[0].backendRefs[1].weight}')
  if [ -n "${weight}" ] && [ "${weight}" != "0" ]; then
    kubectl -n "${NAMESPACE}" patch httproute "${route}" --type=json \
      -p '[{"op":"replace","path":"/spec/rules/0/backendRefs/0/weight","value":100},{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":0}]'
    echo "rolled back ${model}: candidate weight ${weight} -> 0"
  else
    echo "${model}: candidate already at weight 0"
  fi
done
