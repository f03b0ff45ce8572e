"""SageMaker adapter: the endpoint's key, its auto-named endpoint configuration and the endpoint. The other child
groups come from the `sagemaker_*` modules: capture bucket, execution role, models and variants, release, scaling."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from ..catalog.aws_partitions import partition as arn_partition
from .sagemaker_capture import capture_bucket, data_capture_config
from .sagemaker_release import deployment_config, rollback_alarms
from .sagemaker_role import execution_role
from .sagemaker_scaling import autoscaling
from .sagemaker_variants import models, production_variants

if TYPE_CHECKING:
    from .endpoint import BuiltEndpoint, ManagedEndpointArgs

LOCAL_NVME_FAMILIES = ("c5d", "m5d", "r5d", "g4dn", "g5", "g6", "g6e", "p3dn", "p4d", "p4de", "p5", "p5e", "inf2", "trn1")
"""Families whose instances have local NVMe storage. SageMaker encrypts it in hardware and refuses a KmsKeyId on the
endpoint configuration for them (CreateEndpointConfig API reference, KmsKeyId); data capture is still KMS-encrypted."""


def has_local_nvme(instance_type: str) -> bool:
    """`ml.g5.xlarge` -> True: the family (`g5`) comes with local NVMe instance storage."""
    parts = instance_type.split(".")
    return len(parts) == 3 and parts[1] in LOCAL_NVME_FAMILIES


def build(name: str, args: ManagedEndpointArgs, endpoint_name: str, opts: pulumi.ResourceOptions) -> BuiltEndpoint:
    """Every native resource of the endpoint, in the order they depend on each other."""
    from .endpoint import BuiltEndpoint

    cfg = args.endpoint
    region = args.cloud.region or ""
    partition = arn_partition(region)
    tags = {**args.tags, "mlops-endpoint": cfg.name}
    resources: dict[str, pulumi.Resource] = {}
    capture = cfg.data_capture.enabled and cfg.serverless is None
    volume_key = cfg.serverless is None and cfg.instance_type is not None and not has_local_nvme(cfg.instance_type)

    key_arn: pulumi.Output[str] | None = None
    if cfg.kms_key is not None:
        key_arn = pulumi.Output.from_input(cfg.kms_key)
    elif capture or volume_key:
        key = aws.kms.Key(
            f"{name}-key",
            description=f"SageMaker endpoint {endpoint_name}: data capture and storage volumes",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=opts,
        )
        resources["key"] = key
        key_arn = key.arn

    bucket: aws.s3.Bucket | None = None
    bucket_settings: list[pulumi.Resource] = []
    if capture:
        assert key_arn is not None
        bucket, bucket_settings = capture_bucket(name, args, key_arn, opts)
        resources["capture_bucket"] = bucket

    role, policy = execution_role(
        name,
        cfg,
        partition=partition,
        region=region,
        endpoint_name=endpoint_name,
        capture_bucket=bucket,
        key_arn=key_arn,
        tags=tags,
        opts=opts,
    )
    resources.update(role=role, policy=policy)

    after_policy = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy]))
    built = models(name, cfg, role.arn, tags, after_policy)
    resources.update({f"model_{k}": v for k, v in built.items()})

    variants, shadows = production_variants(cfg, built)
    data_capture = None
    if capture:
        assert bucket is not None and key_arn is not None
        data_capture = data_capture_config(cfg, bucket, key_arn, endpoint_name)
    # No `name`: every field is immutable upstream, so a change must create a new, Pulumi-named configuration
    # (create-before-delete) that the endpoint then switches to with its deployment config.
    config = aws.sagemaker.EndpointConfiguration(
        f"{name}-config",
        production_variants=variants,
        shadow_production_variants=shadows or None,
        data_capture_config=data_capture,
        kms_key_arn=key_arn if volume_key else None,
        tags=tags,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=bucket_settings)),
    )
    resources["config"] = config

    alarms: list[aws.cloudwatch.MetricAlarm] = []
    if cfg.traffic_shift is not None and cfg.traffic_shift.auto_rollback and cfg.serverless is None:
        alarms = rollback_alarms(name, cfg, endpoint_name, tags, opts)
        resources.update(alarm_errors=alarms[0], alarm_latency=alarms[1])
    endpoint = aws.sagemaker.Endpoint(
        f"{name}-endpoint",
        name=endpoint_name,
        endpoint_config_name=config.name,
        deployment_config=deployment_config(cfg, [a.name for a in alarms]),
        tags=tags,
        opts=opts,
    )
    resources.update(autoscaling(name, cfg, endpoint.name, opts))

    url = endpoint.name.apply(lambda n: f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{n}/invocations")
    return BuiltEndpoint(endpoint=endpoint, name=endpoint.name, invoke_url=url, resources=resources)
