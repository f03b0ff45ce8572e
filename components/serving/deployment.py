"""`TritonDeployment`: one model served by Triton, its versions released by Flagger."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from ..clouds.target import CloudTarget
from ..config.serving import GATEWAY_CONTROLLER_NAMESPACE, SYNC_IMAGE, TRITON_IMAGE, ImageRef, ModelConfig
from ..identity import GKE_METADATA, ObjectStoreGrant, WorkloadIdentity, WorkloadIdentityArgs
from ..pool_wiring import PoolWiring
from .capture import CaptureTarget
from .flagger import LOADTESTER_PODS
from .gateway import GATEWAY_NAME
from .metrics import deployment_name, scaling_triggers
from .model_config import render
from .pod import GRPC, HTTP, METRICS, pod_spec
from .release import canary_object, check_queries, metric_templates, require_route, template_name


@dataclass(frozen=True)
class ModelRoute:
    """Where the gateway (``ServingGateway``, in the model's namespace) serves a model, and whose proxies reach it."""

    hostname: str
    """Host name of the inference API: the Canary's route and the version route answer on it. Required."""
    gateway_namespace: pulumi.Input[str] = GATEWAY_CONTROLLER_NAMESPACE
    """Namespace of the gateway's proxies (Envoy Gateway's); only they may reach Triton's HTTP and gRPC ports."""


@dataclass(frozen=True)
class TritonDeploymentArgs:
    """One model, where it runs, who may reach it, and how Flagger releases its versions."""

    model: ModelConfig
    """The model: its repository and version, tensors, batching, replicas, autoscaling signal and release plan."""
    namespace: pulumi.Input[str]
    """The serving namespace (a name, or the Output of the namespace created in the same program). The gateway's
    Gateway `inference` lives there too."""
    cloud: CloudTarget
    """The cloud: its workload identity reads the model repository; on `kubernetes`, the S3-compatible store."""
    cluster_name: pulumi.Input[str]
    """The managed cluster the workload identity binds to (unused on provider `kubernetes`)."""
    triton_image: ImageRef = TRITON_IMAGE
    """The Triton server image; the default is the stack config's (`serving.triton_image`)."""
    sync_image: ImageRef = SYNC_IMAGE
    """The init container's image (rclone), which copies the model version from object storage; the default is the
    stack config's (`serving.sync_image`)."""
    gateway: ModelRoute | None = None
    """The gateway route the model is served behind, ``ModelRoute(hostname, gateway_namespace)`` (the namespace defaults
    to Envoy Gateway's, as `serving.gateway.controller_namespace` does): the gateway's proxies may reach the model, the
    version route and Flagger's route answer on the host name. None: no gateway, Flagger's `kubernetes` provider
    (`blue_green` or `all_at_once`)."""
    pool: PoolWiring | None = None
    """The GPU pool's wiring (node selector, tolerations, GPU resource); None for CPU models."""
    monitoring_namespace: pulumi.Input[str] | None = None
    """Namespace allowed to scrape the metrics port. Default: none."""
    spread_required: bool = False
    """Refuse to schedule replicas that would break the zone spread (prod); else best effort."""
    prometheus_url: str | None = None
    """The Prometheus that scrapes Triton, which KEDA's trigger queries; None scales on CPU alone."""
    polling_interval_seconds: int = 15
    """How often KEDA evaluates the triggers."""
    autoscaler_depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What the ScaledObject waits for: the KEDA installation that defines and finalizes it."""
    release_prometheus_url: str | None = None
    """The Prometheus Flagger's checks query; None creates no Canary (validation requires one where models are served)."""
    release_depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What the Canary waits for: the Flagger installation that defines it."""
    loadtester_namespace: pulumi.Input[str] = "flagger"
    """Where Flagger's load tester runs: it sends the acceptance test and holds the promotion gate."""
    confirm_promotion: bool = False
    """Hold a candidate that passed every check until someone opens its gate."""
    capture: CaptureTarget | None = None
    """The inference capture the gateway mirrors the model's requests to. Default: none."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of every Kubernetes object. Default: none."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the workload identity's Azure resources (azure-native has no provider default tags; on aws and gcp the
    provider's default tags apply). Default: none."""


def _custom_resource(
    name: str, kind: str, metadata: dict[str, Any], spec: pulumi.Input[dict[str, Any]], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """One of Flagger's custom resources (``kind``) from its metadata and spec."""
    return k8s.apiextensions.CustomResource(name, api_version="flagger.app/v1beta1", kind=kind, metadata=metadata, spec=spec, opts=opts)


def store_port(cloud: CloudTarget) -> int:
    """The TCP port the model repository is read on: 443, or the S3-compatible endpoint's own port."""
    if cloud.provider == "kubernetes" and cloud.s3_endpoint:
        return urlsplit(cloud.s3_endpoint).port or 443
    return 443


class TritonDeployment(pulumi.ComponentResource):
    """One pinned model on Triton, released by Flagger.

    Pulumi owns: a ConfigMap with the generated config.pbtxt, the Deployment `triton-<model>` that copies
    exactly the configured version from the model repository and loads it, its KEDA ScaledObject (the
    configured Triton signal and CPU; equal bounds for a fixed size), the workload identity, NetworkPolicies
    (gateway and load tester to HTTP/gRPC, monitoring to metrics, egress to object storage), the Flagger
    `Canary` with one `MetricTemplate` per check, and, behind the gateway, the route of the configured
    version's own path (`/v2/models/<model>/versions/<version>`) to the pods serving that version.

    Flagger owns: the primary Deployment and ScaledObject (`-primary`), the Services (`triton-<model>` to
    the primary, `-primary`, `-canary`), the model's HTTPRoute and its weights, and every replica count.
    A new version (or image, or config) reaches traffic as `release` describes, or is rolled back.

    Outputs: ``service`` (the Service to the serving version), ``canary`` (the Canary's name),
    ``config_pbtxt`` (the generated model configuration).

    The providers come from ``opts``: ``pulumi.ResourceOptions(providers=[cloud_provider, k8s_provider])`` (the
    cloud one for the workload identity; on provider `kubernetes` the Kubernetes one alone). Every child inherits
    the provider of its package.
    """

    def __init__(self, name: str, args: TritonDeploymentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:serving:TritonDeployment", name, None, opts)
        model = args.model
        ns = pulumi.Output.from_input(args.namespace)
        object_name = deployment_name(model.name)
        k8s_opts = pulumi.ResourceOptions(parent=self)
        identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                namespace=ns,
                service_account=object_name,
                cloud=args.cloud,
                cluster_name=args.cluster_name,
                grants=[ObjectStoreGrant(f"{model.repository_uri.rstrip('/')}/{model.name}")],
                labels=args.labels,
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        base = {
            **args.labels,
            "app.kubernetes.io/name": "triton",
            "app.kubernetes.io/instance": model.name,
            "mlops.platform/model": model.name,
        }
        # `app` is the label Flagger rewrites to `<name>-primary` on its copy (its -selector-labels)
        selector = {"app": object_name}
        labels = {**base, **selector, "mlops.platform/model-version": str(model.version)}
        self.config_pbtxt = render(model, model.version)
        # the objects of the same name that the stable track of earlier releases had are updated in place
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{object_name}-config", namespace=ns, labels=labels),
            data={"config.pbtxt": self.config_pbtxt},
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-stable-config")])),
        )
        spec = pod_spec(
            model,
            model.version,
            args.triton_image,
            args.sync_image,
            args.cloud,
            identity.service_account_name,
            f"{object_name}-config",
            args.pool,
            args.spread_required and model.replicas.min >= 2,
            selector,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # no replica count: KEDA's HPA sets it while Flagger releases, and Flagger holds it at zero in between
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
                        annotations={"mlops.platform/config-hash": _digest(self.config_pbtxt)},
                    ),
                    spec=spec,
                ),
            ),
            # an earlier release's stable track selected its pods by track: the selector changes, so this replaces it once
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, identity], aliases=[pulumi.Alias(name=f"{name}-stable")]),
        )
        # one budget per Deployment: the candidate's (this one, while a release runs) and the primary's Flagger makes
        for suffix, pods in (("", object_name), ("-primary", f"{object_name}-primary")):
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}{suffix}-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pods, namespace=ns, labels=labels),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": pods}),
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=pulumi.ResourceOptions.merge(
                    k8s_opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-stable-pdb")] if not suffix else None)
                ),
            )
        scaler = self._autoscaler(name, args, base, k8s_opts, deployment)
        self._network_policies(name, args, base, k8s_opts)
        if args.gateway is not None:
            self._version_route(name, args, args.gateway, base, k8s_opts)
        self.canary = object_name
        if args.release_prometheus_url is not None:
            self._release(name, args, base, k8s_opts, [deployment, scaler, *args.release_depends_on])
        self.service = object_name
        self.register_outputs({"service": self.service, "canary": self.canary})

    def _release(
        self, name: str, args: TritonDeploymentArgs, labels: dict[str, str], opts: pulumi.ResourceOptions, after: list[pulumi.Resource]
    ) -> None:
        """The Canary and its MetricTemplates, after the Deployment and ScaledObject it refers to and Flagger's CRDs."""
        model, gateway = args.model, args.gateway
        prometheus = args.release_prometheus_url
        assert prometheus is not None
        hostname = gateway.hostname if gateway is not None else None
        require_route(model, hostname)  # before anything is built: in an apply it would surface only at deployment
        ns = pulumi.Output.from_input(args.namespace)
        check_specs = ns.apply(lambda n: {t["metadata"]["name"]: t["spec"] for t in metric_templates(model, n, prometheus, labels)})
        after_flagger = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(args.release_depends_on)))
        templates = []
        for check in check_queries(model):
            template = template_name(model.name, check)
            metadata = {"name": template, "namespace": ns, "labels": dict(labels)}
            templates.append(_custom_resource(f"{name}-check-{check}", "MetricTemplate", metadata, check_specs[template], after_flagger))
        canary = pulumi.Output.all(ns, pulumi.Output.from_input(args.loadtester_namespace)).apply(
            lambda names: canary_object(
                model,
                names[0],
                hostname=hostname,
                prometheus_url=args.prometheus_url,
                loadtester_namespace=names[1],
                confirm_promotion=args.confirm_promotion,
                # the monitoring stack finds Triton's Services by these labels (`app.kubernetes.io/name: triton`)
                service_labels=labels,
                mirror_to=(args.capture.service, args.capture.port) if args.capture is not None else None,
                labels=labels,
            )
        )
        after_checks = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[*after, *templates]))
        metadata = {"name": deployment_name(model.name), "namespace": ns, "labels": dict(labels)}
        _custom_resource(f"{name}-canary", "Canary", metadata, canary["spec"], after_checks)

    def _autoscaler(
        self, name: str, args: TritonDeploymentArgs, labels: dict[str, str], opts: pulumi.ResourceOptions, target: pulumi.Resource
    ) -> pulumi.Resource:
        """KEDA ScaledObject on the model's Triton signal (a Prometheus query) and CPU; the larger proposal wins.

        Every model has one: equal bounds hold a fixed size. Flagger copies it for the primary (with the
        primary's pods in the Prometheus queries) and pauses this one at zero between releases. KEDA names the
        HPA after each ScaledObject (`keda-hpa-<name>`), so the two never collide. It is created after its
        Deployment (KEDA reports a ScaledObject whose target does not exist yet) and deleted before it.
        """
        model = args.model
        deployment = deployment_name(model.name)
        triggers = pulumi.Output.from_input(args.namespace).apply(lambda ns: scaling_triggers(model, ns, args.prometheus_url))
        return k8s.apiextensions.CustomResource(
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

        def from_namespace(namespace: pulumi.Input[str], ports: list[int]) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
            return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace})
                    )
                ],
                ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in ports],
            )

        ingress = []
        if args.gateway is not None:
            ingress.append(from_namespace(args.gateway.gateway_namespace, [HTTP, GRPC]))
        if args.monitoring_namespace is not None:
            ingress.append(from_namespace(args.monitoring_namespace, [METRICS]))
        if args.release_prometheus_url is not None and args.model.release.acceptance_test:
            # Flagger's load tester sends the acceptance test to the candidate
            ingress.append(
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": args.loadtester_namespace}
                            ),
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(LOADTESTER_PODS)),
                        )
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=HTTP)],
                )
            )
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

    def _version_route(
        self, name: str, args: TritonDeploymentArgs, gateway: ModelRoute, labels: dict[str, str], opts: pulumi.ResourceOptions
    ) -> None:
        """The configured version's own path, to the pods serving that version, whichever Deployment they belong to.

        Flagger's route sends the model's path (`/v2/models/<model>`) to the primary and candidate by weight; a
        longer path prefix wins across routes (Gateway API), so `/v2/models/<model>/versions/<version>` reaches
        the configured version from the moment a pod serves it, during a release too. A path naming an earlier
        version falls through to the model's route, answered by the primary while it still serves that version.
        """
        model = args.model
        versioned = f"{deployment_name(model.name)}-v{model.version}"
        # not `app.kubernetes.io/name: triton`: monitoring scrapes Triton through Flagger's primary and candidate Services
        route_labels = {k: v for k, v in labels.items() if k != "app.kubernetes.io/name"}
        k8s.core.v1.Service(
            f"{name}-version-svc",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=versioned, namespace=args.namespace, labels=route_labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector={"app.kubernetes.io/instance": model.name, "mlops.platform/model-version": str(model.version)},
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=HTTP, target_port="http", app_protocol="http")],
            ),
            opts=opts,
        )
        rule: dict[str, Any] = {
            "matches": [{"path": {"type": "PathPrefix", "value": f"/v2/models/{model.name}/versions/{model.version}"}}],
            "backendRefs": [{"name": versioned, "port": HTTP}],
        }
        if args.capture is not None:
            mirror = {"backendRef": {"name": args.capture.service, "port": args.capture.port}}
            rule["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
        k8s.apiextensions.CustomResource(
            f"{name}-version-route",
            api_version="gateway.networking.k8s.io/v1",
            kind="HTTPRoute",
            metadata={"name": f"{deployment_name(model.name)}-version", "namespace": args.namespace, "labels": labels},
            spec={
                "parentRefs": [{"name": GATEWAY_NAME, "sectionName": "https"}],
                "hostnames": [gateway.hostname],
                "rules": [rule],
            },
            opts=opts,
        )


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]
