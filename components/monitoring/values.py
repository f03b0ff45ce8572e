"""kube-prometheus-stack values (camelCase, verbatim as the chart reads them) and the monitoring NetworkPolicies."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..config.monitoring import ContainerResources, MonitoringConfig
from .alertmanager import RECEIVER_SECRET, alertmanager_config
from .retraining import retrain_trigger_url

GRAFANA_ADMIN_SECRET = "grafana-admin"
DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_FOLDER_ANNOTATION = "grafana_folder"
SELECTOR_KEY = "release"
"""The chart labels its own ServiceMonitors and rules `release: <release>`; ours carry the same label."""
GPU_NODE_LABELS = "nodes=[mlops.platform/gpu-pool,mlops.platform/gpu-type]"


def release_name(namespace: str) -> str:
    """The Helm release: named after the monitoring namespace, so two stacks in one cluster never collide."""
    return namespace


def selector_labels(namespace: str) -> dict[str, str]:
    """The label every ServiceMonitor, PodMonitor and PrometheusRule must carry to be picked up."""
    return {SELECTOR_KEY: release_name(namespace)}


def _volume(size_gb: int, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{size_gb}Gi"}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def _resources(resources: ContainerResources) -> dict[str, Any]:
    return resources.as_kubernetes()


def chart_values(
    cfg: MonitoringConfig, namespace: str, environment: str, cluster: pulumi.Input[str], labels: dict[str, str]
) -> dict[str, Any]:
    """Values for the pinned kube-prometheus-stack chart; they name secrets and files, never hold secret values."""
    selector = {"matchLabels": selector_labels(namespace)}
    release = release_name(namespace)
    managed = {"enabled": False}  # EKS, GKE and AKS run the control plane: nothing to scrape there
    grafana_ini: dict[str, Any] = {
        "analytics": {"reporting_enabled": False, "check_for_updates": False, "check_for_plugin_updates": False},
        "users": {"allow_sign_up": False},
        "auth.anonymous": {"enabled": False},
        "security": {"cookie_secure": cfg.grafana_hostname is not None, "disable_gravatar": True},
    }
    if cfg.grafana_hostname:
        grafana_ini["server"] = {"root_url": f"https://{cfg.grafana_hostname}"}
    grafana: dict[str, Any] = {
        "enabled": True,
        "fullnameOverride": f"{release}-grafana",
        "replicas": 1,
        "resources": _resources(cfg.grafana_resources),
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "testFramework": {"enabled": False},
        "defaultDashboardsEnabled": True,
        "defaultDashboardsTimezone": "utc",
        "grafana.ini": grafana_ini,
        "sidecar": {
            "dashboards": {
                "enabled": True,
                "label": DASHBOARD_LABEL,
                "labelValue": "1",
                "folderAnnotation": DASHBOARD_FOLDER_ANNOTATION,
                "provider": {"foldersFromFilesStructure": True},
            }
        },
        "ingress": {"enabled": False},
    }
    if cfg.grafana_hostname:
        grafana["ingress"] = {
            "enabled": True,
            "hosts": [cfg.grafana_hostname],
            "path": "/",
            "tls": [{"secretName": f"{release}-grafana-tls", "hosts": [cfg.grafana_hostname]}],
        }
    return {
        "fullnameOverride": release,
        "commonLabels": dict(labels),
        "crds": {"enabled": cfg.cluster_components},
        "defaultRules": {
            "create": True,
            "rules": {"etcd": False, "kubeControllerManager": False, "kubeSchedulerAlerting": False, "kubeSchedulerRecording": False},
        },
        "kubeControllerManager": managed,
        "kubeScheduler": managed,
        "kubeEtcd": managed,
        "kubeProxy": managed,
        "prometheusOperator": {
            "enabled": cfg.cluster_components,
            # rules are validated by promtool before they ship; the webhook's certificate job is a Helm hook
            "admissionWebhooks": {"enabled": False},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        },
        "nodeExporter": {"enabled": cfg.cluster_components},
        "kubeStateMetrics": {"enabled": cfg.cluster_components},
        "kube-state-metrics": {"metricLabelsAllowlist": [GPU_NODE_LABELS]},
        "prometheus": {
            "prometheusSpec": {
                "replicas": cfg.prometheus_replicas,
                "retention": f"{cfg.retention_days}d",
                "retentionSize": f"{int(cfg.storage_gb * 0.85)}GB",
                "resources": _resources(cfg.prometheus_resources),
                "storageSpec": _volume(cfg.storage_gb, cfg.storage_class),
                "scrapeInterval": "30s",
                "evaluationInterval": "30s",
                "externalLabels": {"environment": environment, "cluster": cluster},
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "serviceMonitorSelector": selector,
                "serviceMonitorNamespaceSelector": {},
                "podMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelector": selector,
                "podMonitorNamespaceSelector": {},
                "ruleSelectorNilUsesHelmValues": False,
                "ruleSelector": selector,
                "ruleNamespaceSelector": {},
                "probeSelectorNilUsesHelmValues": False,
                "probeSelector": selector,
                "scrapeConfigSelectorNilUsesHelmValues": False,
                "scrapeConfigSelector": selector,
            }
        },
        "alertmanager": {
            "alertmanagerSpec": {
                "replicas": cfg.alertmanager_replicas,
                "resources": _resources(cfg.alertmanager_resources),
                "secrets": [RECEIVER_SECRET],
                "storage": _volume(2, cfg.storage_class),
            },
            "config": alertmanager_config(cfg.receivers, retrain_trigger_url(namespace) if cfg.retraining.enabled else None),
        },
        "grafana": grafana,
    }


def network_policy_specs(grafana_ingress: bool) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgs]:
    """NetworkPolicies the monitoring namespace needs on top of its default-deny (name -> spec).

    Prometheus scrapes every namespace and the nodes; everything reaches the API server and external
    HTTPS endpoints (receivers, object stores); pods of the namespace talk to each other.
    """
    everything = k8s.meta.v1.LabelSelectorArgs()
    namespace_pods = k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=everything)
    specs = {
        "allow-intra-namespace": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=everything,
            policy_types=["Ingress", "Egress"],
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[namespace_pods])],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[namespace_pods])],
        ),
        "allow-https-egress": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=everything,
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=443),
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=6443),
                    ]
                )
            ],
        ),
        "allow-prometheus-scrape-egress": k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "prometheus"}),
            policy_types=["Egress"],
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs()],
        ),
    }
    if grafana_ingress:
        specs["allow-grafana-ingress"] = k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "grafana"}),
            policy_types=["Ingress"],
            ingress=[
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=everything)],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=3000)],
                )
            ],
        )
    return specs


def scraper_peer(namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """The NetworkPolicy peer of this stack's Prometheus, for components that allow it to scrape them."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "prometheus"}),
    )
