"""`InferenceCapture`: the capture service that turns mirrored Triton requests into the drift monitor's data.

The gateway mirrors each scored model's requests to it (Flagger's route of the model carries the
``RequestMirror`` filter, from the Canary's `service.mirror`, which has no percentage in Flagger 1.36), and
the service keeps ``sampling_percent`` of them; clients never wait for it. It runs the loop
image (``python -m mlops_loop.capture``), asks each model's stable Service for the prediction when
``capture_predictions`` is on, and writes JSONL under ``<capture_uri>/<model>/`` through a workload
identity that may write exactly the capture prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..clouds.target import CloudTarget
from ..config.monitoring import DriftMonitorConfig
from ..identity import GKE_METADATA, ObjectStoreGrant, WorkloadIdentity, WorkloadIdentityArgs
from ..loop_image import NONROOT_UID, loop_service_container
from ..security import restricted_pod
from .pod import HTTP

CAPTURE = "inference-capture"
CAPTURE_PORT = 8080
CAPTURE_LABELS = {"app.kubernetes.io/name": CAPTURE}


@dataclass(frozen=True)
class CaptureTarget:
    """Where a model's mirror filter points (``TritonDeployment`` adds it to the model's HTTPRoute rules)."""

    service: str
    """The capture Service the gateway mirrors requests to."""
    port: int
    """Its port."""
    pod_labels: dict[str, str]
    """The capture pods' labels: Triton admits them on its HTTP port when they ask for predictions."""
    predictions: bool
    """Whether the capture asks Triton for predictions (Triton then admits the capture pods)."""


@dataclass(frozen=True)
class InferenceCaptureArgs:
    """The service the gateway mirrors the models' requests to, which writes a sample of them for the drift monitor."""

    drift: DriftMonitorConfig
    """The drift monitor's settings: image, capture prefix, sampling, predictions."""
    models: list[tuple[str, int, str]]
    """(model, stable version, stable Service name) of every Triton model."""
    namespace: pulumi.Input[str]
    """The serving namespace (where the HTTPRoutes and their mirror backend live)."""
    gateway_namespace: pulumi.Input[str]
    """The gateway controller's namespace: its proxies send the mirrored requests."""
    cloud: CloudTarget
    """The cloud: the capture's workload identity writes to ``drift.capture_uri``."""
    cluster_name: pulumi.Input[str]
    """The managed cluster the capture's workload identity binds to (unused on provider `kubernetes`)."""
    store_port: int = 443
    """The TCP port the capture store is written on: 443, or an S3-compatible endpoint's own (``store_port(cloud)``)."""
    replicas: int = 2
    """Replicas of the capture service (the platform runs `guardrails.min_replicas`, at least 1)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of every Kubernetes object. Default: none."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the workload identity's Azure resources (azure-native has no provider default tags; on aws and gcp the
    provider's default tags apply). Default: none."""


def capture_settings(args: InferenceCaptureArgs, namespace: str) -> dict[str, Any]:
    """The service's settings document (``CAPTURE_CONFIG``) in the serving ``namespace``. The gateway mirrors every
    request; the service samples."""
    drift = args.drift
    return {
        "capture_uri": drift.capture_uri,
        "sampling_percent": drift.sampling_percent,
        "flush_records": 500,
        "flush_seconds": 60,
        "port": CAPTURE_PORT,
        "models": {
            name: {
                "version": str(version),
                "predict_url": f"http://{service}.{namespace}.svc:{HTTP}" if drift.capture_predictions else None,
            }
            for name, version, service in args.models
        },
    }


def capture_target(drift: DriftMonitorConfig) -> CaptureTarget:
    return CaptureTarget(CAPTURE, CAPTURE_PORT, dict(CAPTURE_LABELS), drift.capture_predictions)


class InferenceCapture(pulumi.ComponentResource):
    """The capture Deployment, its Service, its workload identity and its NetworkPolicies.

    Outputs: ``service`` (the mirror backend's name), ``identity`` (the cloud identity that writes the capture).

    The providers come from ``opts``: ``pulumi.ResourceOptions(providers=[cloud_provider, k8s_provider])`` (on
    provider `kubernetes` the Kubernetes one alone); every child inherits the provider of its package.
    """

    def __init__(self, name: str, args: InferenceCaptureArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:InferenceCapture", name, None, opts)
        drift = args.drift
        assert drift.capture_uri is not None and drift.image is not None
        k8s_opts = pulumi.ResourceOptions(parent=self)
        identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                namespace=args.namespace,
                service_account=CAPTURE,
                cloud=args.cloud,
                cluster_name=args.cluster_name,
                grants=[ObjectStoreGrant(drift.capture_uri, write=True)],
                labels=args.labels,
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        pod_labels = {**args.labels, **CAPTURE_LABELS}
        container = loop_service_container(
            CAPTURE,
            drift.image,
            "capture",
            ("CAPTURE_CONFIG", pulumi.Output.from_input(args.namespace).apply(lambda ns: capture_settings(args, ns))),
            CAPTURE_PORT,
            requests={"cpu": "100m", "memory": "256Mi"},
            limits={"cpu": "1", "memory": "1Gi"},
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CAPTURE, namespace=args.namespace, labels=pod_labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(CAPTURE_LABELS)),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**pod_labels, **identity.pod_labels}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=identity.service_account_name,
                        security_context=restricted_pod(NONROOT_UID),
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(CAPTURE_LABELS)),
                            )
                        ],
                        containers=[container],
                        volumes=[k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi"))],
                    ),
                ),
            ),
            opts=k8s_opts,
        )
        if args.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=CAPTURE, namespace=args.namespace, labels=pod_labels),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(CAPTURE_LABELS))
                ),
                opts=k8s_opts,
            )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CAPTURE, namespace=args.namespace, labels=pod_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=dict(CAPTURE_LABELS),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=CAPTURE_PORT, target_port="http", protocol="TCP")],
            ),
            opts=k8s_opts,
        )
        self._network_policies(name, args, pod_labels, k8s_opts)
        self.service = service.metadata.name
        self.identity = identity.identity
        self.deployment = deployment
        self.register_outputs({"service": self.service, "identity": self.identity})

    def _network_policies(self, name: str, args: InferenceCaptureArgs, labels: dict[str, str], opts: pulumi.ResourceOptions) -> None:
        """Only the gateway's proxies reach it; it reaches the object store and, for predictions, the Triton pods."""
        net = k8s.networking.v1
        pods = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(CAPTURE_LABELS))
        gateway = net.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": args.gateway_namespace})
        )
        egress = [net.NetworkPolicyEgressRuleArgs(ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=args.store_port)])]
        if args.drift.capture_predictions:
            triton = net.NetworkPolicyPeerArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": "triton"})
            )
            egress.append(net.NetworkPolicyEgressRuleArgs(to=[triton], ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=HTTP)]))
        egress += [
            net.NetworkPolicyEgressRuleArgs(
                to=[net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=cidr))],
                ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=port)],
            )
            for cidr, port in (GKE_METADATA if args.cloud.provider == "gcp" else ())
        ]
        net.NetworkPolicy(
            f"{name}-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CAPTURE, namespace=args.namespace, labels=labels),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=pods,
                policy_types=["Ingress", "Egress"],
                ingress=[
                    net.NetworkPolicyIngressRuleArgs(from_=[gateway], ports=[net.NetworkPolicyPortArgs(protocol="TCP", port=CAPTURE_PORT)])
                ],
                egress=egress,
            ),
            opts=opts,
        )
