"""`TritonDeployment`: one model served by Triton, with its candidate version beside it during a canary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from ..config.cloud import CloudConfig
from ..config.serving import ModelConfig, ServingConfig
from ..identity import GKE_METADATA, ObjectStoreGrant, WorkloadIdentity, WorkloadIdentityArgs
from ..pool_wiring import PoolWiring
from .capture import CaptureTarget
from .gateway import GATEWAY_NAME
from .metrics import scaling_triggers
from .model_config import render
from .pod import GRPC, HTTP, METRICS, pod_spec


@dataclass(frozen=True)
class TritonDeploymentArgs:
    """One model, where it runs and who may reach it."""

    model: ModelConfig
    serving: ServingConfig
    namespace: str
    cloud: CloudConfig
    cluster_name: str
    cloud_provider: pulumi.ProviderResource | None
    """The cloud provider of the workload identity; None on provider `kubernetes`."""
    k8s_provider: k8s.Provider
    pool: PoolWiring | None = None
    """The GPU pool's wiring (node selector, tolerations, GPU resource); None for CPU models."""
    monitoring_namespace: str | None = None
    """Namespace allowed to scrape the metrics port."""
    spread_required: bool = False
    """Refuse to schedule replicas that would break the zone spread (prod); else best effort."""
    canary_replicas: int = 1
    """Replicas of the candidate during a canary; the environment's minimum keeps it highly available too."""
    prometheus_url: str | None = None
    """The Prometheus that scrapes Triton, which KEDA's trigger queries; None scales on CPU alone."""
    polling_interval_seconds: int = 15
    """How often KEDA evaluates the triggers."""
    autoscaler_depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What the ScaledObject waits for: the KEDA installation that defines and finalizes it."""
    capture: CaptureTarget | None = None
    """The inference capture the gateway mirrors a share of requests to. Default: none."""
    labels: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def store_port(cloud: CloudConfig) -> int:
    """The TCP port the model repository is read on: 443, or the S3-compatible endpoint's own port."""
    if cloud.provider == "kubernetes" and cloud.s3_endpoint:
        return urlsplit(cloud.s3_endpoint).port or 443
    return 443


def _track_name(model: str, track: str) -> str:
    return f"triton-{model}" if track == "stable" else f"triton-{model}-canary"


