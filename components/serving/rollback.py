"""Automatic canary rollback: a CronJob that zeroes the weight of regressing candidates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from ..config.serving import ImageRef
from ..security import restricted
from .network import API_SERVER_PORTS, url_port

SCRIPT = Path(__file__).with_name("rollback.sh")
POD_LABELS = {"app.kubernetes.io/name": "canary-rollback"}
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}


def in_namespace(url: str, namespace: str) -> bool:
    """Whether ``url`` names a Service of ``namespace`` (`svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`)."""
    parts = (urlsplit(url).hostname or "").split(".")
    return len(parts) >= 2 and parts[1] == namespace and (len(parts) == 2 or parts[2] == "svc")


def network_policy_specs(
    prometheus_url: str, namespace: str, monitoring_namespace: str | None
) -> tuple[k8s.networking.v1.NetworkPolicySpecArgs, k8s.networking.v1.NetworkPolicySpecArgs | None]:
    """The job's egress (its namespace allows DNS only) and Prometheus' ingress (the monitoring namespace admits only itself).

    The job reaches Prometheus and the API server (to patch HTTPRoutes), whose address differs per
    cluster and is outside the pod network on managed clusters, so only its ports narrow it. Prometheus
    is narrowed to its pods, and opened for the job, only where the URL is the monitoring namespace's
    and the platform installed that Prometheus (``monitoring_namespace`` None: another installation's
    namespace, whose policies are not ours to add).
    """
    net, meta = k8s.networking.v1, k8s.meta.v1
    port = url_port(prometheus_url)
    prometheus_port = [net.NetworkPolicyPortArgs(protocol="TCP", port=port)]
    api_server = net.NetworkPolicyEgressRuleArgs(ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in API_SERVER_PORTS])
    job = meta.LabelSelectorArgs(match_labels=POD_LABELS)
    if monitoring_namespace is None or not in_namespace(prometheus_url, monitoring_namespace):
        egress = net.NetworkPolicySpecArgs(
            pod_selector=job, policy_types=["Egress"], egress=[net.NetworkPolicyEgressRuleArgs(ports=prometheus_port), api_server]
        )
        return egress, None

    def peer(peer_namespace: str, pods: dict[str, str]) -> net.NetworkPolicyPeerArgs:
        return net.NetworkPolicyPeerArgs(
            namespace_selector=meta.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": peer_namespace}),
            pod_selector=meta.LabelSelectorArgs(match_labels=pods),
        )

    egress = net.NetworkPolicySpecArgs(
        pod_selector=job,
        policy_types=["Egress"],
        egress=[net.NetworkPolicyEgressRuleArgs(to=[peer(monitoring_namespace, PROMETHEUS_PODS)], ports=prometheus_port), api_server],
    )
    ingress = net.NetworkPolicySpecArgs(
        pod_selector=meta.LabelSelectorArgs(match_labels=PROMETHEUS_PODS),
        policy_types=["Ingress"],
        ingress=[net.NetworkPolicyIngressRuleArgs(from_=[peer(namespace, POD_LABELS)], ports=prometheus_port)],
    )
    return egress, ingress


@dataclass(frozen=True)
class CanaryRollbackArgs:
    """Where to look (Prometheus) and what to patch (HTTPRoutes in ``namespace``)."""

    namespace: str
    prometheus_url: str
    image: ImageRef
    monitoring_namespace: str | None
    """The namespace of the Prometheus the platform installed: it admits the job when ``prometheus_url``
    points there. None when the Prometheus belongs to another installation."""
    rule_group: dict[str, Any] | None = None
    """The canary regression alert group, installed as a PrometheusRule next to the job."""
    rule_labels: dict[str, str] = field(default_factory=dict)
    """Labels the monitoring stack selects PrometheusRules by."""
    labels: dict[str, str] = field(default_factory=dict)


class CanaryRollback(pulumi.ComponentResource):
    """Every minute: firing `TritonCanaryRegression` alerts -> candidate weight 0 on its HTTPRoute.

    The job may only get and patch HTTPRoutes in its own namespace, and reach only Prometheus and the
    API server; the monitoring namespace admits it to Prometheus. The rollback holds until the next
    `pulumi up`; making it permanent is a one-line config change (drop the model's `canary`).
    """

    def __init__(self, name: str, args: CanaryRollbackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:CanaryRollback", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**args.labels, **POD_LABELS}

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=labels)

        account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata=meta("canary-rollback"), opts=child)
        k8s.rbac.v1.Role(
            f"{name}-role",
            metadata=meta("canary-rollback"),
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=["gateway.networking.k8s.io"], resources=["httproutes"], verbs=["get", "patch"])],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-binding",
            metadata=meta("canary-rollback"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name="canary-rollback"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name="canary-rollback", namespace=args.namespace)],
            opts=child,
        )
        script = k8s.core.v1.ConfigMap(
            f"{name}-script", metadata=meta("canary-rollback"), data={"rollback.sh": SCRIPT.read_text()}, opts=child
        )
        self._network_policies(name, args, labels, child)
        container = k8s.core.v1.ContainerArgs(
            name="rollback",
            image=args.image.reference,
            command=["/bin/sh", "/scripts/rollback.sh"],
            env=[
                k8s.core.v1.EnvVarArgs(name="PROMETHEUS_URL", value=args.prometheus_url),
                k8s.core.v1.EnvVarArgs(name="NAMESPACE", value=args.namespace),
                k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "128Mi"}
            ),
            security_context=restricted(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/scripts", read_only=True),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        pod = k8s.core.v1.PodSpecArgs(
            service_account_name="canary-rollback",
            restart_policy="Never",
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True, run_as_user=65534, seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")
            ),
            containers=[container],
            volumes=[
                k8s.core.v1.VolumeArgs(name="scripts", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="canary-rollback")),
                k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")),
            ],
        )
        k8s.batch.v1.CronJob(
            f"{name}-cron",
            metadata=meta("canary-rollback"),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule="* * * * *",
                concurrency_policy="Forbid",
                successful_jobs_history_limit=1,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=0,
                        active_deadline_seconds=50,
                        ttl_seconds_after_finished=600,
                        template=k8s.core.v1.PodTemplateSpecArgs(metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=pod),
                    )
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, script]),
        )
        if args.rule_group is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-rules",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata={"name": "triton-canary", "namespace": args.namespace, "labels": {**labels, **args.rule_labels}},
                spec={"groups": [args.rule_group]},
                opts=child,
            )
        self.register_outputs({})

    @staticmethod
    def _network_policies(name: str, args: CanaryRollbackArgs, labels: dict[str, str], opts: pulumi.ResourceOptions) -> None:
        """Egress from the job and, where the platform runs Prometheus, its admission in the monitoring namespace."""
        net = k8s.networking.v1
        egress, ingress = network_policy_specs(args.prometheus_url, args.namespace, args.monitoring_namespace)
        net.NetworkPolicy(
            f"{name}-egress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="canary-rollback-egress", namespace=args.namespace, labels=labels),
            spec=egress,
            opts=opts,
        )
        if ingress is not None:
            net.NetworkPolicy(
                f"{name}-prometheus-ingress",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="allow-canary-rollback-queries", namespace=args.monitoring_namespace, labels=args.labels
                ),
                spec=ingress,
                opts=opts,
            )
