"""Alert and recording rules generated from typed SLOs: pure functions of an ``AlertSpec``.

``rule_files(spec)`` returns plain Prometheus rule files (``{"groups": [...]}``) keyed by file name;
synth writes them and ``promtool check rules`` reads them. ``MonitoringStack`` ships the same groups
as one PrometheusRule object per file, so the cluster and the tested files cannot differ.

Metric sources:
  * Triton (scraped with ``job="triton"``): ``nv_inference_request_success`` / ``_failure`` counters,
    ``nv_inference_queue_duration_us`` counter, and the ``nv_inference_request_summary_us`` summary
    (Triton runs with ``--metrics-config summary_latencies=true``);
  * DCGM exporter: ``DCGM_FI_DEV_GPU_UTIL`` (``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` on MIG), ``DCGM_FI_DEV_FB_USED`` / ``_FREE``;
  * kube-state-metrics: pod restarts, readiness and phase;
  * MLflow (``job="mlflow"``): ``up``;
  * the drift monitor through the Pushgateway: ``mlops_drift_score{model, feature_set}``,
    ``mlops_model_quality{model, metric}``, ``mlops_drift_last_success_timestamp_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ..config.monitoring import AlertName
from .spec import SEVERITIES, AlertSpec, ModelSpec

TRITON_JOB = "triton"
MLFLOW_JOB = "mlflow"
DCGM_JOB = "dcgm-exporter"
PUSHGATEWAY_JOB = "pushgateway"

FAST_BURN = (14.4, "1h", "5m")
"""Burn rate and windows of the paging alert: 2 % of a 30-day budget in one hour."""
SLOW_BURN = (6.0, "6h", "30m")
"""Burn rate and windows of the ticket alert: 5 % of a 30-day budget in six hours."""
MAX_BURN_THRESHOLD = 0.5
"""Burn thresholds are capped at this error ratio, so loose SLOs (availability < 96.5 %) still alert."""
ERROR_WINDOWS = ("5m", "30m", "1h", "6h")


@dataclass(frozen=True)
class AlertInfo:
    """One entry of the alert catalogue: what it means, how fast it must fire, where it routes."""

    name: AlertName
    scope: str
    category: str
    intent: str
    budget: str

    @property
    def severity(self) -> str:
        return SEVERITIES[self.name]


CATALOGUE: tuple[AlertInfo, ...] = (
    AlertInfo(
        "ModelErrorBudgetFastBurn",
        "model",
        "availability",
        "Failed / all Triton requests above 14.4 × the error budget over both 1 h and 5 min",
        "≤ 5 min for an outage or an error ratio ≥ 15 × its threshold (21.6 % at 99.9 %); in general 60 min × threshold / error ratio",
    ),
    AlertInfo(
        "ModelErrorBudgetSlowBurn",
        "model",
        "availability",
        "Error ratio above 6 × the budget over both 6 h and 30 min",
        "6 h × 6 / burn rate + 5 min (about 3 h at 12 ×)",
    ),
    AlertInfo(
        "ModelLatencyP99High",
        "model",
        "latency",
        "Worst replica's p99 request latency (Triton summary) above the model's p99 objective for 3 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "ModelQueueTimeHigh",
        "model",
        "latency",
        "Average queue time per request over 2 min above `queue_time_fraction` × the p99 objective, for 2 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "TritonDown",
        "stack",
        "availability",
        "No Triton metrics target up (or none left) in the serving namespace for 2 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "GpuUtilizationSaturated",
        "stack",
        "saturation",
        "A GPU (or MIG instance's graphics engine) busy above `gpu_utilization_percent` for 3 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "GpuMemorySaturated",
        "stack",
        "saturation",
        "A GPU's framebuffer memory in use above `gpu_memory_percent` for 3 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "PodRestartingOften",
        "stack",
        "health",
        "More than `pod_restarts` container restarts in 5 min in the serving or tracking namespace",
        "≤ 5 min",
    ),
    AlertInfo(
        "PodNotReady",
        "stack",
        "health",
        "A running pod of the serving or tracking namespace not ready for 3 min (pending pods excluded)",
        "≤ 5 min",
    ),
    AlertInfo(
        "MlflowDown",
        "stack",
        "availability",
        "No MLflow metrics target up (or none left) for 2 min",
        "≤ 5 min",
    ),
    AlertInfo(
        "ModelDataDrift",
        "model",
        "drift",
        "A feature set's drift score (pushed by the drift monitor) above the model's threshold for 1 min",
        "≤ 5 min after the monitor pushes the score",
    ),
    AlertInfo(
        "ModelQualityDegraded",
        "model",
        "quality",
        "The delayed quality gauge (e.g. accuracy on labelled traffic) below the model's minimum for 1 min",
        "≤ 5 min after the monitor pushes the gauge",
    ),
    AlertInfo(
        "ModelDataQualityFailed",
        "model",
        "data_quality",
        "Captured inputs break the reference schema (missing or unexpected columns, non-numeric values) or exceed the "
        "null or out-of-range share, for 1 min",
        "≤ 5 min after the monitor pushes the figures",
    ),
    AlertInfo(
        "DriftMonitorStale",
        "model",
        "health",
        "No successful drift-monitor run of a model for `stale_after_minutes` (or none reported at all)",
        "`stale_after_minutes` + 5 min",
    ),
)
"""Every alert the platform can generate, in catalogue order."""


def catalogue_entry(name: str) -> AlertInfo:
    """The catalogue's entry of an alert (its scope, category and default severity)."""
    return next(a for a in CATALOGUE if a.name == name)


