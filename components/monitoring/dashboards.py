"""Grafana dashboards built with the official grafana-foundation-sdk (Grafana 11.6 build), as pure functions.

``dashboards(spec)`` returns each dashboard's JSON model keyed by file name; ``MonitoringStack``
ships them as ConfigMaps the Grafana sidecar loads, and synth writes them under ``grafana/``.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from .promql import MLFLOW_JOB, TRITON_JOB
from .spec import AlertSpec

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
MLFLOW_HTTP = "mlflow_http_request"
"""prometheus_flask_exporter's request series as `mlflow server --expose-prometheus` names them (prefix `mlflow`)."""
FOLDER = "MLOps"


def _query(expr: str, legend: str, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).range().editor_mode(pm.QueryEditorMode.CODE)


def _series(title: str, unit: str, description: str, *queries: tuple[str, str], span: int = 12) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(span)
        .height(8)
        .line_width(1)
        .fill_opacity(10)
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def _stat(title: str, unit: str, description: str, expr: str, legend: str, span: int = 6) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(span)
        .height(4)
        .with_target(_query(expr, legend, "A").instant())
    )


def _datasource_variable() -> gd.DatasourceVariable:
    return gd.DatasourceVariable("datasource").label("Data source").type("prometheus")


def _query_variable(name: str, label: str, query: str, multi: bool = True) -> gd.QueryVariable:
    variable = (
        gd.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


def _base(uid: str, title: str, description: str, spec: AlertSpec) -> gd.Dashboard:
    return (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["mlops", spec.environment])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("utc")
        .readonly()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .with_variable(_datasource_variable())
    )


