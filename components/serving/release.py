"""Flagger's objects for one model: the `Canary` that releases each new version, and its `MetricTemplate`s.

Pulumi owns the model's Deployment (`triton-<model>`, carrying the configured version) and its KEDA
ScaledObject. Flagger copies the Deployment to `triton-<model>-primary`, which serves, keeps the
original at zero replicas between releases, and owns the Services (`triton-<model>`, `-primary`,
`-canary`), the primary's ScaledObject and the model's HTTPRoute with its weights. When `pulumi up`
changes the Deployment's pod template (a new version, image or config), Flagger scales it up as the
candidate, checks it every interval and promotes or rolls it back. Pulumi never writes a weight or
a replica count, so a `pulumi up` after a rollback changes nothing Flagger owns.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from ..config.serving import HeaderMatch, ModelConfig, TensorSpec
from .metrics import deployment_name, scaling_query, scaling_triggers
from .pod import HTTP

LOADTESTER = "flagger-loadtester"
"""The load tester's Service (and pod `app` label) in Flagger's namespace: it runs the acceptance tests and holds the
promotion gates."""
LOADTESTER_PORT = 80
GATEWAY_SECTION = "https"

CANARY_PODS = "{{ target }}-[0-9a-zA-Z]+-[0-9a-zA-Z]+"
"""The candidate's pods, in Flagger's template language: `<target>-<hash>-<suffix>`; the primary's pods have one more
segment (`-primary`) and never match."""


def template_name(model: str, check: str) -> str:
    return f"triton-{model}-{check}"


def _selector(model: ModelConfig) -> str:
    # the configured version too: the previous candidate's pods (same name pattern) stay inside the window after a
    # back-to-back release, and would dilute this one's ratio
    return f'namespace="{{{{ namespace }}}}",pod=~"{CANARY_PODS}",model="{model.name}",version="{model.version}"'


def check_queries(model: ModelConfig) -> dict[str, str]:
    """Each release check as Flagger queries it, over the candidate's pods serving the configured version, and the
    analysis interval (at least a minute).

    - `error-ratio`: Triton's failed inferences over all (a candidate with no requests has no ratio: Flagger
      halts, it never passes on silence);
    - `p99-latency`: the worst candidate pod's p99 request latency in ms, from Triton's latency summary;
    - `queue-time`: mean time a request waited in Triton's queue, in ms.
    """
    sel = _selector(model)
    window = "[{{ interval }}]"
    failures = f"(sum(rate(nv_inference_request_failure{{{sel}}}{window})) or vector(0))"
    queries = {
        "error-ratio": f"{failures} / (sum(rate(nv_inference_request_success{{{sel}}}{window})) + {failures})",
        "p99-latency": f'max(nv_inference_request_summary_us{{{sel},quantile="0.99"}}) / 1000',
    }
    if model.release.max_queue_ms is not None:
        queries["queue-time"] = (
            f"sum(rate(nv_inference_queue_duration_us{{{sel}}}{window})) / sum(rate(nv_inference_request_success{{{sel}}}{window})) / 1000"
        )
    return queries


def limits(model: ModelConfig) -> dict[str, float]:
    """The largest value each check accepts."""
    out: dict[str, float] = {"error-ratio": model.release.max_error_rate, "p99-latency": model.p99_limit_ms}
    if model.release.max_queue_ms is not None:
        out["queue-time"] = model.release.max_queue_ms
    return out


def metric_templates(model: ModelConfig, namespace: str, prometheus_url: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """One MetricTemplate per check, on the Prometheus that scrapes Triton."""
    return [
        {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "MetricTemplate",
            "metadata": {"name": template_name(model.name, check), "namespace": namespace, "labels": dict(labels)},
            "spec": {"provider": {"type": "prometheus", "address": prometheus_url.rstrip("/")}, "query": query},
        }
        for check, query in check_queries(model).items()
    ]


def _zero(spec: TensorSpec, batched: bool) -> tuple[list[int], Any]:
    shape = ([1] if batched else []) + [1 if d == -1 else d for d in spec.dims]
    count = 1
    for d in shape:
        count *= d
    value: Any = "" if spec.data_type == "STRING" else (False if spec.data_type == "BOOL" else 0)
    return shape, [value] * count


def acceptance_request(model: ModelConfig) -> dict[str, Any]:
    """One KServe v2 inference request built from the model's declared inputs: zeros of each input's shape (a
    variable dimension as 1, a leading batch of 1 where the model batches)."""
    inputs = []
    for spec in model.inputs:
        shape, data = _zero(spec, model.max_batch_size > 0)
        inputs.append({"name": spec.name, "datatype": spec.data_type, "shape": shape, "data": data})
    return {"inputs": inputs}


def acceptance_command(model: ModelConfig, namespace: str) -> str:
    """The load tester's command: the request to the candidate's Service; curl fails on any non-2xx answer."""
    body = json.dumps(acceptance_request(model), separators=(",", ":"), sort_keys=True)
    url = _candidate_url(model, namespace)
    return f"curl -sS --fail-with-body --max-time 30 -H 'Content-Type: application/json' -d {shlex.quote(body)} {url}"


def load_command(model: ModelConfig, namespace: str, seconds: int) -> str:
    """`hey` (in the load tester's image) posting the acceptance request to the candidate for ``seconds``, 5 a second."""
    body = json.dumps(acceptance_request(model), separators=(",", ":"), sort_keys=True)
    return f"hey -z {seconds}s -q 5 -c 1 -m POST -T application/json -d {shlex.quote(body)} {_candidate_url(model, namespace)}"


def _candidate_url(model: ModelConfig, namespace: str) -> str:
    return f"http://{deployment_name(model.name)}-canary.{namespace}.svc:{HTTP}/v2/models/{model.name}/versions/{model.version}/infer"


def _analysis_match(match: HeaderMatch) -> dict[str, Any]:
    if match.header is not None:
        return {"headers": {match.header: {"exact": match.value}}}
    # a cookie is one `name=value` pair of the Cookie header
    pair = f"{match.cookie}={match.value}".replace(".", r"\.")
    return {"headers": {"cookie": {"regex": f"^(.*?;\\s*)?({pair})(;.*)?$"}}}


def analysis(model: ModelConfig, namespace: str, loadtester_namespace: str, confirm_promotion: bool) -> dict[str, Any]:
    """Flagger's analysis from the model's `release`: the traffic plan, the checks and the webhooks."""
    release = model.release
    out: dict[str, Any] = {"interval": f"{release.interval_seconds}s", "threshold": release.threshold}
    if release.mode == "canary":
        out["stepWeights"] = list(release.steps)
    elif release.mode == "linear":
        out["stepWeight"] = release.step_percent
        out["maxWeight"] = release.max_percent
    else:
        out["iterations"] = release.iterations
    if release.mode == "ab":
        out["match"] = [_analysis_match(m) for m in release.match]
    if release.mode == "mirror":
        out["mirror"] = True
    out["metrics"] = [
        {
            "name": check,
            "templateRef": {"name": template_name(model.name, check), "namespace": namespace},
            "thresholdRange": {"max": limit},
            # a rate needs several of Triton's 15 s scrapes: never a window under a minute
            "interval": f"{max(release.interval_seconds, 60)}s",
        }
        for check, limit in limits(model).items()
    ]
    loadtester = f"http://{LOADTESTER}.{loadtester_namespace}.svc:{LOADTESTER_PORT}"
    webhooks: list[dict[str, Any]] = []
    if release.acceptance_test:
        webhooks.append(
            {
                "name": "acceptance-test",
                "type": "pre-rollout",
                "url": f"{loadtester}/",
                "timeout": "60s",
                "metadata": {"type": "bash", "cmd": acceptance_command(model, namespace)},
            }
        )
    if release.mode == "blue_green":
        # the candidate serves no live traffic until the switch: the load tester sends it the acceptance request
        # (a few a second, for each interval) so that its checks have something to measure
        webhooks.append(
            {
                "name": "load-test",
                "type": "rollout",
                "url": f"{loadtester}/",
                "timeout": "15s",
                "metadata": {"type": "cmd", "cmd": load_command(model, namespace, release.interval_seconds)},
            }
        )
    if confirm_promotion:
        webhooks.append({"name": "approve-promotion", "type": "confirm-promotion", "url": f"{loadtester}/gate/check"})
    if webhooks:
        out["webhooks"] = webhooks
    return out


def primary_scaler_queries(model: ModelConfig, namespace: str, prometheus_url: str | None) -> dict[str, str]:
    """The primary's ScaledObject measures the primary's pods: Flagger replaces each Prometheus trigger's query by name."""
    return {
        trigger["name"]: scaling_query(model, namespace, primary=True)
        for trigger in scaling_triggers(model, namespace, prometheus_url)
        if trigger["type"] == "prometheus"
    }


def require_route(model: ModelConfig, hostname: str | None) -> None:
    """Refuse a release mode that needs the gateway's route (``hostname``) where there is none: the platform's config
    checks say this before anything is built; a program composing the component hears it here."""
    if hostname is None and model.release.mode not in ("blue_green", "all_at_once"):
        raise ValueError(
            f"model {model.name}: release.mode {model.release.mode!r} needs the gateway (Flagger splits, matches or mirrors "
            "the model's route); without one use blue_green or all_at_once"
        )


def canary_object(
    model: ModelConfig,
    namespace: str,
    *,
    hostname: str | None,
    prometheus_url: str | None,
    loadtester_namespace: str,
    confirm_promotion: bool,
    service_labels: dict[str, str],
    mirror_to: tuple[str, int] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The model's Canary.

    ``hostname`` None: no gateway, Flagger's `kubernetes` provider (blue/green, validated). ``service_labels`` go on the
    primary and candidate Services Flagger creates (the monitoring stack scrapes Triton through them; the apex Service,
    which selects the primary's pods too, gets none, so nothing is scraped twice). ``mirror_to`` (Service, port) is the
    inference capture every request of the model's route is copied to.

    The Canary's own spec does not change with the version (Flagger watches the Deployment), so a wait on it
    (pulumi-kubernetes' `pulumi.com/waitFor`) would read the previous release's status; the release workflows
    wait instead, until the primary carries the new version or the Canary reports `Failed`
    (`tools/release/health_gate.py`).
    """
    name = deployment_name(model.name)
    release = model.release
    require_route(model, hostname)
    service: dict[str, Any] = {
        "port": HTTP,
        "targetPort": "http",
        "portName": "http",
        "appProtocol": "http",
        # the gRPC and metrics ports of the container are exposed by every Service Flagger generates
        "portDiscovery": True,
        "primary": {"labels": dict(service_labels)},
        "canary": {"labels": dict(service_labels)},
    }
    if hostname is not None:
        service["gatewayRefs"] = [{"name": "inference", "namespace": namespace, "sectionName": GATEWAY_SECTION}]
        service["hosts"] = [hostname]
        service["match"] = [{"uri": {"prefix": f"/v2/models/{model.name}"}}]
        if mirror_to is not None:
            service["mirror"] = [{"backendRef": {"name": mirror_to[0], "port": mirror_to[1]}}]
    spec: dict[str, Any] = {
        "provider": "gatewayapi:v1" if hostname is not None else "kubernetes",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "autoscalerRef": {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": name},
        # Triton downloads and loads the model before it is ready
        "progressDeadlineSeconds": model.load_timeout_seconds + 300,
        "service": service,
        "analysis": analysis(model, namespace, loadtester_namespace, confirm_promotion),
    }
    queries = primary_scaler_queries(model, namespace, prometheus_url)
    if queries:
        spec["autoscalerRef"]["primaryScalerQueries"] = queries
    if release.mode == "all_at_once":
        spec["skipAnalysis"] = True
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    return {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": metadata, "spec": spec}