def num(value: float) -> str:
    """A threshold as PromQL and humans read it: no float noise (0.0144, not 0.014400000000000001)."""
    return f"{value:.6g}"


def percent(ratio: float) -> str:
    return f"{100 * ratio:.4g}%"


def _sel(**labels: str) -> str:
    inner = ", ".join(f'{k}="{v}"' if not v.startswith("~") else f'{k}=~"{v[1:]}"' for k, v in labels.items())
    return "{" + inner + "}"


def burn_threshold(availability: float, factor: float) -> float:
    """The error ratio at which a model burns its budget ``factor`` times faster than sustainable."""
    return min(round(factor * (1 - availability), 10), MAX_BURN_THRESHOLD)


def _alert(spec: AlertSpec, name: AlertName, expr: str, for_: str, summary: str, description: str, **labels: str) -> dict[str, Any]:
    category = catalogue_entry(name).category
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ != "0m":
        rule["for"] = for_
    rule["labels"] = {**labels, "severity": spec.severity(name), "category": category}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def _error_ratio(ns: str, window: str, by: str) -> str:
    """Failed / all requests; 0 (not empty) while a model has served no failure at all."""
    sel = _sel(job=TRITON_JOB, namespace=ns)
    failure = f"sum by ({by}) (rate(nv_inference_request_failure{sel}[{window}]))"
    success = f"sum by ({by}) (rate(nv_inference_request_success{sel}[{window}]))"
    return f"({failure}\n  or 0 * {success})\n/\n{_requests(ns, window, by)}"


def _requests(ns: str, window: str, by: str) -> str:
    """All requests per second, successful or not (one selector: no vector matching between the two counters)."""
    sel = _sel(__name__="~nv_inference_request_(success|failure)", job=TRITON_JOB, namespace=ns)
    return f"sum by ({by}) (rate({sel}[{window}]))"


def recording_rules(spec: AlertSpec) -> dict[str, Any]:
    """Error ratios, request rates, p99 and queue time per model (and per version, for canaries)."""
    ns = spec.serving_namespace
    sel = _sel(job=TRITON_JOB, namespace=ns)
    rules: list[dict[str, Any]] = [
        {"record": f"namespace_model:nv_inference_request_failure:ratio_rate{w}", "expr": _error_ratio(ns, w, "namespace, model")}
        for w in ERROR_WINDOWS
    ]
    rules += [
        {
            "record": "namespace_model_version:nv_inference_request_failure:ratio_rate5m",
            "expr": _error_ratio(ns, "5m", "namespace, model, version"),
        },
        {
            "record": "namespace_model_version:nv_inference_request:rate5m",
            "expr": _requests(ns, "5m", "namespace, model, version"),
        },
        {
            "record": "namespace_model:nv_inference_request_summary_us:p99_max",
            "expr": f"max by (namespace, model) (nv_inference_request_summary_us{_sel(job=TRITON_JOB, namespace=ns, quantile='0.99')})",
        },
        {
            "record": "namespace_model_version:nv_inference_request_summary_us:p99_max",
            "expr": "max by (namespace, model, version) "
            f"(nv_inference_request_summary_us{_sel(job=TRITON_JOB, namespace=ns, quantile='0.99')})",
        },
        {
            "record": "namespace_model:nv_inference_queue_duration_us:mean_rate2m",
            "expr": f"sum by (namespace, model) (rate(nv_inference_queue_duration_us{sel}[2m]))\n"
            f"/\nsum by (namespace, model) (rate(nv_inference_request_success{sel}[2m]))",
        },
    ]
    return {"name": "mlops-serving-recording", "rules": rules}


