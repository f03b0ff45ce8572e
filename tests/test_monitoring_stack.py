"""MonitoringStack under Pulumi mocks: chart values, secrets, scrape wiring, rules, dashboards, drift monitor."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from mlops_platform.config import PlatformConfig, validate_platform
from mlops_platform.config.monitoring import AlertReceiver
from mlops_platform.monitoring import MonitoringStack, MonitoringStackArgs, rule_files
from mlops_platform.monitoring.alertmanager import RECEIVER_SECRET, alertmanager_config, secret_path
from mlops_platform.monitoring.crds import custom_resource_errors
from mlops_platform.monitoring.dashboards import dashboard_texts
from mlops_platform.monitoring.servicemonitors import ScrapeTarget, service_monitor_manifest
from tools import crd_schemas
from tools.monitoring_files import monitoring_files, write_monitoring
from tools.synthesis import to_manifest
from tools.wire import wire_form

from .conftest import STACKS, stack_values
from .flagger_objects import flagger_objects

SECRET_VALUES = {
    "pagerdutyRoutingKey": "pd-routing-key-SENTINEL-0001",
    "slackWebhookUrl": "https://hooks.slack.invalid/SENTINEL-0002",
    "retrainingWebhookUrl": "https://retrain.invalid/hook?token=SENTINEL-0003",
    "retrainingGithubToken": "ghs_SENTINEL-0004",
}
RECEIVER_KEYS = ("pagerdutyRoutingKey", "retrainingWebhookUrl", "slackWebhookUrl")
DRIFT_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/drift-monitor:1.4.0@sha256:" + "ab" * 32


def platform(stack: str = "prod", drift: bool = True, **monitoring: Any) -> PlatformConfig:
    values = stack_values(stack)
    values.pop("managed_endpoints", None)  # monitoring never reads them
    section = values.setdefault("monitoring", {})
    if drift:
        section["drift"] = {
            "enabled": True,
            "image": DRIFT_IMAGE,
            "reference_data_uri": "s3://acme-ml-reference/fraud/2026-10/",
            "capture_uri": "s3://acme-ml-monitoring/capture",
            "model_thresholds": {values["models"][0]["name"]: {"drift_score": 0.25, "min_quality": 0.9}},
            "service_account_annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/drift-monitor"},
        }
        section.setdefault("receivers", []).append(
            {"name": "retrain", "kind": "webhook", "secret_key": "retrainingWebhookUrl", "purpose": "retraining"}
        )
    else:
        section.pop("drift", None)
        section.pop("retraining", None)  # the retraining trigger needs the drift monitor
    section.update(monitoring)
    return validate_platform(stack, values, set(), allow_missing_secrets=True)[0]


def declare(monitor, run, cfg: PlatformConfig, secrets: dict[str, str] | None = None) -> tuple[MonitoringStack, list[dict[str, Any]]]:
    created: dict[str, MonitoringStack] = {}

    def build() -> None:
        values = SECRET_VALUES if secrets is None else secrets
        outputs = {key: pulumi.Output.secret(value) for key, value in values.items()}
        args = MonitoringStackArgs.for_platform(cfg, outputs, cfg.common_labels)
        created["stack"] = MonitoringStack("mon", args)

    run(build)
    return created["stack"], monitor.records


def manifests(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [to_manifest(r) for r in records if r["custom"] and r["type"].startswith("kubernetes:")]


def of_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests(records) if m["kind"] == kind]


@pytest.fixture
def prod(pulumi_mocks, run_pulumi):
    cfg = platform("prod")
    stack, records = declare(pulumi_mocks, run_pulumi, cfg)
    return cfg, stack, records


def test_chart_is_pinned_and_sized_from_config(prod):
    _cfg, stack, records = prod
    chart = next(r for r in records if r["type"] == "kubernetes:helm.sh/v4:Chart")["inputs"]
    assert (chart["chart"], chart["version"], chart["repositoryOpts"]["repo"]) == (
        "kube-prometheus-stack",
        "79.10.0",
        "https://prometheus-community.github.io/helm-charts",
    )
    assert chart["namespace"] == "monitoring" and chart["name"] == "monitoring"
    spec = chart["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d" and spec["replicas"] == 2
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "500Gi"
    assert spec["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert spec[f"{kind}Selector"] == {"matchLabels": stack.selector_labels}
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
    assert stack.selector_labels == {"release": "monitoring"}
    assert spec["externalLabels"] == {"environment": "prod", "cluster": "ml-prod"}
    values = chart["values"]
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == [RECEIVER_SECRET]
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    assert values["grafana"]["ingress"]["hosts"] == ["grafana.ml.acme.example"]
    assert values["grafana"]["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    assert values["crds"] == {"enabled": True} and values["nodeExporter"] == {"enabled": True}
    assert values["kubeEtcd"] == {"enabled": False}


def test_custom_chart_source_for_air_gapped_clusters(pulumi_mocks, run_pulumi):
    cfg = platform(
        "dev", drift=False, chart="oci://registry.internal/charts/kube-prometheus-stack", repository=None, cluster_components=False
    )
    _, records = declare(pulumi_mocks, run_pulumi, cfg, {"slackWebhookUrl": "x"})
    chart = next(r for r in records if r["type"] == "kubernetes:helm.sh/v4:Chart")["inputs"]
    assert chart["chart"] == "oci://registry.internal/charts/kube-prometheus-stack" and "repositoryOpts" not in chart
    assert chart["values"]["crds"] == {"enabled": False} and chart["values"]["prometheusOperator"]["enabled"] is False


def test_no_secret_value_reaches_any_record(prod):
    _, _, records = prod
    text = json.dumps(records)
    for value in SECRET_VALUES.values():
        assert value not in text
    assert "SENTINEL" not in text and "mock-password" not in text and "MockPw" not in text
    secrets = {m["metadata"]["name"]: m for m in of_kind(records, "Secret")}
    assert secrets[RECEIVER_SECRET]["stringData"] == dict.fromkeys(RECEIVER_KEYS, "[secret]")
    assert secrets["retrain-trigger-github"]["stringData"] == {"token": "[secret]"}
    assert secrets["grafana-admin"]["stringData"] == {"admin-user": "[secret]", "admin-password": "[secret]"}


def test_alertmanager_routes_read_secrets_from_files(prod):
    _cfg, _, records = prod
    config = next(r for r in records if r["type"] == "kubernetes:helm.sh/v4:Chart")["inputs"]["values"]["alertmanager"]["config"]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["ml-oncall"]["pagerduty_configs"][0]["routing_key_file"] == secret_path("pagerdutyRoutingKey")
    assert receivers["ml-prod-slack"]["slack_configs"][0]["api_url_file"] == secret_path("slackWebhookUrl")
    assert receivers["ml-prod-slack"]["slack_configs"][0]["channel"] == "#ml-prod-alerts"
    assert receivers["retrain"]["webhook_configs"] == [{"url_file": secret_path("retrainingWebhookUrl"), "send_resolved": False}]
    routes = {(r["receiver"], tuple(r["matchers"])) for r in config["route"]["routes"]}
    assert ("ml-oncall", ('severity=~"page|critical"',)) in routes
    assert ("ml-prod-slack", ('severity=~"ticket|warning"',)) in routes
    assert ("retrain", ('category=~"drift|quality"',)) in routes
    assert config["route"]["receiver"] == "null"


def test_dev_pages_are_delivered_as_tickets():
    slack = AlertReceiver(name="dev-slack", kind="slack", secret_key="slackWebhookUrl", severities=["ticket"])
    routes = alertmanager_config([slack])["route"]["routes"]
    assert [r["matchers"] for r in routes if r["receiver"] == "dev-slack"] == [
        ['severity=~"page|critical"'],
        ['severity=~"ticket|warning"'],
    ]


def test_alertmanager_config_passes_amtool(tmp_path, prod):
    cfg, _, _ = prod
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool not found: `make test` installs it (apt-get install -y --no-install-recommends prometheus-alertmanager)")
    config = alertmanager_config(cfg.monitoring.receivers)
    # Debian's amtool is 0.25, which predates webhook `url_file` (0.26+, shipped by the chart): check that field apart
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook.pop("url_file").startswith(f"/etc/alertmanager/secrets/{RECEIVER_SECRET}/")
            hook["url"] = "http://placeholder.invalid/"
    config.pop("templates")
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = copy.deepcopy(config)
    broken["route"]["routes"][1]["receiver"] = "nobody"
    path.write_text(yaml.safe_dump(broken))
    assert subprocess.run([amtool, "check-config", str(path)], capture_output=True, check=False).returncode != 0


def test_built_in_objects_validate_strictly(prod):
    cfg, _, records = prod
    objects = [m for m in manifests(records) if not m["apiVersion"].startswith("monitoring.coreos.com/")]
    kinds = sorted({m["kind"] for m in objects})
    assert kinds == ["ConfigMap", "CronJob", "Deployment", "NetworkPolicy", "Secret", "Service", "ServiceAccount"]
    for manifest in objects:
        kubernetes_validate.validate(manifest, cfg.cluster.kubernetes_version, strict=True)
        # the scrape policies the stack opens in its targets' default-deny namespaces live there
        homes = {
            "allow-prometheus-scrape-mlflow": cfg.namespaces.tracking,
            "allow-prometheus-scrape-inference-capture": cfg.namespaces.serving,
        }
        home = homes.get(manifest["metadata"]["name"]) if manifest["kind"] == "NetworkPolicy" else None
        assert manifest["metadata"]["namespace"] == (home or "monitoring")
        assert manifest["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlops-platform"


def test_custom_resources_have_the_crd_shape_and_the_selector_label(prod):
    _, stack, records = prod
    custom = [m for m in manifests(records) if m["apiVersion"] == "monitoring.coreos.com/v1"]
    assert {m["kind"] for m in custom} == {"PrometheusRule", "ServiceMonitor"}
    for manifest in custom:
        assert custom_resource_errors(manifest, stack.selector_labels) == []
    # the same objects (the drift rules included, which no shipped stack enables) against the pinned official CRDs
    try:
        crd_schemas.load_crds()
    except crd_schemas.GoMissingError as missing:
        pytest.fail(str(missing))
    assert {crd_schemas.describe(m): crd_schemas.validate(m) for m in custom} == {crd_schemas.describe(m): [] for m in custom}


def test_crd_shape_check_catches_mistakes():
    target = ScrapeTarget("x", "ns", {"app": "x"}, "metrics", "x")
    good = service_monitor_manifest(target, "monitoring", {"release": "monitoring"})
    assert custom_resource_errors(good, {"release": "monitoring"}) == []
    snake = copy.deepcopy(good)
    snake["spec"]["selector"] = {"match_labels": {"app": "x"}}
    assert any("match_labels" in e for e in custom_resource_errors(snake))
    assert custom_resource_errors(good, {"release": "other"}) == [
        "ServiceMonitor metadata.labels: missing the selector label release=other"
    ]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r", "namespace": "m", "labels": {}},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "5 minutes"}]}]},
    }
    assert any("5 minutes" in e for e in custom_resource_errors(rule))


def test_service_monitors_scrape_triton_mlflow_dcgm_and_the_pushgateway(prod):
    cfg, _, records = prod
    monitors = {m["metadata"]["name"]: m["spec"] for m in of_kind(records, "ServiceMonitor")}
    assert sorted(monitors) == ["dcgm-exporter", "inference-capture", "mlflow", "pushgateway", "retrain-trigger", "triton"]
    assert monitors["inference-capture"]["namespaceSelector"] == {"matchNames": [cfg.namespaces.serving]}
    assert monitors["retrain-trigger"]["namespaceSelector"] == {"matchNames": [cfg.namespaces.monitoring]}
    assert monitors["triton"]["namespaceSelector"] == {"matchNames": [cfg.namespaces.serving]}
    assert monitors["triton"]["endpoints"][0]["port"] == "metrics"
    assert monitors["triton"]["endpoints"][0]["relabelings"] == [{"targetLabel": "job", "replacement": "triton", "action": "replace"}]
    assert monitors["mlflow"]["namespaceSelector"] == {"matchNames": [cfg.namespaces.tracking]}
    assert monitors["dcgm-exporter"]["namespaceSelector"] == {"matchNames": [cfg.gpu_operator.namespace]}
    assert monitors["dcgm-exporter"]["selector"] == {"matchLabels": {"app": "nvidia-dcgm-exporter"}}
    assert monitors["pushgateway"]["endpoints"][0]["honorLabels"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_every_service_monitor_selects_a_service_with_its_port(shipped, stack):
    """A ServiceMonitor that matches no Service, or a Service without its port, scrapes nothing and says nothing."""
    result = shipped[stack]
    cfg = result.config
    manifests = result.manifests()
    monitors = {m["metadata"]["name"]: m["spec"] for m in manifests if m["kind"] == "ServiceMonitor"}
    expected = {"pushgateway"} | ({"triton"} if cfg.models else set()) | ({"mlflow"} if cfg.mlflow.enabled else set())
    expected |= {"dcgm-exporter"} if cfg.gpu_operator_enabled else set()
    expected |= {"inference-capture"} if cfg.monitoring.drift.enabled and cfg.serving.gateway.enabled else set()
    expected |= {"retrain-trigger"} if cfg.monitoring.retraining.enabled else set()
    assert set(monitors) == (expected if cfg.monitoring.enabled else set())
    # Triton's Services are Flagger's, made from each model's Canary
    services = [m for m in [*manifests, *flagger_objects(manifests)] if m["kind"] == "Service"]
    for name, spec in monitors.items():
        if name == "dcgm-exporter":
            # the GPU operator chart creates that Service (and its own ServiceMonitor stays off): check its values
            operator = next(
                r for r in result.records if r["type"] == "kubernetes:helm.sh/v4:Chart" and r["inputs"]["name"] == "gpu-operator"
            )
            assert operator["inputs"]["values"]["dcgmExporter"]["enabled"] is True
            assert spec["namespaceSelector"]["matchNames"] == [cfg.gpu_operator.namespace]
            continue
        wanted = spec["selector"]["matchLabels"].items()
        matched = [
            s
            for s in services
            if s["metadata"]["namespace"] in spec["namespaceSelector"]["matchNames"] and wanted <= s["metadata"].get("labels", {}).items()
        ]
        assert matched, f"ServiceMonitor {name} selects no Service"
        for service in matched:
            assert spec["endpoints"][0]["port"] in {port["name"] for port in service["spec"]["ports"]}, service["metadata"]["name"]
        if name == "mlflow":  # the tracking server itself, never the OIDC proxy in front of it
            assert {s["spec"]["selector"]["app.kubernetes.io/component"] for s in matched} == {"server"}
        if name == "triton":
            assert {s["metadata"]["labels"]["mlops.platform/model"] for s in matched} == {m.name for m in cfg.models}


def test_prometheus_rules_are_the_synthesized_rule_files(prod):
    cfg, stack, records = prod
    from mlops_platform.monitoring.spec import alert_spec

    expected = rule_files(alert_spec(cfg))
    rules = {m["metadata"]["name"]: m["spec"] for m in of_kind(records, "PrometheusRule")}
    assert rules == {f"mlops-{name.split('.', 1)[0]}": content for name, content in expected.items()}
    assert "ModelDataDrift" in stack.alert_names and "GpuMemorySaturated" in stack.alert_names


def test_dashboards_ship_as_sidecar_config_maps(prod):
    cfg, _, records = prod
    from mlops_platform.monitoring.spec import alert_spec

    maps = {m["metadata"]["name"]: m for m in of_kind(records, "ConfigMap")}
    texts = dashboard_texts(alert_spec(cfg))
    assert sorted(maps) == sorted(f"dashboard-{name.rsplit('.', 1)[0]}" for name in texts)
    for name, text in texts.items():
        config_map = maps[f"dashboard-{name.rsplit('.', 1)[0]}"]
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "MLOps"}
        assert config_map["data"] == {name: text}
        assert len(text.encode()) < 1_000_000


def _restricted(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]} and context["runAsNonRoot"] is True
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        assert "@sha256:" in container["image"] or ":" in container["image"].rsplit("/", 1)[-1]


def test_drift_monitor_cronjob_is_restricted_pinned_and_pushes_to_the_pushgateway(prod):
    cfg, stack, records = prod
    cron = of_kind(records, "CronJob")[0]
    spec = cron["spec"]
    assert spec["schedule"] == "*/30 * * * *" and spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 1200 and job["backoffLimit"] == 1
    pod = job["template"]["spec"]
    _restricted(pod)
    container = pod["containers"][0]
    assert container["image"] == DRIFT_IMAGE
    assert container["command"] == ["python", "-m", "mlops_loop.drift"]
    env = {e["name"]: e["value"] for e in container["env"]}
    settings = json.loads(env["DRIFT_CONFIG"])
    assert settings["pushgateway_url"] == stack.pushgateway_url == "http://pushgateway.monitoring.svc:9091"
    assert settings["state_uri"] == "s3://acme-ml-monitoring/capture-state/drift"
    assert [(m["name"], m["version"]) for m in settings["models"]] == [(m.name, str(m.version)) for m in cfg.models]
    first_model = settings["models"][0]
    assert first_model["reference_uri"] == f"s3://acme-ml-reference/fraud/2026-10/{cfg.models[0].name}"
    assert first_model["capture_uri"] == f"s3://acme-ml-monitoring/capture/{cfg.models[0].name}"
    assert first_model["labels_uri"] is None and first_model["task"] == "classification"
    assert first_model["feature_threshold"] == 0.1
    # text-embedder's token ids have a -1 dimension: no column of theirs compares with a reference
    embedder = next(m for m in settings["models"] if m["name"] == "text-embedder")
    assert embedder["ignore_tensors"] == ["input_ids", "attention_mask"] and first_model["ignore_tensors"] == []
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    account = of_kind(records, "ServiceAccount")[0]
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/drift-monitor"}
    drift_rules = rule_files(__import__("mlops_platform.monitoring.spec", fromlist=["alert_spec"]).alert_spec(cfg))["drift.rules.yaml"]
    first = drift_rules["groups"][0]["rules"][0]
    assert first["expr"].endswith("> 0.25")  # the per-model threshold


def test_pushgateway_is_restricted_and_pinned(prod):
    _, _, records = prod
    deployment = next(m for m in of_kind(records, "Deployment") if m["metadata"]["name"] == "pushgateway")
    _restricted(deployment["spec"]["template"]["spec"])
    assert "@sha256:" in deployment["spec"]["template"]["spec"]["containers"][0]["image"]


def test_network_policies_open_only_what_the_stack_needs(prod):
    cfg, stack, records = prod
    policies = {m["metadata"]["name"]: m["spec"] for m in of_kind(records, "NetworkPolicy") if m["metadata"]["namespace"] == "monitoring"}
    assert sorted(policies) == ["allow-grafana-ingress", "allow-https-egress", "allow-intra-namespace", "allow-prometheus-scrape-egress"]
    elsewhere = {m["metadata"]["name"]: m for m in of_kind(records, "NetworkPolicy") if m["metadata"]["namespace"] != "monitoring"}
    assert sorted(elsewhere) == ["allow-prometheus-scrape-inference-capture", "allow-prometheus-scrape-mlflow"]
    capture = elsewhere["allow-prometheus-scrape-inference-capture"]
    assert capture["metadata"]["namespace"] == cfg.namespaces.serving
    assert wire_form(capture["spec"])["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080}]
    scrape = elsewhere["allow-prometheus-scrape-mlflow"]
    assert (scrape["metadata"]["namespace"], scrape["metadata"]["name"]) == (cfg.namespaces.tracking, "allow-prometheus-scrape-mlflow")
    assert wire_form(scrape["spec"]) == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "server"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 5000}],
            }
        ],
    }
    assert policies["allow-https-egress"]["egress"] == [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}]
    assert stack.scraper_peer == k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": "monitoring"}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "prometheus"}),
    )


def test_no_drift_monitor_when_disabled(pulumi_mocks, run_pulumi):
    cfg = platform("dev", drift=False)
    _, records = declare(pulumi_mocks, run_pulumi, cfg, {"slackWebhookUrl": "x"})
    assert of_kind(records, "CronJob") == [] and of_kind(records, "ServiceAccount") == []
    assert "drift" not in {m["metadata"]["name"].split("-")[-1] for m in of_kind(records, "PrometheusRule")}


def test_missing_receiver_secret_fails_before_any_object(pulumi_mocks):
    cfg = platform("prod", drift=False)
    with pytest.raises(ValueError, match="pagerdutyRoutingKey"):
        MonitoringStack("mon", MonitoringStackArgs.for_platform(cfg, {"slackWebhookUrl": pulumi.Output.secret("x")}, {}))


def test_children_are_parented_and_urns_unique(prod):
    _, _, records = prod
    component = next(r for r in records if r["type"] == "mlops:monitoring:MonitoringStack")
    children = [r for r in records if r is not component and r["type"] != "pulumi:pulumi:Stack"]
    assert children and all(r["parent"] == component["urn"] for r in children)
    assert all(r["name"].startswith("mon-") for r in children)
    urns = [r["urn"] for r in records]
    assert len(urns) == len(set(urns))


def test_synth_files_are_rules_and_dashboards(tmp_path):
    cfg = platform("prod")
    written = write_monitoring(cfg, tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert names == sorted(monitoring_files(cfg))
    assert "prometheus/serving.rules.yaml" in names and "grafana/model-serving.json" in names
    assert yaml.safe_load((tmp_path / "prometheus" / "serving.rules.yaml").read_text())["groups"]
    assert json.loads((tmp_path / "grafana" / "canary.json").read_text())["uid"] == "mlops-canary"
    assert monitoring_files(cfg) == monitoring_files(platform("prod"))
    disabled = platform("dev", drift=False, enabled=False)
    assert monitoring_files(disabled) == {}
    assert not any(Path(p).suffix not in (".yaml", ".json") for p in names)


# --- reachability under the synthesized NetworkPolicies ---------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (namespace and labels) or, with ``namespace`` None, an address outside the pod network."""

    namespace: str | None
    labels: dict[str, str]
    ip: str


