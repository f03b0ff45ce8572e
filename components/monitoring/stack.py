"""The `MonitoringStack` component: kube-prometheus-stack, routing, scrape wiring, rules, dashboards, drift monitor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ..charts import pinned_chart
from ..config.monitoring import MonitoringConfig
from ..config.platform import PlatformConfig
from ..config.serving import ModelConfig
from ..identity import GKE_METADATA
from .alertmanager import RECEIVER_SECRET, receiver_secret_keys
from .dashboards import dashboard_texts
from .retraining import RETRAIN_LABELS, RETRAIN_TRIGGER, TOKEN_SECRET, retrain_deployment_spec, retrain_service_spec
from .rules import rule_files
from .servicemonitors import (
    ScrapeTarget,
    capture_target,
    dcgm_target,
    mlflow_target,
    pushgateway_target,
    retrain_target,
    service_monitor_spec,
    triton_target,
)
from .spec import AlertSpec, alert_spec
from .values import (
    DASHBOARD_FOLDER_ANNOTATION,
    DASHBOARD_LABEL,
    GRAFANA_ADMIN_SECRET,
    chart_values,
    network_policy_specs,
    release_name,
    scraper_peer,
    selector_labels,
)
from .workloads import (
    DRIFT_MONITOR,
    PUSHGATEWAY,
    PUSHGATEWAY_LABELS,
    drift_cronjob_spec,
    pushgateway_deployment_spec,
    pushgateway_service_spec,
    pushgateway_url,
)

DASHBOARD_FOLDER = "MLOps"


def variable_tensors(model: ModelConfig) -> tuple[str, ...]:
    """A model's tensors with a ``-1`` dimension: their per-row size varies, so no column compares with a reference."""
    return tuple(t.name for t in (*model.inputs, *model.outputs) if -1 in t.dims)