def model_rules(spec: AlertSpec, model: ModelSpec) -> list[dict[str, Any]]:
    """The SLO alerts of one model: fast and slow error-budget burn, p99 latency, queue time."""
    ns = spec.serving_namespace
    m = _sel(namespace=ns, model=model.name)
    slo = percent(model.availability)
    rules = []
    for name, (factor, long, short), for_ in (
        ("ModelErrorBudgetFastBurn", FAST_BURN, "0m"),
        ("ModelErrorBudgetSlowBurn", SLOW_BURN, "5m"),
    ):
        threshold = burn_threshold(model.availability, factor)
        rules.append(
            _alert(
                spec,
                name,  # type: ignore[arg-type]
                f"namespace_model:nv_inference_request_failure:ratio_rate{long}{m} > {num(threshold)}\n"
                f"and\nnamespace_model:nv_inference_request_failure:ratio_rate{short}{m} > {num(threshold)}",
                for_,
                f"{model.name} is burning its error budget {num(factor)}x faster than its SLO allows",
                f"Error ratio of {model.name} above {percent(threshold)} over both the last {long} and {short} (SLO {slo} availability).",
                model=model.name,
            )
        )
    p99_us = model.p99_latency_ms * 1000
    rules.append(
        _alert(
            spec,
            "ModelLatencyP99High",
            f"namespace_model:nv_inference_request_summary_us:p99_max{m} > {p99_us}",
            "3m",
            f"{model.name} p99 latency above its {model.p99_latency_ms} ms objective",
            f"The slowest replica of {model.name} reports a p99 request latency above {model.p99_latency_ms} ms for 3 minutes.",
            model=model.name,
        )
    )
    queue_ms = spec.alerting.queue_time_fraction * model.p99_latency_ms
    rules.append(
        _alert(
            spec,
            "ModelQueueTimeHigh",
            f"namespace_model:nv_inference_queue_duration_us:mean_rate2m{m} > {num(queue_ms * 1000)}",
            "2m",
            f"{model.name} requests queue for more than {num(queue_ms)} ms",
            f"Average queue time per request of {model.name} above {num(queue_ms)} ms "
            f"({num(spec.alerting.queue_time_fraction)} of its p99 objective): add replicas or GPUs.",
            model=model.name,
        )
    )
    return rules


def _down(job: str, namespace: str) -> str:
    sel = _sel(job=job, namespace=namespace)
    return f"sum by (job, namespace) (up{sel}) == 0\nor\nabsent(up{sel})"


def serving_group(spec: AlertSpec) -> dict[str, Any]:
    rules = [rule for model in spec.models for rule in model_rules(spec, model)]
    rules.append(
        _alert(
            spec,
            "TritonDown",
            _down(TRITON_JOB, spec.serving_namespace),
            "2m",
            f"No Triton server is up in {spec.serving_namespace}",
            f"Prometheus has no healthy Triton metrics target in namespace {spec.serving_namespace}: every model is unavailable.",
        )
    )
    return {"name": "mlops-serving", "rules": rules}


