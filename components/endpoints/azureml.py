"""Azure ML adapter: serving environment, online endpoint, blue/green/shadow deployments, traffic, autoscale, diagnostics."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, cast

import pulumi
from pulumi_azure_native import machinelearningservices as aml
from pulumi_azure_native import monitor, operationalinsights

from .azureml_traffic import AzureMlTraffic, AzureMlTrafficProvider

if TYPE_CHECKING:
    from .endpoint import BuiltEndpoint, ManagedEndpointArgs

BLUE, GREEN, SHADOW = "blue", "green", "shadow"
"""Deployment names: blue serves the live version, green the canary, shadow receives mirrored traffic."""
PORT, SCORING_ROUTE, HEALTH_ROUTE = 8080, "/invocations", "/ping"
"""The serving contract shared by every cloud (SageMaker's): port 8080, POST /invocations, GET /ping."""
CPU_METRIC = "CpuUtilizationPercentage"
DEPLOYMENT_METRICS_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


def model_reference(uri: str, subscription: str, resource_group: str, workspace: str) -> str:
    """`azureml:<name>:<version>` -> the model version's ARM id; registry URIs stay as they are. Always a pinned version."""
    if uri.startswith("azureml://registries/"):
        return uri
    _, name, version = uri.split(":")
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.MachineLearningServices/"
        f"workspaces/{workspace}/models/{name}/versions/{version}"
    )


def _probe(initial_delay: str) -> aml.ProbeSettingsArgs:
    return aml.ProbeSettingsArgs(initial_delay=initial_delay, period="PT10S", timeout="PT2S", failure_threshold=30, success_threshold=1)