class TritonDeployment(pulumi.ComponentResource):
    """Stable (and, during a canary, candidate) Triton Deployments of one pinned model.

    Per track: a ConfigMap with the generated config.pbtxt, a Deployment that copies exactly that
    version from the model repository and loads it, and a Service. Once per model: the workload
    identity, a PodDisruptionBudget, a KEDA ScaledObject on the configured Triton signal and CPU
    (when ``replicas.max`` > ``replicas.min``; KEDA creates and owns the HPA, named like the Deployment),
    NetworkPolicies (gateway to HTTP/gRPC, monitoring to metrics, egress to object storage) and,
    behind the gateway, an HTTPRoute with the canary weight.

    Outputs: ``service`` (stable Service name), ``canary_weight``, ``config_pbtxt`` (track to text).
    """

    def __init__(self, name: str, args: TritonDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:TritonDeployment", name, None, opts)
        model = args.model
        ns = args.namespace
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                namespace=ns,
                service_account=_track_name(model.name, "stable"),
                cloud=args.cloud,
                cluster_name=args.cluster_name,
                provider=args.cloud_provider,
                grants=[ObjectStoreGrant(f"{model.repository_uri.rstrip('/')}/{model.name}")],
                labels=args.labels,
                tags=args.tags,
            ),
            args.k8s_provider,
            opts=pulumi.ResourceOptions(parent=self),
        )
        base = {
            **args.labels,
            "app.kubernetes.io/name": "triton",
            "app.kubernetes.io/instance": model.name,
            "mlops.platform/model": model.name,
        }
        # a model that may scale to zero starts with one replica, so `pulumi up` sees the version load; KEDA
        # takes it to zero when it is idle outside its active hours
        tracks = [("stable", model.version, max(model.replicas.min, 1))]
        if model.canary is not None:
            tracks.append(("canary", model.canary.version, args.canary_replicas))
        self.config_pbtxt: dict[str, str] = {}
        deployments: dict[str, k8s.apps.v1.Deployment] = {}
        for track, version, replicas in tracks:
            object_name = _track_name(model.name, track)
            selector = {"app.kubernetes.io/instance": model.name, "mlops.platform/track": track}
            labels = {**base, **selector, "mlops.platform/model-version": str(version)}
            self.config_pbtxt[track] = render(model, version)
            config = k8s.core.v1.ConfigMap(
                f"{name}-{track}-config",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{object_name}-config", namespace=ns, labels=labels),
                data={"config.pbtxt": self.config_pbtxt[track]},
                opts=k8s_opts,
            )
            spec = pod_spec(
                model,
                version,
                args.serving,
                args.cloud,
                identity.service_account_name,
                f"{object_name}-config",
                args.pool,
                args.spread_required and replicas >= 2,
                selector,
            )
            deployments[track] = k8s.apps.v1.Deployment(
                f"{name}-{track}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels),
                spec=k8s.apps.v1.DeploymentSpecArgs(
                    # where the model autoscales, KEDA's HPA owns the stable replica count once created
                    replicas=replicas,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    strategy=k8s.apps.v1.DeploymentStrategyArgs(
                        type="RollingUpdate",
                        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                    ),
                    revision_history_limit=5,
                    progress_deadline_seconds=model.load_timeout_seconds + 300,
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(
                            labels={**labels, **identity.pod_labels},
                            annotations={"mlops.platform/config-hash": _digest(self.config_pbtxt[track])},
                        ),
                        spec=spec,
                    ),
                ),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=args.k8s_provider,
                    depends_on=[config, identity],
                    ignore_changes=["spec.replicas"] if track == "stable" and model.autoscales else None,
                ),
            )
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{track}-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=k8s_opts,
            )
            k8s.core.v1.Service(
                f"{name}-{track}-svc",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector=selector,
                    ports=[
                        k8s.core.v1.ServicePortArgs(name="http", port=HTTP, target_port="http", app_protocol="http"),
                        k8s.core.v1.ServicePortArgs(name="grpc", port=GRPC, target_port="grpc", app_protocol="kubernetes.io/h2c"),
                        k8s.core.v1.ServicePortArgs(name="metrics", port=METRICS, target_port="metrics"),
                    ],
                ),
                opts=k8s_opts,
            )
        if model.autoscales:
            self._autoscaler(name, args, base, k8s_opts, deployments["stable"])
        self._network_policies(name, args, base, k8s_opts)
        self.canary_weight = model.canary.weight if model.canary else 0
        if args.serving.gateway.enabled:
            self._route(name, args, base, k8s_opts)
        self.service = _track_name(model.name, "stable")
        self.register_outputs({"service": self.service, "canary_weight": self.canary_weight})

    def _autoscaler(
        self, name: str, args: TritonDeploymentArgs, labels: dict[str, str], opts: pulumi.ResourceOptions, target: pulumi.Resource
    ) -> None:
        """KEDA ScaledObject on the model's Triton signal (a Prometheus query) and CPU; the larger proposal wins.

        Only for models whose replicas can move. KEDA creates the HPA, named like the Deployment so a
        progressive-delivery controller can reference it, with this scale-up and scale-down behaviour. It is
        created after its Deployment (KEDA reports a ScaledObject whose target does not exist yet) and deleted
        before it.
        """
        model = args.model
        deployment = _track_name(model.name, "stable")
        triggers = scaling_triggers(model, args.namespace, args.prometheus_url)
        k8s.apiextensions.CustomResource(
            f"{name}-scaler",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata={"name": deployment, "namespace": args.namespace, "labels": labels},
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
                "minReplicaCount": model.replicas.min,
                "maxReplicaCount": model.replicas.max,
                "pollingInterval": args.polling_interval_seconds,
                # KEDA's own wait before 1 -> 0 (its HPA never goes below 1): the same cooldown as any scale-down
                **({"cooldownPeriod": model.autoscaling.cooldown_seconds} if model.scales_to_zero else {}),
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "name": deployment,
                        "behavior": {
                            "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
                            "scaleDown": {
                                "stabilizationWindowSeconds": model.autoscaling.cooldown_seconds,
                                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                            },
                        },
                    },
                },
                "triggers": triggers,
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[*args.autoscaler_depends_on, target])),
        )

    def _network_policies(self, name: str, args: TritonDeploymentArgs, labels: dict[str, str], opts: pulumi.ResourceOptions) -> None:
        """Allow exactly: gateway proxies to HTTP/gRPC, monitoring to metrics, egress to object storage."""
        model = args.model
        pods = k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/instance": model.name})

        def from_namespace(namespace: str, ports: list[int]) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
            return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace})
                    )
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in ports],
            )

        ingress = []
        if args.serving.gateway.enabled:
            ingress.append(from_namespace(args.serving.gateway.controller_namespace, [HTTP, GRPC]))
        if args.monitoring_namespace:
            ingress.append(from_namespace(args.monitoring_namespace, [METRICS]))
        if args.capture is not None and args.capture.predictions:
            # the capture service asks the stable version for the prediction of each captured request
            ingress.append(
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=args.capture.pod_labels)
                        )
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=HTTP)],
                )
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"triton-{model.name}-ingress", namespace=args.namespace, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=pods, policy_types=["Ingress"], ingress=ingress),
            opts=opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"triton-{model.name}-egress", namespace=args.namespace, labels=labels),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=pods,
                policy_types=["Egress"],
                # object storage and the cloud's token endpoints are public HTTPS endpoints; on provider
                # `kubernetes` the S3-compatible store listens on its endpoint's port
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=store_port(args.cloud))]
                    ),
                    # GKE Workload Identity hands out tokens from the node's metadata server
                    *(
                        k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                            to=[k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))],
                            ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)],
                        )
                        for cidr, port in (GKE_METADATA if args.cloud.provider == "gcp" else ())
                    ),
                ],
            ),
            opts=opts,
        )

    def _route(self, name: str, args: TritonDeploymentArgs, labels: dict[str, str], opts: pulumi.ResourceOptions) -> None:
        """HTTPRoute: the model's path split by weight; explicit version paths go to the track serving them."""
        model = args.model
        prefix = f"/v2/models/{model.name}"

        def backend(track: str, weight: int) -> dict[str, Any]:
            return {"name": _track_name(model.name, track), "port": HTTP, "weight": weight}

        def match(path: str) -> list[dict[str, Any]]:
            return [{"path": {"type": "PathPrefix", "value": path}}]

        rules: list[dict[str, Any]]
        if model.canary is None:
            rules = [{"matches": match(prefix), "backendRefs": [backend("stable", 100)]}]
        else:
            weight = model.canary.weight
            rules = [
                {"matches": match(prefix), "backendRefs": [backend("stable", 100 - weight), backend("canary", weight)]},
                {"matches": match(f"{prefix}/versions/{model.version}"), "backendRefs": [backend("stable", 100)]},
                {"matches": match(f"{prefix}/versions/{model.canary.version}"), "backendRefs": [backend("canary", 100)]},
            ]
        if args.capture is not None:
            mirror = {
                "type": "RequestMirror",
                "requestMirror": {"backendRef": {"name": args.capture.service, "port": args.capture.port}, "percent": args.capture.percent},
            }
            rules = [{**rule, "filters": [mirror]} for rule in rules]
        k8s.apiextensions.CustomResource(
            f"{name}-route",
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata={"name": f"triton-{model.name}", "namespace": args.namespace, "labels": labels},
            spec={
                "parentRefs": [{"name": GATEWAY_NAME, "sectionName": "https"}],
                "hostnames": [args.serving.gateway.hostname],
                "rules": rules,
            },
            opts=opts,
        )


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]