@dataclass(frozen=True)
class MonitoringStackArgs:
    """What the monitoring stack watches and where it runs."""

    config: MonitoringConfig
    """The stack's `monitoring` section (chart, sizing, receivers, thresholds, drift monitor)."""
    spec: AlertSpec
    """What rules, routes and dashboards are generated from (models and SLOs, namespaces, GPUs)."""
    namespace: str
    """The monitoring namespace (it exists: `PlatformNamespace`, privileged, default-deny). Text, not an Output: the
    Helm release, the selector labels and the in-cluster URLs other components take are named after it; pass the
    namespace's Output as ``namespace_resource`` for every object to wait for it."""
    cluster: pulumi.Input[str]
    """The cluster's name (or the Output of a cluster in the same program), attached to every series as the `cluster`
    external label."""
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    """Pulumi secret outputs by config key; every receiver's `secret_key` must be present."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of every object."""
    scrape_targets: tuple[ScrapeTarget, ...] = ()
    """Services scraped besides the stack's own (Triton, MLflow, the DCGM exporter)."""
    drift_models: tuple[tuple[str, int], ...] = ()
    """(model, stable version) pairs the drift monitor scores. Default: every model of ``spec``."""
    drift_ignore: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per model, the tensors of variable per-row size the drift monitor leaves out (no per-column reference)."""
    namespace_resource: pulumi.Input[str] | None = None
    """The namespace as an Output of its resource, so every object waits for it. Default: ``namespace``."""

    @classmethod
    def for_platform(
        cls,
        cfg: PlatformConfig,
        secrets: Mapping[str, pulumi.Output[str]],
        labels: dict[str, str],
        namespace_resource: pulumi.Input[str] | None = None,
    ) -> MonitoringStackArgs:
        """The monitoring of a whole platform stack: its models, MLflow, GPU operator and receivers."""
        spec = alert_spec(cfg)
        targets = [triton_target(cfg.namespaces.serving)] if cfg.models else []
        if cfg.mlflow.enabled:
            targets.append(mlflow_target(cfg.namespaces.tracking))
        if cfg.gpu_operator_enabled:
            targets.append(dcgm_target(cfg.gpu_operator.namespace))
        drift = cfg.monitoring.drift
        scored = cfg.scored_models if drift.enabled else []
        if scored and cfg.serving.gateway.enabled:
            targets.append(capture_target(cfg.namespaces.serving))
        if cfg.monitoring.retraining.enabled:
            targets.append(retrain_target(cfg.namespaces.monitoring))
        return cls(
            config=cfg.monitoring,
            spec=spec,
            namespace=cfg.namespaces.monitoring,
            cluster=cfg.cluster.name or pulumi.get_stack(),
            secrets=secrets,
            labels=labels,
            scrape_targets=tuple(targets),
            drift_models=tuple((m.name, m.version) for m in scored),
            drift_ignore={m.name: ignored for m in scored if (ignored := variable_tensors(m))},
            namespace_resource=namespace_resource,
        )


class MonitoringStack(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana (pinned kube-prometheus-stack), and what they need to be useful.

    Outputs:
      * ``selector_labels``: the label every ServiceMonitor, PodMonitor and PrometheusRule must carry;
      * ``scraper_peer``: the NetworkPolicy peer of Prometheus, for namespaces that allow it to scrape;
      * ``pushgateway_url``, ``prometheus_url``, ``alertmanager_url``, ``grafana_url`` (in-cluster);
      * ``alert_names``: the generated alerts; ``chart``: the Helm chart component.

    ``service_monitor(target)`` adds a ServiceMonitor with the selector label for another component.
    """

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:monitoring:MonitoringStack", name, None, opts)
        self._name = name
        self._args = args
        cfg = args.config
        ns = args.namespace
        release = release_name(ns)
        self.selector_labels = dict(cfg.selector_labels or {}) if not cfg.install else selector_labels(ns)
        self.scraper_peer = scraper_peer(ns)
        self.pushgateway_url = pushgateway_url(ns)
        self.prometheus_url = cfg.prometheus_url or f"http://{release}-prometheus.{ns}.svc:9090"
        self.alertmanager_url = f"http://{release}-alertmanager.{ns}.svc:9093"
        self.grafana_url = f"https://{cfg.grafana_hostname}" if cfg.grafana_hostname else f"http://{release}-grafana.{ns}.svc"
        self._namespace: pulumi.Input[str] = args.namespace_resource if args.namespace_resource is not None else ns
        child = pulumi.ResourceOptions(parent=self)

        self.chart: k8s.helm.v4.Chart | None = None
        self._after_crds = child
        if cfg.install:
            self._install(name, args, release)
        self._objects(name, args)

    def _install(self, name: str, args: MonitoringStackArgs, release: str) -> None:
        """The chart with its receivers and Grafana admin Secrets, and the namespace's NetworkPolicies."""
        cfg = args.config
        ns = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        missing = [key for key in receiver_secret_keys(cfg.receivers) if key not in args.secrets]
        if missing:
            raise ValueError(f"MonitoringStackArgs.secrets lacks the receiver secrets {missing}")
        receiver_values: dict[str, pulumi.Output[str]] = {
            key: pulumi.Output.secret(args.secrets[key]) for key in receiver_secret_keys(cfg.receivers)
        }
        receivers = k8s.core.v1.Secret(
            f"{name}-receivers",
            metadata=self._meta(RECEIVER_SECRET),
            type="Opaque",
            string_data=receiver_values,
            opts=child,
        )
        password = random.RandomPassword(f"{name}-grafana-password", length=32, special=False, opts=child)
        grafana_admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=self._meta(GRAFANA_ADMIN_SECRET),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=child,
        )
        for policy, spec in network_policy_specs(grafana_ingress=cfg.grafana_hostname is not None).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy}", metadata=self._meta(policy), spec=spec, opts=child)

        self.chart = pinned_chart(
            f"{name}-chart",
            cfg,
            self._namespace,
            release,
            chart_values(cfg, ns, args.spec.environment, args.cluster, args.labels),
            pulumi.ResourceOptions(parent=self, depends_on=[receivers, grafana_admin]),
        )
        self._after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.chart])

    def _objects(self, name: str, args: MonitoringStackArgs) -> None:
        """What the platform adds to any Prometheus: Pushgateway, ServiceMonitors, rules, dashboards."""
        cfg = args.config
        ns = args.namespace
        child = pulumi.ResourceOptions(parent=self)

        # One replica by design: a second Pushgateway would split the pushed series between replicas.
        k8s.apps.v1.Deployment(
            f"{name}-pushgateway",
            metadata=self._meta(
                PUSHGATEWAY,
                annotations={"mlops.platform/availability-exempt": "single writer: replicas would split the pushed drift scores"},
            ),
            spec=pushgateway_deployment_spec(cfg.pushgateway_image, args.labels),
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-pushgateway", metadata=self._meta(PUSHGATEWAY, PUSHGATEWAY_LABELS), spec=pushgateway_service_spec(), opts=child
        )

        self.service_monitors = [self.service_monitor(t) for t in (*args.scrape_targets, pushgateway_target(ns))]
        for target in args.scrape_targets:
            if target.admit is not None:
                self._admit_scraper(target, *target.admit)
        self.rules = [
            k8s.apiextensions.CustomResource(
                f"{name}-rules-{file.split('.', 1)[0]}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=self._meta(f"mlops-{file.split('.', 1)[0]}", self.selector_labels),
                spec=content,
                opts=self._after_crds,
            )
            for file, content in rule_files(args.spec).items()
        ]
        self.alert_names = sorted(
            {r["alert"] for c in rule_files(args.spec).values() for g in c["groups"] for r in g["rules"] if "alert" in r}
        )
        for file, text in dashboard_texts(args.spec).items():
            stem = file.rsplit(".", 1)[0]
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{stem}",
                metadata=self._meta(f"dashboard-{stem}", {DASHBOARD_LABEL: "1"}, {DASHBOARD_FOLDER_ANNOTATION: DASHBOARD_FOLDER}),
                data={file: text},
                opts=child,
            )
        if cfg.drift.enabled:
            self._drift_monitor(name, args)
        self.register_outputs(
            {
                "selector_labels": self.selector_labels,
                "pushgateway_url": self.pushgateway_url,
                "prometheus_url": self.prometheus_url,
                "alertmanager_url": self.alertmanager_url,
                "grafana_url": self.grafana_url,
                "alert_names": self.alert_names,
            }
        )

    def _meta(
        self, object_name: str, extra_labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=object_name,
            namespace=self._namespace,
            labels={**self._args.labels, **(extra_labels or {})},
            annotations=annotations,
        )

    def service_monitor(self, target: ScrapeTarget, opts: pulumi.ResourceOptions | None = None) -> k8s.apiextensions.CustomResource:
        """A ServiceMonitor for ``target``, carrying the selector label, in the monitoring namespace."""
        return k8s.apiextensions.CustomResource(
            f"{self._name}-sm-{target.name}",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=self._meta(target.name, self.selector_labels),
            spec=service_monitor_spec(target),
            opts=pulumi.ResourceOptions.merge(self._after_crds, opts),
        )

    def _admit_scraper(self, target: ScrapeTarget, pods: dict[str, str], port: int) -> None:
        """In the target's namespace: its pods admit this stack's Prometheus on the metrics port, and nothing else."""
        net = k8s.networking.v1
        net.NetworkPolicy(
            f"{self._name}-scrape-{target.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"allow-prometheus-scrape-{target.name}", namespace=target.namespace, labels=self._args.labels
            ),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(pods)),
                policy_types=["Ingress"],
                ingress=[
                    net.NetworkPolicyIngressRuleArgs(
                        from_=[self.scraper_peer], ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=port)]
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _drift_monitor(self, name: str, args: MonitoringStackArgs) -> None:
        drift = args.config.drift
        child = pulumi.ResourceOptions(parent=self)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-drift-monitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DRIFT_MONITOR,
                namespace=self._namespace,
                labels=args.labels,
                annotations=dict(drift.service_account_annotations) or None,
            ),
            automount_service_account_token=False,
            opts=child,
        )
        models = list(args.drift_models) or [(m.name, m.version) for m in args.spec.models]
        if "iam.gke.io/gcp-service-account" in drift.service_account_annotations and args.config.install:
            # the namespace is default-deny: GKE Workload Identity hands out tokens from the node's metadata server
            net = k8s.networking.v1
            for workload in (DRIFT_MONITOR, *((RETRAIN_TRIGGER,) if args.config.retraining.enabled else ())):
                net.NetworkPolicy(
                    f"{name}-{workload}-metadata",
                    metadata=self._meta(f"allow-{workload}-metadata"),
                    spec=net.NetworkPolicySpecArgs(
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": workload}),
                        policy_types=["Egress"],
                        egress=[
                            net.NetworkPolicyEgressRuleArgs(
                                to=[net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=cidr))],
                                ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=port)],
                            )
                            for cidr, port in GKE_METADATA
                        ],
                    ),
                    opts=child,
                )
        k8s.batch.v1.CronJob(
            f"{name}-drift-monitor",
            metadata=self._meta(DRIFT_MONITOR),
            spec=drift_cronjob_spec(drift, args.namespace, models, args.spec.environment, args.labels, dict(args.drift_ignore)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        if args.config.retraining.enabled:
            self._retrain_trigger(name, args, account)

    def _retrain_trigger(self, name: str, args: MonitoringStackArgs, account: pulumi.Resource) -> None:
        """The retraining trigger: the GitHub token as a Secret file, one replica, a Service for Alertmanager."""
        retraining = args.config.retraining
        key = retraining.token_secret_key
        if key is None or key not in args.secrets:
            raise ValueError(f"MonitoringStackArgs.secrets lacks the retraining token secret {key!r}")
        child = pulumi.ResourceOptions(parent=self)
        token_value: pulumi.Output[str] = pulumi.Output.secret(args.secrets[key])
        token = k8s.core.v1.Secret(
            f"{name}-retrain-token",
            metadata=self._meta(TOKEN_SECRET),
            type="Opaque",
            string_data={"token": token_value},
            opts=child,
        )
        k8s.apps.v1.Deployment(
            f"{name}-retrain-trigger",
            metadata=self._meta(
                RETRAIN_TRIGGER,
                annotations={"mlops.platform/availability-exempt": "single decider: one retraining per model and window"},
            ),
            spec=retrain_deployment_spec(
                retraining,
                args.config.drift,
                args.labels,
                [name for name, _ in (args.drift_models or ())] or [m.name for m in args.spec.models],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, token]),
        )
        k8s.core.v1.Service(
            f"{name}-retrain-trigger", metadata=self._meta(RETRAIN_TRIGGER, RETRAIN_LABELS), spec=retrain_service_spec(), opts=child
        )
