"""Automatic canary rollback: a CronJob that zeroes the weight of regressing candidates."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..config.serving import ImageRef
from .pod import restricted

SCRIPT = Path(__file__).with_name("rollback.sh")


@dataclass(frozen=True)
class CanaryRollbackArgs:
    """Where to look (Prometheus) and what to patch (HTTPRoutes in ``namespace``)."""

    namespace: str
    prometheus_url: str
    image: ImageRef
    monitoring_namespace: str
    rule_group: dict[str, Any] | None = None
    """The canary regression alert group, installed as a PrometheusRule next to the job."""
    rule_labels: dict[str, str] = field(default_factory=dict)
    """Labels the monitoring stack selects PrometheusRules by."""
    labels: dict[str, str] = field(default_factory=dict)


class CanaryRollback(pulumi.ComponentResource):
    """Every minute: firing `TritonCanaryRegression` alerts -> candidate weight 0 on its HTTPRoute.

    The job may only get and patch HTTPRoutes in its own namespace. The rollback holds until the
    next `pulumi up`; making it permanent is a one-line config change (drop the model's `canary`).
    """

    def __init__(self, name: str, args: CanaryRollbackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:CanaryRollback", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**args.labels, "app.kubernetes.io/name": "canary-rollback"}

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
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=meta("canary-rollback-egress"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "canary-rollback"}),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": args.monitoring_namespace}
                                )
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=9090)],
                    ),
                    # the API server's address differs per cluster; only its ports are known
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in (443, 6443)]
                    ),
                ],
            ),
            opts=child,
        )
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