def build(
    name: str,
    args: ManagedEndpointArgs,
    physical_name: str,
    opts: pulumi.ResourceOptions,
    traffic_provider: AzureMlTrafficProvider | None = None,
) -> BuiltEndpoint:
    from .endpoint import BuiltEndpoint

    cfg = args.endpoint
    cloud = args.cloud
    rg = cloud.resource_group or ""
    workspace = cfg.workspace or ""
    tags = {**args.tags, "mlops-endpoint": cfg.name}
    private = cfg.network.private
    resources: dict[str, pulumi.Resource] = {}

    logs = operationalinsights.Workspace(
        f"{name}-logs",
        resource_group_name=rg,
        location=cloud.location,
        sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
        retention_in_days=30,
        tags=tags,
        opts=opts,
    )
    resources["log_analytics"] = logs

    environments: dict[str, aml.EnvironmentVersion] = {}

    def environment(image: str) -> aml.EnvironmentVersion:
        # Environment versions are immutable: the version is derived from the pinned image.
        if image not in environments:
            version = hashlib.sha256(image.encode()).hexdigest()[:12]
            environments[image] = aml.EnvironmentVersion(
                f"{name}-env-{version}",
                resource_group_name=rg,
                workspace_name=workspace,
                name=f"{cfg.name}-serving",
                version=version,
                properties=aml.EnvironmentVersionPropertiesArgs(
                    image=image,
                    os_type=aml.OperatingSystemType.LINUX,
                    description=f"Serving image of endpoint {physical_name}",
                    inference_config=aml.InferenceContainerPropertiesArgs(
                        liveness_route=aml.RouteArgs(path=HEALTH_ROUTE, port=PORT),
                        readiness_route=aml.RouteArgs(path=HEALTH_ROUTE, port=PORT),
                        scoring_route=aml.RouteArgs(path=SCORING_ROUTE, port=PORT),
                    ),
                ),
                opts=opts,
            )
        return environments[image]

    endpoint = aml.OnlineEndpoint(
        f"{name}-endpoint",
        resource_group_name=rg,
        workspace_name=workspace,
        endpoint_name=physical_name,
        location=cloud.location,
        identity=aml.ManagedServiceIdentityArgs(type=aml.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
        properties=aml.OnlineEndpointPropertiesArgs(
            auth_mode=aml.EndpointAuthMode.AAD_TOKEN,  # Entra ID tokens: no keys to leak or rotate
            public_network_access=aml.PublicNetworkAccessType.DISABLED if private else aml.PublicNetworkAccessType.ENABLED,
            description=f"Managed endpoint {cfg.name}",
        ),
        tags=tags,
        # Traffic is applied by the endpoint's traffic resource once the deployments exist.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["properties.traffic", "properties.mirrorTraffic"])),
    )
    resources["endpoint"] = endpoint

    versions = [(BLUE, cfg.model_uri, cfg.image, cfg.instances.min or 1)]
    if cfg.canary is not None:
        versions.append((GREEN, cfg.canary.model_uri, cfg.canary.image or cfg.image, cfg.canary.instances))
    if cfg.shadow is not None:
        versions.append((SHADOW, cfg.shadow.model_uri, cfg.shadow.image or cfg.image, cfg.shadow.instances))
    collector = (
        aml.DataCollectorArgs(
            collections={
                kind: aml.CollectionArgs(
                    data_collection_mode=aml.DataCollectionMode.ENABLED, sampling_rate=cfg.data_capture.sampling_percent / 100
                )
                for kind in ("request", "response")
            },
        )
        if cfg.data_capture.enabled
        else None
    )
    deployments: dict[str, aml.OnlineDeployment] = {}
    for slot, uri, image, count in versions:
        deployments[slot] = aml.OnlineDeployment(
            f"{name}-{slot}",
            resource_group_name=rg,
            workspace_name=workspace,
            endpoint_name=endpoint.name,
            deployment_name=slot,
            location=cloud.location,
            sku=aml.SkuArgs(name="Default", capacity=count),
            properties=aml.ManagedOnlineDeploymentArgs(
                endpoint_compute_type="Managed",
                model=model_reference(uri, cloud.subscription_id or "", rg, workspace),
                environment_id=environment(image).id,
                instance_type=cfg.instance_type,
                scale_settings=aml.DefaultScaleSettingsArgs(scale_type="Default"),
                # A TypedDict, not the Args class: the class injects maxQueueWait, deprecated for managed deployments.
                request_settings=cast(
                    Any, aml.OnlineRequestSettingsArgsDict(max_concurrent_requests_per_instance=1, request_timeout="PT60S")
                ),
                liveness_probe=_probe("PT600S"),
                readiness_probe=_probe("PT10S"),
                app_insights_enabled=False,
                egress_public_network_access=aml.EgressPublicNetworkAccessType.DISABLED
                if private
                else aml.EgressPublicNetworkAccessType.ENABLED,
                data_collector=collector,
                description=f"{slot} deployment of {physical_name}: {uri}",
            ),
            tags={**tags, "mlops-slot": slot},
            # Autoscale owns the instance count after creation.
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["sku.capacity"])),
        )
        resources[f"deployment_{slot}"] = deployments[slot]

    scaled = [(BLUE, cfg.instances.min or 1, cfg.instances.max)]
    if cfg.canary is not None:
        scaled.append((GREEN, cfg.canary.instances, max(cfg.canary.instances, cfg.instances.max)))
    for slot, low, high in scaled:
        if high <= low:
            continue
        deployment = deployments[slot]
        target = cfg.autoscaling.target

        def rule(
            operator: monitor.ComparisonOperationType,
            threshold: int,
            direction: monitor.ScaleDirection,
            cooldown: str,
            d: aml.OnlineDeployment = deployment,
        ) -> monitor.ScaleRuleArgs:
            return monitor.ScaleRuleArgs(
                metric_trigger=monitor.MetricTriggerArgs(
                    metric_name=CPU_METRIC,
                    metric_namespace=DEPLOYMENT_METRICS_NAMESPACE,
                    metric_resource_uri=d.id,
                    operator=operator,
                    statistic=monitor.MetricStatisticType.AVERAGE,
                    threshold=threshold,
                    time_aggregation=monitor.TimeAggregationType.AVERAGE,
                    time_grain="PT1M",
                    time_window="PT5M",
                ),
                scale_action=monitor.ScaleActionArgs(
                    direction=direction, type=monitor.ScaleType.CHANGE_COUNT, value="1", cooldown=cooldown
                ),
            )

        resources[f"autoscale_{slot}"] = monitor.AutoscaleSetting(
            f"{name}-autoscale-{slot}",
            resource_group_name=rg,
            location=cloud.location,
            enabled=True,
            target_resource_uri=deployment.id,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="cpu-utilization",
                    capacity=monitor.ScaleCapacityArgs(minimum=str(low), maximum=str(high), default=str(low)),
                    rules=[
                        rule(monitor.ComparisonOperationType.GREATER_THAN, target, monitor.ScaleDirection.INCREASE, "PT5M"),
                        rule(monitor.ComparisonOperationType.LESS_THAN, max(1, target // 2), monitor.ScaleDirection.DECREASE, "PT10M"),
                    ],
                )
            ],
            tags=tags,
            opts=opts,
        )

    resources["diagnostics"] = monitor.DiagnosticSetting(
        f"{name}-diagnostics",
        name=f"{physical_name}-to-log-analytics",
        resource_uri=endpoint.id,
        workspace_id=logs.id,
        logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
        metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
        opts=opts,
    )

    canary_percent = cfg.canary.percent if cfg.canary else 0
    traffic = {BLUE: 100 - canary_percent, **({GREEN: canary_percent} if cfg.canary else {})}
    mirror = {SHADOW: cfg.shadow.percent} if cfg.shadow else {}
    revision = hashlib.sha256(
        json.dumps({"auth": "AADToken", "private": private, "tags": tags, "location": cloud.location}, sort_keys=True).encode()
    ).hexdigest()[:16]
    resources["traffic"] = AzureMlTraffic(
        f"{name}-traffic",
        {"endpoint_id": endpoint.id, "traffic": traffic, "mirror_traffic": mirror, "endpoint_revision": revision},
        # A dynamic resource runs in Pulumi's Python provider host: no azure-native provider option.
        opts=pulumi.ResourceOptions(parent=opts.parent, depends_on=list(deployments.values())),
        provider=traffic_provider,
    )
    url = pulumi.Output.concat("https://", endpoint.name, ".", cloud.location or "", ".inference.ml.azure.com/score")
    return BuiltEndpoint(endpoint=endpoint, name=endpoint.name, invoke_url=url, resources=resources)