def serving_dashboard(spec: AlertSpec) -> gd.Dashboard:
    """Triton serving per model and version: throughput, errors, p50/p99 latency, queue time, batch sizes."""
    ns = spec.serving_namespace
    sel = f'job="{TRITON_JOB}", namespace="{ns}", model=~"$model", version=~"$version"'
    by = "model, version"
    slos = ", ".join(f"{m.name} {100 * m.availability:.4g}% / p99 {m.p99_latency_ms} ms" for m in spec.models) or "no models"
    return (
        _base("mlops-serving", "MLOps / Model serving", f"Triton in {ns}. Objectives: {slos}.", spec)
        .with_variable(_query_variable("model", "Model", f'label_values(nv_inference_request_success{{namespace="{ns}"}}, model)'))
        .with_variable(
            _query_variable(
                "version", "Version", f'label_values(nv_inference_request_success{{namespace="{ns}", model=~"$model"}}, version)'
            )
        )
        .with_row(gd.Row("Traffic and errors"))
        .with_panel(
            _series(
                "Throughput",
                "reqps",
                "Successful inference requests per second, per model and version.",
                (f"sum by ({by}) (rate(nv_inference_request_success{{{sel}}}[{RATE}]))", "{{model}} v{{version}}"),
                span=8,
            )
        )
        .with_panel(
            _series(
                "Error ratio",
                "percentunit",
                "Failed / all requests over 5 minutes, per model and version (the SLO alerts use the same recording rules).",
                (
                    "namespace_model_version:nv_inference_request_failure:ratio_rate5m"
                    f'{{namespace="{ns}", model=~"$model", version=~"$version"}}',
                    "{{model}} v{{version}}",
                ),
                span=8,
            )
        )
        .with_panel(
            _series(
                "Failures by reason",
                "reqps",
                "Failed requests per second by Triton's failure reason.",
                (f"sum by (model, reason) (rate(nv_inference_request_failure{{{sel}}}[{RATE}]))", "{{model}} {{reason}}"),
                span=8,
            )
        )
        .with_row(gd.Row("Latency"))
        .with_panel(
            _series(
                "p50 / p99 request latency (worst replica)",
                "µs",
                "Triton's request-latency summary (summary_latencies), the slowest replica per model and version.",
                (f'max by ({by}) (nv_inference_request_summary_us{{{sel}, quantile="0.5"}})', "p50 {{model}} v{{version}}"),
                (f'max by ({by}) (nv_inference_request_summary_us{{{sel}, quantile="0.99"}})', "p99 {{model}} v{{version}}"),
            )
        )
        .with_panel(
            _series(
                "Average queue time",
                "µs",
                "Time a request waits in Triton's scheduler queue before execution.",
                (
                    f"sum by ({by}) (rate(nv_inference_queue_duration_us{{{sel}}}[{RATE}]))\n"
                    f"/ sum by ({by}) (rate(nv_inference_request_success{{{sel}}}[{RATE}]))",
                    "{{model}} v{{version}}",
                ),
            )
        )
        .with_row(gd.Row("Batching and backlog"))
        .with_panel(
            _series(
                "Average batch size",
                "short",
                "Inferences per model execution: how well dynamic batching fills batches.",
                (
                    f"sum by ({by}) (rate(nv_inference_count{{{sel}}}[{RATE}]))\n"
                    f"/ sum by ({by}) (rate(nv_inference_exec_count{{{sel}}}[{RATE}]))",
                    "{{model}} v{{version}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Pending requests",
                "short",
                "Requests received but not yet executing, per model.",
                (f"sum by (model) (nv_inference_pending_request_count{{{sel}}})", "{{model}}"),
            )
        )
    )


def gpu_dashboard(spec: AlertSpec) -> gd.Dashboard:
    """DCGM exporter: utilisation, memory, power and temperature per node and GPU, utilisation per pool."""
    sel = 'Hostname=~"$node"'
    by = "Hostname, gpu"
    pool = (
        'label_replace(max by (node, label_mlops_platform_gpu_pool) (kube_node_labels{label_mlops_platform_gpu_pool!=""}), '
        '"Hostname", "$1", "node", "(.*)")'
    )
    return (
        _base("mlops-gpu", "MLOps / GPUs", "NVIDIA DCGM exporter metrics of every GPU node, per node and GPU.", spec)
        .with_variable(_query_variable("node", "Node", "label_values(DCGM_FI_DEV_GPU_UTIL, Hostname)"))
        .with_row(gd.Row("Utilisation"))
        .with_panel(
            _series(
                "GPU utilisation",
                "percent",
                f"Busy time per GPU (MIG instances: graphics engine activity). Alert above {spec.alerting.gpu_utilization_percent}%.",
                (f"max by ({by}) (DCGM_FI_DEV_GPU_UTIL{{{sel}}})", "{{Hostname}} GPU {{gpu}}"),
                (f"max by ({by}) (DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{sel}}}) * 100", "{{Hostname}} GPU {{gpu}} (MIG)"),
            )
        )
        .with_panel(
            _series(
                "Utilisation per GPU pool",
                "percent",
                "Average GPU utilisation of each pool (node label mlops.platform/gpu-pool, through kube-state-metrics).",
                (
                    "avg by (label_mlops_platform_gpu_pool) "
                    f"(DCGM_FI_DEV_GPU_UTIL * on (Hostname) group_left (label_mlops_platform_gpu_pool) {pool})",
                    "{{label_mlops_platform_gpu_pool}}",
                ),
            )
        )
        .with_row(gd.Row("Memory and power"))
        .with_panel(
            _series(
                "GPU memory in use",
                "percent",
                f"Framebuffer used / total per GPU. Alert above {spec.alerting.gpu_memory_percent}%.",
                (
                    f"max by ({by}) (DCGM_FI_DEV_FB_USED{{{sel}}} / (DCGM_FI_DEV_FB_USED{{{sel}}} + DCGM_FI_DEV_FB_FREE{{{sel}}})) * 100",
                    "{{Hostname}} GPU {{gpu}}",
                ),
                span=8,
            )
        )
        .with_panel(
            _series(
                "Power draw",
                "watt",
                "Power usage per GPU.",
                (f"max by ({by}) (DCGM_FI_DEV_POWER_USAGE{{{sel}}})", "{{Hostname}} GPU {{gpu}}"),
                span=8,
            )
        )
        .with_panel(
            _series(
                "Temperature",
                "celsius",
                "GPU temperature.",
                (f"max by ({by}) (DCGM_FI_DEV_GPU_TEMP{{{sel}}})", "{{Hostname}} GPU {{gpu}}"),
                span=8,
            )
        )
    )


def mlflow_dashboard(spec: AlertSpec) -> gd.Dashboard:
    """The MLflow tracking server: availability, requests, latency, errors and pod resources."""
    ns = spec.tracking_namespace or "mlflow"
    sel = f'job="{MLFLOW_JOB}", namespace="{ns}"'
    return (
        _base("mlops-mlflow", "MLOps / MLflow", f"The MLflow tracking server and model registry in {ns}.", spec)
        .with_row(gd.Row("Availability"))
        .with_panel(_stat("Replicas up", "short", "MLflow metrics targets up.", f"sum(up{{{sel}}})", "up"))
        .with_panel(
            _stat(
                "Error ratio (5m)",
                "percentunit",
                "HTTP 5xx / all requests.",
                f'sum(rate({MLFLOW_HTTP}_total{{{sel}, status=~"5.."}}[5m])) / sum(rate({MLFLOW_HTTP}_total{{{sel}}}[5m]))',
                "5xx",
            )
        )
        .with_panel(
            _stat(
                "Restarts (1h)",
                "short",
                "Container restarts in the tracking namespace over the last hour.",
                f'sum(increase(kube_pod_container_status_restarts_total{{namespace="{ns}"}}[1h]))',
                "restarts",
            )
        )
        .with_row(gd.Row("Requests"))
        .with_panel(
            _series(
                "Requests by status",
                "reqps",
                "Tracking and registry API requests per second (prometheus_flask_exporter).",
                (f"sum by (status) (rate({MLFLOW_HTTP}_total{{{sel}}}[{RATE}]))", "{{status}}"),
            )
        )
        .with_panel(
            _series(
                "p50 / p99 latency",
                "s",
                "Request latency from the exporter's histogram.",
                (
                    f"histogram_quantile(0.5, sum by (le) (rate({MLFLOW_HTTP}_duration_seconds_bucket{{{sel}}}[{RATE}])))",
                    "p50",
                ),
                (
                    f"histogram_quantile(0.99, sum by (le) (rate({MLFLOW_HTTP}_duration_seconds_bucket{{{sel}}}[{RATE}])))",
                    "p99",
                ),
            )
        )
        .with_row(gd.Row("Resources"))
        .with_panel(
            _series(
                "CPU",
                "short",
                "CPU cores used per pod.",
                (f'sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace="{ns}", container!=""}}[{RATE}]))', "{{pod}}"),
                span=12,
            )
        )
        .with_panel(
            _series(
                "Memory",
                "bytes",
                "Working-set memory per pod.",
                (f'sum by (pod) (container_memory_working_set_bytes{{namespace="{ns}", container!=""}})', "{{pod}}"),
                span=12,
            )
        )
    )


def canary_dashboard(spec: AlertSpec) -> gd.Dashboard:
    """Every served version side by side, per model: error ratio, p99, traffic share, queue time. During a release
    Flagger's candidate (the configured version) and its primary (the version serving before) both show."""
    ns = spec.serving_namespace
    listed = ", ".join(f"{m.name}: v{m.version} configured" for m in spec.models) or "no model in this stack"
    sel = f'namespace="{ns}", model=~"$model"'
    triton = f'job="{TRITON_JOB}", {sel}'
    return (
        _base("mlops-canary", "MLOps / Releases", f"Every served version side by side; Flagger checks the candidate. {listed}.", spec)
        .with_variable(_query_variable("model", "Model", f'label_values(nv_inference_request_success{{namespace="{ns}"}}, model)'))
        .with_row(gd.Row("Candidate versus primary"))
        .with_panel(
            _series(
                "Error ratio by version",
                "percentunit",
                "5-minute error ratio of each version; Flagger rolls the candidate back after `release.threshold` checks above its limit.",
                (f"namespace_model_version:nv_inference_request_failure:ratio_rate5m{{{sel}}}", "{{model}} v{{version}}"),
            )
        )
        .with_panel(
            _series(
                "p99 latency by version",
                "µs",
                "Worst replica's p99 of each version; Flagger rolls the candidate back after `release.threshold` checks above its limit.",
                (f"namespace_model_version:nv_inference_request_summary_us:p99_max{{{sel}}}", "{{model}} v{{version}}"),
            )
        )
        .with_panel(
            _series(
                "Traffic share by version",
                "percentunit",
                "Share of each model's requests served by each version (the weight Flagger set, as observed).",
                (
                    f"namespace_model_version:nv_inference_request:rate5m{{{sel}}}\n"
                    "/ on (namespace, model) group_left () "
                    f"sum by (namespace, model) (namespace_model_version:nv_inference_request:rate5m{{{sel}}})",
                    "{{model}} v{{version}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Queue time by version",
                "µs",
                "Average queue time per request of each version.",
                (
                    f"sum by (model, version) (rate(nv_inference_queue_duration_us{{{triton}}}[{RATE}]))\n"
                    f"/ sum by (model, version) (rate(nv_inference_request_success{{{triton}}}[{RATE}]))",
                    "{{model}} v{{version}}",
                ),
            )
        )
    )


def dashboards(spec: AlertSpec) -> dict[str, dict[str, Any]]:
    """Every dashboard of the stack as a JSON model, keyed by file name, in a fixed order."""
    built: dict[str, gd.Dashboard] = {"model-serving.json": serving_dashboard(spec)}
    if spec.gpus:
        built["gpu.json"] = gpu_dashboard(spec)
    if spec.tracking_namespace:
        built["mlflow.json"] = mlflow_dashboard(spec)
    built["canary.json"] = canary_dashboard(spec)
    result: dict[str, dict[str, Any]] = {}
    for name, builder in built.items():
        model = json.loads(json.dumps(builder.build(), cls=JSONEncoder, sort_keys=True))
        for number, panel in enumerate(model["panels"], start=1):
            panel["id"] = number  # stable ids: the SDK leaves them unset (rows at 0)
        result[name] = model
    return result


def dashboard_texts(spec: AlertSpec) -> dict[str, str]:
    """Dashboards as JSON text, keyed by file name: what synth writes under ``grafana/`` and the ConfigMaps hold."""
    return {name: json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n" for name, model in dashboards(spec).items()}