def gpu_group(spec: AlertSpec) -> dict[str, Any]:
    by = "Hostname, gpu, modelName"
    util = spec.alerting.gpu_utilization_percent
    memory = spec.alerting.gpu_memory_percent
    return {
        "name": "mlops-gpu",
        "rules": [
            _alert(
                spec,
                "GpuUtilizationSaturated",
                f"(\n  max by ({by}) (DCGM_FI_DEV_GPU_UTIL)\nor\n  max by ({by}) (DCGM_FI_PROF_GR_ENGINE_ACTIVE) * 100\n) > {util}",
                "3m",
                "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is saturated",
                f"GPU utilisation above {util}% for 3 minutes: requests queue behind it; scale the model out or the pool up.",
            ),
            _alert(
                spec,
                "GpuMemorySaturated",
                f"max by ({by}) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) * 100 > {memory}",
                "3m",
                "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is running out of memory",
                f"More than {memory}% of the GPU's memory is in use for 3 minutes: the next model load or batch may fail.",
            ),
        ],
    }


def workloads_group(spec: AlertSpec) -> dict[str, Any]:
    namespaces = "|".join(spec.workload_namespaces)
    ns = _sel(namespace=f"~{namespaces}")
    ready = _sel(namespace=f"~{namespaces}", condition="false")
    running = _sel(namespace=f"~{namespaces}", phase="Running")
    restarts = spec.alerting.pod_restarts
    rules = [
        _alert(
            spec,
            "PodRestartingOften",
            f"sum by (namespace, pod, container) (increase(kube_pod_container_status_restarts_total{ns}[5m])) > {restarts}",
            "1m",
            "{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is restarting repeatedly",
            f"More than {restarts} restarts of the container in 5 minutes: it is crash-looping or being OOM-killed.",
        ),
        _alert(
            spec,
            "PodNotReady",
            f"sum by (namespace, pod) (kube_pod_status_ready{ready}) > 0\n"
            f"and on (namespace, pod)\nsum by (namespace, pod) (kube_pod_status_phase{running}) > 0",
            "3m",
            "{{ $labels.namespace }}/{{ $labels.pod }} is running but not ready",
            "The pod has been running without passing its readiness probe for 3 minutes; it receives no traffic.",
        ),
    ]
    if spec.tracking_namespace:
        rules.append(
            _alert(
                spec,
                "MlflowDown",
                _down(MLFLOW_JOB, spec.tracking_namespace),
                "2m",
                "The MLflow tracking server is down",
                f"No MLflow metrics target is up in namespace {spec.tracking_namespace}: "
                "experiment tracking and the model registry are unavailable.",
            )
        )
    return {"name": "mlops-workloads", "rules": rules}


