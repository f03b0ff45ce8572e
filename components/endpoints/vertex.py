"""Vertex AI adapter: a service account, the capture dataset, an `AiEndpoint`, and the model deployment dynamic resource."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_gcp as gcp

from ..catalog.offers import endpoint_offer
from ..identity import StoreLocation
from ..identity.conditions import gcs_prefix_expression
from ..identity.names import gcp_account_id
from .vertex_deploy import VertexDeploymentProvider, VertexModelDeployment

if TYPE_CHECKING:
    from .endpoint import BuiltEndpoint, ManagedEndpointArgs

ACCELERATORS = {
    "nvidia-t4": "NVIDIA_TESLA_T4",
    "nvidia-l4": "NVIDIA_L4",
    "nvidia-a100-40gb": "NVIDIA_TESLA_A100",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB",
    "nvidia-h100-80gb": "NVIDIA_H100_80GB",
}
"""Catalog GPU type to the Vertex AI AcceleratorType enum (aiplatform_v1.AcceleratorType)."""

CONTAINER = {"port": 8080, "predict_route": "/invocations", "health_route": "/ping"}
"""The serving contract shared by every cloud: port 8080, POST /invocations, GET /ping (SageMaker's, reused everywhere)."""

DEPLOY_TIMEOUT_SECONDS = 3600
"""How long one upload, deploy or undeploy may take before the resource gives up (GPU capacity can be slow to come)."""


def endpoint_id(project: str, physical_name: str) -> str:
    """A stable numeric endpoint id (10 digits, no leading zero): Vertex endpoint names must be numeric."""
    digest = int(hashlib.sha256(f"{project}/{physical_name}".encode()).hexdigest(), 16)
    return str(1_000_000_000 + digest % 9_000_000_000)


def _model_prefixes(bucket: str, uris: list[str]) -> gcp.storage.BucketIAMMemberConditionArgs | None:
    """Read only the model versions' prefixes of ``bucket`` (None: a model at the bucket's root needs it all)."""
    prefixes = sorted({StoreLocation.parse(u).prefix for u in uris if bucket_of(u) == bucket})
    if "" in prefixes:
        return None
    return gcp.storage.BucketIAMMemberConditionArgs(
        title="model versions",
        description="Objects under the served model versions' prefixes and listings of them only",
        expression=" || ".join(f"({gcs_prefix_expression(bucket, prefix)})" for prefix in prefixes),
    )


def bucket_of(uri: str) -> str:
    match = re.match(r"^gs://([^/]+)/?", uri)
    if not match:
        raise ValueError(f"not a gs:// URI: {uri}")
    return match.group(1)


def service_account_id(physical_name: str) -> str:
    """The endpoint's service-account id: valid, and distinct for two stacks in one project (the physical name
    is per environment only)."""
    return gcp_account_id("vtx", physical_name)


def deployment_props(
    args: ManagedEndpointArgs, physical_name: str, endpoint_path: pulumi.Input[str], service_account: pulumi.Input[str]
) -> dict[str, Any]:
    """The dynamic resource's inputs: plain values, so its diff and state stay readable."""
    cfg = args.endpoint
    project = args.cloud.project or ""
    offer = endpoint_offer("gcp", cfg.instance_type or "")
    accelerator = ACCELERATORS.get(offer.gpu_type or "", "") if offer else ""
    canary = cfg.canary
    versions: dict[str, Any] = {
        "live": {"artifact_uri": cfg.model_uri, "image_uri": cfg.image, "percent": 100 - (canary.percent if canary else 0)}
    }
    replicas: dict[str, Any] = {"live": {"min": cfg.instances.min, "max": cfg.instances.max}}
    if canary is not None:
        versions["canary"] = {"artifact_uri": canary.model_uri, "image_uri": canary.image or cfg.image, "percent": canary.percent}
        replicas["canary"] = {"min": canary.instances, "max": max(canary.instances, cfg.instances.max)}
    shift = cfg.traffic_shift
    return {
        "project": project,
        "location": args.cloud.region or "",
        "endpoint": endpoint_path,
        "model_id": re.sub(r"[^a-z0-9-]", "-", physical_name),
        "display_name": physical_name,
        "service_account": service_account,
        "labels": {**args.tags, "mlops-endpoint": cfg.name},
        "kms_key": cfg.kms_key or "",
        "machine": {
            "machine_type": cfg.instance_type,
            "accelerator_type": accelerator,
            "accelerator_count": offer.gpus if offer and accelerator else 0,
        },
        "container": dict(CONTAINER),
        "replicas": replicas,
        "autoscaling": {"target": cfg.autoscaling.target},
        "versions": versions,
        "shift": {
            "mode": shift.mode if shift else "all_at_once",
            "step_percent": shift.step_percent if shift else 100,
            "wait_seconds": shift.wait_minutes * 60 if shift else 0,
        },
        "timeout_seconds": DEPLOY_TIMEOUT_SECONDS,
    }


def build(
    name: str,
    args: ManagedEndpointArgs,
    physical_name: str,
    opts: pulumi.ResourceOptions,
    deployment_provider: VertexDeploymentProvider | None = None,
) -> BuiltEndpoint:
    from .endpoint import BuiltEndpoint

    cfg = args.endpoint
    project = args.cloud.project or ""
    region = args.cloud.region or ""
    labels = {**args.tags, "mlops-endpoint": cfg.name}
    resources: dict[str, pulumi.Resource] = {}

    account = gcp.serviceaccount.Account(
        f"{name}-sa",
        account_id=service_account_id(physical_name),
        display_name=f"Vertex AI endpoint {physical_name}",
        description="Runs the endpoint's model containers; reads only the model buckets",
        project=project,
        opts=opts,
    )
    member = account.email.apply(lambda email: f"serviceAccount:{email}")
    uris = [cfg.model_uri] + [c.model_uri for c in cfg.candidates.values()]
    readers = [
        gcp.storage.BucketIAMMember(
            f"{name}-read-{bucket}",
            bucket=bucket,
            role="roles/storage.objectViewer",
            member=member,
            condition=_model_prefixes(bucket, uris),
            opts=opts,
        )
        for bucket in sorted({bucket_of(u) for u in uris})
    ]
    resources["service_account"] = account

    logging = None
    if cfg.data_capture.enabled:
        dataset_id = re.sub(r"[^a-z0-9_]", "_", f"{physical_name}_capture")
        dataset = gcp.bigquery.Dataset(
            f"{name}-capture",
            dataset_id=dataset_id,
            project=project,
            location=region,
            description=f"Request-response logs of Vertex AI endpoint {physical_name}",
            default_table_expiration_ms=cfg.data_capture.retention_days * 86_400_000,
            default_encryption_configuration=gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=cfg.kms_key)
            if cfg.kms_key
            else None,
            delete_contents_on_destroy=False,
            labels=labels,
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect_stateful)),
        )
        resources["capture_dataset"] = dataset
        logging = gcp.vertex.AiEndpointPredictRequestResponseLoggingConfigArgs(
            enabled=True,
            sampling_rate=cfg.data_capture.sampling_percent / 100,
            bigquery_destination=gcp.vertex.AiEndpointPredictRequestResponseLoggingConfigBigqueryDestinationArgs(
                output_uri=dataset.dataset_id.apply(lambda d: f"bq://{project}.{d}")
            ),
        )

    numeric = endpoint_id(project, physical_name)
    endpoint = gcp.vertex.AiEndpoint(
        f"{name}-endpoint",
        name=numeric,
        display_name=physical_name,
        description=f"Managed endpoint {cfg.name}",
        project=project,
        location=region,
        region=region,
        labels=labels,
        encryption_spec=gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=cfg.kms_key) if cfg.kms_key else None,
        private_service_connect_config=gcp.vertex.AiEndpointPrivateServiceConnectConfigArgs(
            enable_private_service_connect=True, project_allowlists=[project]
        )
        if cfg.network.private
        else None,
        dedicated_endpoint_enabled=None if cfg.network.private else True,
        predict_request_response_logging_config=logging,
        # The deployment resource below owns the traffic split (its keys are DeployedModel ids it creates).
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["trafficSplit"])),
    )
    resources["endpoint"] = endpoint
    path = endpoint.name.apply(lambda n: f"projects/{project}/locations/{region}/endpoints/{n}")
    # A dynamic resource runs in Pulumi's Python provider host, not in the gcp provider: no provider option.
    deployment = VertexModelDeployment(
        f"{name}-deployment",
        deployment_props(args, physical_name, path, account.email),
        opts=pulumi.ResourceOptions(parent=opts.parent, depends_on=[endpoint, *readers]),
        provider=deployment_provider,
    )
    resources["deployment"] = deployment
    if cfg.network.private:
        url = path.apply(lambda p: f"{p}:predict through the Private Service Connect endpoint")
    else:  # a dedicated endpoint answers only on its own DNS name
        url = pulumi.Output.all(endpoint.dedicated_endpoint_dns, path).apply(lambda v: f"https://{v[0]}/v1/{v[1]}:predict")
    return BuiltEndpoint(endpoint=endpoint, name=path, invoke_url=url, resources=resources)