PROMETHEUS_POD_LABELS = {
    "app.kubernetes.io/name": "prometheus",
    "app.kubernetes.io/managed-by": "prometheus-operator",
    "prometheus": "monitoring-prometheus",
}
"""The labels prometheus-operator puts on the Prometheus pods of kube-prometheus-stack."""
API_SERVER = Peer(None, {}, "10.0.12.34")
"""The API server endpoint a Service's ClusterIP is translated to: outside the pod network on managed clusters."""


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is evaluated here: {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Peer, namespace_labels: dict[str, dict[str, str]]) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        labels = {**namespace_labels.get(other.namespace, {}), "kubernetes.io/metadata.name": other.namespace}
        in_namespace = _selects(peer["namespaceSelector"], labels)
    else:
        in_namespace = other.namespace == policy_namespace
    return in_namespace and ("podSelector" not in peer or _selects(peer["podSelector"], other.labels))


def _port_matches(ports: list[dict[str, Any]] | None, port: int, port_name: str | None) -> bool:
    if not ports:
        return True
    return any(p.get("protocol", "TCP") == "TCP" and ("port" not in p or p["port"] in (port, port_name)) for p in ports)


def _admits(manifests: list[dict[str, Any]], direction: str, subject: Peer, other: Peer, port: int, port_name: str | None) -> bool:
    """Whether the policies isolating ``subject`` in ``direction`` (Ingress/Egress) let ``other`` through; unisolated pods admit all."""
    if subject.namespace is None:
        return True  # no NetworkPolicy applies outside the pod network
    namespace_labels = {m["metadata"]["name"]: m["metadata"].get("labels", {}) for m in manifests if m["kind"] == "Namespace"}
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolating = [
        (m["metadata"]["namespace"], wire_form(m["spec"]))
        for m in manifests
        if m["kind"] == "NetworkPolicy"
        and m["metadata"]["namespace"] == subject.namespace
        and direction in m["spec"]["policyTypes"]
        and _selects(m["spec"]["podSelector"], subject.labels)
    ]
    if not isolating:
        return True
    return any(
        _port_matches(rule.get("ports"), port, port_name)
        and (peers_key not in rule or any(_peer_matches(peer, ns, other, namespace_labels) for peer in rule[peers_key]))
        for ns, spec in isolating
        for rule in spec.get(rules_key, [])
    )