def drift_group(spec: AlertSpec) -> dict[str, Any]:
    """Drift, quality, data-quality and staleness alerts per model, from the drift monitor's pushed gauges.

    Each alert carries the model's stable version and, as annotation ``value``, the measured figure: the
    retraining trigger passes both to the retraining workflow.
    """
    rules = []
    value = "{{ $value }}"
    for model in spec.scored_models:
        m = f'model="{model.name}"'
        version = str(model.version)
        rules.append(
            _alert(
                spec,
                "ModelDataDrift",
                f"max by (model, feature_set) (mlops_drift_score{{{m}}}) > {num(model.drift_score)}",
                "1m",
                f"{model.name} input data drifted (feature set {{{{ $labels.feature_set }}}})",
                f"A share of {value} of the {{{{ $labels.feature_set }}}} columns of {model.name} drifted (threshold "
                f"{num(model.drift_score)}) against its reference data: retraining is triggered.",
                model=model.name,
                version=version,
            )
        )
        rules.append(
            _alert(
                spec,
                "ModelQualityDegraded",
                f"min by (model, metric) (mlops_model_quality{{{m}}}) < {num(model.min_quality)}",
                "1m",
                f"{model.name} quality ({{{{ $labels.metric }}}}) below {num(model.min_quality)}",
                f"The {{{{ $labels.metric }}}} of {model.name} on labelled traffic is {value}, below {num(model.min_quality)} "
                "(concept drift): retraining is triggered.",
                model=model.name,
                version=version,
            )
        )
        schema = f'max by (model, check) (mlops_data_quality{{{m}, check=~"missing_columns|unexpected_columns|type_violations"}}) > 0'
        nulls = f'max by (model, check) (mlops_data_quality{{{m}, check="null_share"}}) > {num(model.max_null_share)}'
        ranges = f'max by (model, check) (mlops_data_quality{{{m}, check="out_of_range_share"}}) > {num(model.max_out_of_range_share)}'
        rules.append(
            _alert(
                spec,
                "ModelDataQualityFailed",
                f"{schema}\nor\n{nulls}\nor\n{ranges}",
                "1m",
                f"{model.name} inputs fail the data-quality check {{{{ $labels.check }}}}",
                f"Captured requests of {model.name} give {{{{ $labels.check }}}} = {value} against the reference schema: "
                "a client or an upstream pipeline sends data the model was not trained on.",
                model=model.name,
                version=version,
            )
        )
        for rule in rules[-3:]:
            rule["annotations"]["value"] = value
    stale = spec.drift_stale_after_minutes
    metric = "mlops_drift_last_success_timestamp_seconds"
    names = "|".join(model.name for model in spec.scored_models)
    rules += [
        _alert(
            spec,
            "DriftMonitorStale",
            f'time() - max by (model) ({metric}{{model=~"{names}"}}) > {stale * 60}',
            "5m",
            "The drift monitor has not scored {{ $labels.model }} recently",
            f"No successful drift-monitor run of {{{{ $labels.model }}}} for more than {stale} minutes: its drift and quality "
            "alerts are blind (see the job's log for the model's error).",
            reason="stale",
        ),
        _alert(
            spec,
            "DriftMonitorStale",
            f'time() - max by (model) (mlops_drift_last_scored_timestamp_seconds{{model=~"{names}"}}) > {stale * 60}',
            "5m",
            "The drift monitor has too little captured traffic to score {{ $labels.model }}",
            f"The drift monitor runs, but {{{{ $labels.model }}}} has not had `min_rows` captured rows for more than {stale} "
            "minutes: check the capture service's dropped and failed-write counters, the mirror's sampling, or lower min_rows.",
            reason="starved",
        ),
    ]
    rules += [
        _alert(
            spec,
            "DriftMonitorStale",
            f'absent({metric}{{model="{model.name}"}})',
            f"{stale}m",
            f"The drift monitor has never scored {model.name}",
            f"No drift-monitor run of {model.name} has succeeded for {stale} minutes: its drift and quality alerts are blind "
            "(see the job's log for the model's error).",
            reason="missing",
            model=model.name,
        )
        for model in spec.scored_models
    ]
    return {"name": "mlops-drift", "rules": rules}


def rule_files(spec: AlertSpec) -> dict[str, dict[str, Any]]:
    """Plain Prometheus rule files, keyed by file name, in a fixed order."""
    files: dict[str, dict[str, Any]] = {}
    if spec.models:
        files["serving.rules.yaml"] = {"groups": [recording_rules(spec), serving_group(spec)]}
    if spec.gpus:
        files["gpu.rules.yaml"] = {"groups": [gpu_group(spec)]}
    files["workloads.rules.yaml"] = {"groups": [workloads_group(spec)]}
    if spec.drift and spec.scored_models:
        files["drift.rules.yaml"] = {"groups": [drift_group(spec)]}
    return files


def rule_groups(spec: AlertSpec) -> list[dict[str, Any]]:
    """Every rule group of the stack, in file order."""
    return [group for content in rule_files(spec).values() for group in content["groups"]]


def alert_names(spec: AlertSpec) -> list[str]:
    """The distinct alerts a stack generates, in catalogue order."""
    present = {rule["alert"] for group in rule_groups(spec) for rule in group["rules"] if "alert" in rule}
    return [a.name for a in CATALOGUE if a.name in present]


class _RuleDumper(yaml.SafeDumper):
    """Multi-line PromQL as literal blocks, so rule files read like hand-written ones."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RuleDumper.add_representer(str, _str)


def dump_rule_file(content: dict[str, Any]) -> str:
    """A rule file as YAML text, byte-identical for identical input."""
    return yaml.dump(content, Dumper=_RuleDumper, sort_keys=False, default_flow_style=False, width=200, allow_unicode=True)


def rule_file_texts(spec: AlertSpec) -> dict[str, str]:
    """Rule files as text, keyed by file name: what synth writes under ``prometheus/``."""
    return {name: dump_rule_file(content) for name, content in rule_files(spec).items()}