def reachable(manifests: list[dict[str, Any]], source: Peer, target: Peer, port: int, port_name: str | None = None) -> bool:
    """A TCP connection from ``source`` to ``target``'s ``port`` passes both the source's egress and the target's ingress policies."""
    return _admits(manifests, "Egress", source, target, port, port_name) and _admits(manifests, "Ingress", target, source, port, port_name)


def pod_template(manifest: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a Deployment, Job or CronJob."""
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"])


def test_reachability_follows_isolation_selectors_and_ports():
    def policy(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": namespace}, "spec": spec}

    deny = policy("a", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    client, server = Peer("a", {"app": "client"}, "10.1.0.1"), Peer("b", {"app": "server"}, "10.2.0.1")
    assert reachable([], client, server, 80)
    assert not reachable([deny], client, server, 80)
    egress = policy(
        "a", {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 80}]}]}
    )
    assert reachable([deny, egress], client, server, 80) and not reachable([deny, egress], client, server, 81)
    closed = policy("b", {"podSelector": {}, "policyTypes": ["Ingress"]})
    opened = policy(
        "b",
        {
            "podSelector": {"matchLabels": {"app": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}}], "ports": [{"port": "http"}]}
            ],
        },
    )
    assert not reachable([closed], client, server, 80)
    assert reachable([closed, opened], client, server, 8080, "http") and not reachable([closed, opened], client, server, 8080, "web")
    assert not reachable([closed, opened], Peer("c", {"app": "client"}, "10.3.0.1"), server, 8080, "http")
    cidr = policy("a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})
    assert reachable([cidr], client, API_SERVER, 443) and not reachable([cidr], client, Peer(None, {}, "192.0.2.1"), 443)


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_reaches_the_pods_behind_every_service_monitor(shipped, stack):
    """A scrape blocked by a default-deny namespace fails as silently as a missing Service: follow Service to pods to port."""
    result = shipped[stack]
    cfg = result.config
    manifests = result.manifests()
    prometheus = Peer(cfg.namespaces.monitoring, PROMETHEUS_POD_LABELS, "10.1.0.9")
    manifests = [*manifests, *flagger_objects(manifests)]  # Triton's Services and primary Deployments are Flagger's
    workloads = [m for m in manifests if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]
    checked = set()
    for monitor in (m for m in manifests if m["kind"] == "ServiceMonitor"):
        spec = monitor["spec"]
        (endpoint,) = spec["endpoints"]
        (namespace,) = spec["namespaceSelector"]["matchNames"]
        services = [
            s
            for s in manifests
            if s["kind"] == "Service"
            and s["metadata"]["namespace"] == namespace
            and spec["selector"]["matchLabels"].items() <= s["metadata"].get("labels", {}).items()
        ]
        for service in services:
            (service_port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
            pods = [
                w
                for w in workloads
                if w["metadata"]["namespace"] == namespace
                and service["spec"]["selector"].items() <= pod_template(w)["metadata"]["labels"].items()
            ]
            assert pods, f"{service['metadata']['name']} selects no pods"
            for workload in pods:
                template = pod_template(workload)
                ports = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
                target = service_port.get("targetPort", service_port["port"])
                (container_port,) = [p for p in ports if target in (p["containerPort"], p.get("name"))]
                pod = Peer(namespace, template["metadata"]["labels"], "10.1.0.10")
                assert reachable(manifests, prometheus, pod, container_port["containerPort"], container_port.get("name")), (
                    f"Prometheus cannot scrape {workload['metadata']['name']} on {container_port}"
                )
                checked.add(monitor["metadata"]["name"])
    expected = {"pushgateway"} | ({"triton"} if cfg.models else set()) | ({"mlflow"} if cfg.mlflow.enabled else set())
    expected |= {"inference-capture"} if cfg.monitoring.drift.enabled and cfg.serving.gateway.enabled else set()
    expected |= {"retrain-trigger"} if cfg.monitoring.retraining.enabled else set()
    assert checked == (expected if cfg.monitoring.enabled else set())  # dcgm-exporter: the GPU operator's chart owns its pods


def test_mlflow_admits_only_the_stacks_prometheus_on_the_server_port(shipped):
    result = shipped["prod"]
    manifests = result.manifests()
    tracking, monitoring = result.config.namespaces.tracking, result.config.namespaces.monitoring
    server = next(m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == "mlflow-server")
    pod = Peer(tracking, pod_template(server)["metadata"]["labels"], "10.1.0.10")
    prometheus = Peer(monitoring, PROMETHEUS_POD_LABELS, "10.1.0.9")
    assert result.config.mlflow.auth.mode == "oidc"  # only the proxy reaches the server otherwise
    assert reachable(manifests, prometheus, pod, 5000, "http")
    assert not reachable(manifests, Peer(monitoring, {"app.kubernetes.io/name": "grafana"}, "10.1.0.11"), pod, 5000, "http")
    assert not reachable(manifests, Peer("ml-serving", PROMETHEUS_POD_LABELS, "10.1.0.12"), pod, 5000, "http")
    assert not reachable(manifests, prometheus, pod, 5432)


def test_retrain_trigger_is_restricted_reads_its_token_from_a_file_and_receives_drift_alerts(prod):
    cfg, _, records = prod
    deployment = next(m for m in of_kind(records, "Deployment") if m["metadata"]["name"] == "retrain-trigger")
    pod = deployment["spec"]["template"]["spec"]
    _restricted(pod)
    assert deployment["spec"]["replicas"] == 1 and pod["serviceAccountName"] == "drift-monitor"
    container = pod["containers"][0]
    assert container["command"] == ["python", "-m", "mlops_loop.retrain"]
    settings = json.loads({e["name"]: e["value"] for e in container["env"]}["RETRAIN_CONFIG"])
    assert settings == {
        "record_uri": "s3://acme-ml-monitoring/capture-state/retraining",
        "window_minutes": 1440,
        "models": [m.name for m in cfg.models],
        "github": {
            "repository": "acme/mlops-platform",
            "workflow": "retrain.yml",
            "ref": "main",
            "token_file": "/var/run/secrets/retraining/token",
        },
    }
    assert not any("ghs_" in json.dumps(e) for e in container["env"])
    config = alertmanager_config(cfg.monitoring.receivers, "http://retrain-trigger.monitoring.svc:8080/alerts")
    routes = config["route"]["routes"]
    assert routes[1]["receiver"] == "retrain-trigger" and routes[1]["matchers"] == ['category=~"drift|quality"']
    assert config["receivers"][1] == {
        "name": "retrain-trigger",
        "webhook_configs": [{"url": "http://retrain-trigger.monitoring.svc:8080/alerts", "send_resolved": False}],
    }


def test_the_cluster_label_may_be_the_output_of_a_cluster_and_the_chart_waits_for_the_namespace(pulumi_mocks, run_pulumi):
    """A program that creates the cluster and the namespace passes their Outputs: the `cluster` external label is the
    cluster's name, and the chart (and every object) depends on the namespace resource."""
    cfg = platform("prod")

    def build() -> None:
        outputs = {key: pulumi.Output.secret(value) for key, value in SECRET_VALUES.items()}
        cluster = k8s.core.v1.ConfigMap("cluster", metadata={"name": "ml-made"})
        namespace = k8s.core.v1.Namespace("monitoring-ns", metadata={"name": "monitoring"})
        args = MonitoringStackArgs.for_platform(
            cfg, outputs, cfg.common_labels, namespace_resource=namespace.metadata.apply(lambda m: m.name or "")
        )
        MonitoringStack("mon", dataclasses.replace(args, cluster=cluster.metadata.apply(lambda m: m.name or "")))

    run_pulumi(build)
    records = pulumi_mocks.records
    urns = {r["name"]: r["urn"] for r in records if r["name"] in ("cluster", "monitoring-ns")}
    chart = next(r for r in records if r["type"] == "kubernetes:helm.sh/v4:Chart")
    assert chart["inputs"]["values"]["prometheus"]["prometheusSpec"]["externalLabels"]["cluster"] == "ml-made"
    assert {urns["cluster"], urns["monitoring-ns"]} <= set(chart["dependencies"])
    namespaced = [r for r in records if r["custom"] and (r["inputs"].get("metadata") or {}).get("namespace") == "monitoring"]
    assert namespaced and all(urns["monitoring-ns"] in r["dependencies"] for r in namespaced)
