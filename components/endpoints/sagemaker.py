"""SageMaker adapter: execution role, models, an auto-named endpoint configuration, alarms, the endpoint, autoscaling."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from ..catalog.aws_partitions import partition as arn_partition
from ..catalog.endpoint_capabilities import AWS_MAX_EXECUTION_SECONDS, AWS_PROVISIONING_MARGIN_SECONDS
from ..config.endpoint_checks import bake_seconds
from ..config.endpoints import CandidateVersion, ManagedEndpointConfig

if TYPE_CHECKING:
    from .endpoint import BuiltEndpoint, ManagedEndpointArgs

LIVE, CANARY, SHADOW = "live", "canary", "shadow"
"""Variant names. Blue/green deployments need the same variant names in the old and new configuration."""

LOCAL_NVME_FAMILIES = ("c5d", "m5d", "r5d", "g4dn", "g5", "g6", "g6e", "p3dn", "p4d", "p4de", "p5", "p5e", "inf2", "trn1")
"""Families whose instances have local NVMe storage. SageMaker encrypts it in hardware and refuses a KmsKeyId on the
endpoint configuration for them (CreateEndpointConfig API reference, KmsKeyId); data capture is still KMS-encrypted."""

CAPTURE_PREFIX = "datacapture"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"

_S3_URI = re.compile(r"^s3://([^/]+)/(.*)$")
_ECR = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/([^:@]+)")


def has_local_nvme(instance_type: str) -> bool:
    """`ml.g5.xlarge` -> True: the family (`g5`) comes with local NVMe instance storage."""
    parts = instance_type.split(".")
    return len(parts) == 3 and parts[1] in LOCAL_NVME_FAMILIES


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (`bucket`, `key`)."""
    match = _S3_URI.match(uri)
    if not match:
        raise ValueError(f"not an s3:// URI: {uri}")
    return match.group(1), match.group(2)


def ecr_repository_arn(image: str, partition: str) -> str:
    """The ECR repository ARN of an image reference (validated to be an ECR image)."""
    match = _ECR.match(image)
    if not match:
        raise ValueError(f"not an Amazon ECR image: {image}")
    account, region, _, repository = match.groups()
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repository}"


def _model_read_statements(uris: list[str], partition: str) -> list[dict[str, Any]]:
    """Read exactly the model artifacts: the object of a .tar.gz, or the prefix of an uncompressed model."""
    objects, prefixes = [], []
    for uri in uris:
        bucket, key = split_s3(uri)
        if key.endswith(".tar.gz"):
            objects.append(f"arn:{partition}:s3:::{bucket}/{key}")
        else:
            prefix = key.rstrip("/") + "/"
            objects.append(f"arn:{partition}:s3:::{bucket}/{prefix}*")
            prefixes.append((bucket, prefix))
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": sorted(set(objects))}
    ]
    for i, (bucket, prefix) in enumerate(sorted(set(prefixes))):
        statements.append(
            {
                "Sid": f"ListModelPrefix{i}",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": f"arn:{partition}:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            }
        )
    return statements


def execution_policy(
    cfg: ManagedEndpointConfig,
    *,
    partition: str,
    region: str,
    account: str,
    endpoint_name: str,
    capture_bucket_arn: str | None,
    key_arn: str | None,
) -> dict[str, Any]:
    """Least privilege for the models: their artifacts and images, the endpoint's logs, the capture prefix and key."""
    images = sorted({cfg.image} | {c.image for c in cfg.candidates.values() if c.image})
    uris = [cfg.model_uri] + [c.model_uri for c in cfg.candidates.values()]
    statements = _model_read_statements(uris, partition)
    statements += [
        {
            "Sid": "PullServingImages",
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            "Resource": sorted({ecr_repository_arn(i, partition) for i in images}),
        },
        # GetAuthorizationToken and PutMetricData have no resource-level permissions.
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {
            "Sid": "EndpointMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",
            "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}},
        },
        {
            "Sid": "EndpointLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [
                f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}",
                f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint_name}:*",
            ],
        },
    ]
    if capture_bucket_arn is not None:
        statements.append(
            {
                "Sid": "WriteDataCapture",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": f"{capture_bucket_arn}/{CAPTURE_PREFIX}/*",
            }
        )
    if key_arn is not None:
        statements.append(
            {"Sid": "UseEndpointKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arn}
        )
    if cfg.network.private:
        statements.append(
            {
                "Sid": "VpcNetworkInterfaces",
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _container(uri: str, image: str) -> aws.sagemaker.ModelPrimaryContainerArgs:
    """A packaged model (.tar.gz) by URL; an uncompressed model by S3 prefix."""
    if uri.endswith(".tar.gz"):
        return aws.sagemaker.ModelPrimaryContainerArgs(image=image, model_data_url=uri, mode="SingleModel")
    return aws.sagemaker.ModelPrimaryContainerArgs(
        image=image,
        mode="SingleModel",
        model_data_source=aws.sagemaker.ModelPrimaryContainerModelDataSourceArgs(
            s3_data_sources=[
                aws.sagemaker.ModelPrimaryContainerModelDataSourceS3DataSourceArgs(
                    s3_uri=uri.rstrip("/") + "/", s3_data_type="S3Prefix", compression_type="None"
                )
            ]
        ),
    )


def _routing(mode: str, step: int, wait: int) -> aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs:
    sm = aws.sagemaker
    return sm.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
        type=mode.upper(),
        wait_interval_in_seconds=wait,
        canary_size=sm.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs(
            type="CAPACITY_PERCENT", value=step
        )
        if mode == "canary"
        else None,
        linear_step_size=sm.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSizeArgs(
            type="CAPACITY_PERCENT", value=step
        )
        if mode == "linear"
        else None,
    )


def deployment_config(
    cfg: ManagedEndpointConfig, alarm_names: list[pulumi.Output[str]]
) -> aws.sagemaker.EndpointDeploymentConfigArgs | None:
    """Blue/green with the configured traffic shifting, baking and alarm rollback; None for SageMaker's plain update."""
    shift = cfg.traffic_shift
    if shift is None or cfg.serverless is not None:
        return None
    wait = shift.wait_minutes * 60
    routing = _routing(shift.mode, shift.step_percent, wait)
    timeout = min(AWS_MAX_EXECUTION_SECONDS, max(600, bake_seconds(cfg) + AWS_PROVISIONING_MARGIN_SECONDS))
    return aws.sagemaker.EndpointDeploymentConfigArgs(
        blue_green_update_policy=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
            traffic_routing_configuration=routing,
            termination_wait_in_seconds=wait,
            maximum_execution_timeout_in_seconds=timeout,
        ),
        auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
            alarms=[aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(alarm_name=n) for n in alarm_names]
        )
        if alarm_names
        else None,
    )


def _variant(variant: str, model: aws.sagemaker.Model, cfg: ManagedEndpointConfig, instances: int, weight: float) -> dict[str, Any]:
    if cfg.serverless is not None:
        return {
            "variant_name": variant,
            "model_name": model.name,
            "initial_variant_weight": weight,
            "serverless_config": aws.sagemaker.EndpointConfigurationProductionVariantServerlessConfigArgs(
                memory_size_in_mb=cfg.serverless.memory_mb, max_concurrency=cfg.serverless.max_concurrency
            ),
        }
    return {
        "variant_name": variant,
        "model_name": model.name,
        "instance_type": cfg.instance_type,
        "initial_instance_count": instances,
        "initial_variant_weight": weight,
        "routing_configs": [
            aws.sagemaker.EndpointConfigurationProductionVariantRoutingConfigArgs(routing_strategy="LEAST_OUTSTANDING_REQUESTS")
        ],
    }


def scaling_resource_id(endpoint_name: pulumi.Output[str], variant: str) -> pulumi.Output[str]:
    """`endpoint/<name>/variant/<variant>`, from the endpoint's name Output so the target depends on the endpoint."""
    return endpoint_name.apply(lambda n: f"endpoint/{n}/variant/{variant}")


def _alarms(
    name: str, cfg: ManagedEndpointConfig, endpoint_name: str, tags: dict[str, str], opts: pulumi.ResourceOptions
) -> list[aws.cloudwatch.MetricAlarm]:
    """The rollback alarms on the live variant: 5xx error rate and p99 model latency, per minute, 2 of 2 breaching."""
    shift = cfg.traffic_shift
    assert shift is not None
    dims = {"EndpointName": endpoint_name, "VariantName": LIVE}

    def metric(metric_id: str, metric_name: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=metric_id,
            return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/SageMaker", metric_name=metric_name, dimensions=dims, period=60, stat="Sum"
            ),
        )

    errors = aws.cloudwatch.MetricAlarm(
        f"{name}-5xx-rate",
        alarm_description=f"{endpoint_name}: 5xx responses above {shift.max_error_percent} % of invocations; rolls back releases",
        comparison_operator="GreaterThanThreshold",
        threshold=shift.max_error_percent,
        evaluation_periods=2,
        datapoints_to_alarm=2,
        treat_missing_data="notBreaching",
        metric_queries=[
            metric("errors", "Invocation5XXErrors"),
            metric("invocations", "Invocations"),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="error_rate", expression="IF(invocations > 0, 100 * errors / invocations, 0)", label="5xx %", return_data=True
            ),
        ],
        tags=tags,
        opts=opts,
    )
    latency = aws.cloudwatch.MetricAlarm(
        f"{name}-p99-latency",
        alarm_description=f"{endpoint_name}: p99 model latency above {shift.max_p99_latency_ms} ms; rolls back releases",
        namespace="AWS/SageMaker",
        metric_name="ModelLatency",
        dimensions=dims,
        extended_statistic="p99",
        period=60,
        unit="Microseconds",
        comparison_operator="GreaterThanThreshold",
        threshold=float(shift.max_p99_latency_ms * 1000),  # ModelLatency is reported in microseconds
        evaluation_periods=2,
        datapoints_to_alarm=2,
        treat_missing_data="notBreaching",
        tags=tags,
        opts=opts,
    )
    return [errors, latency]


def _capture_bucket(
    name: str, args: ManagedEndpointArgs, key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> tuple[aws.s3.Bucket, list[pulumi.Resource]]:
    """An auto-named bucket for captured requests: SSE-KMS, versioned, no public access, owner-enforced, TLS only, expiring."""
    capture = args.endpoint.data_capture
    stateful = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=args.protect_stateful))
    bucket = aws.s3.Bucket(f"{name}-capture", force_destroy=False, tags={**args.tags, "mlops-data": "endpoint-capture"}, opts=stateful)
    settings: list[pulumi.Resource] = [
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-capture-sse",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=opts,
        ),
        aws.s3.BucketPublicAccessBlock(
            f"{name}-capture-pab",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        ),
        aws.s3.BucketVersioning(
            f"{name}-capture-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=opts,
        ),
        aws.s3.BucketOwnershipControls(
            f"{name}-capture-owner",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        ),
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-capture-expiry",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-captured-data",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{CAPTURE_PREFIX}/"),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=capture.retention_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=1),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=opts,
        ),
        aws.s3.BucketPolicy(
            f"{name}-capture-tls",
            bucket=bucket.id,
            policy=bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
            opts=opts,
        ),
    ]
    return bucket, settings


def build(name: str, args: ManagedEndpointArgs, endpoint_name: str, opts: pulumi.ResourceOptions) -> BuiltEndpoint:
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
        bucket, bucket_settings = _capture_bucket(name, args, key_arn, opts)
        resources["capture_bucket"] = bucket

    role = aws.iam.Role(
        f"{name}-role",
        description=f"Execution role of SageMaker endpoint {endpoint_name}",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            }
        ),
        tags=tags,
        opts=opts,
    )
    identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=opts.provider))
    policy = aws.iam.RolePolicy(
        f"{name}-access",
        role=role.id,
        policy=pulumi.Output.all(
            identity.account_id, bucket.arn if bucket is not None else None, key_arn if key_arn is not None else None
        ).apply(
            lambda v: json.dumps(
                execution_policy(
                    cfg,
                    partition=partition,
                    region=region,
                    account=v[0],
                    endpoint_name=endpoint_name,
                    capture_bucket_arn=v[1],
                    key_arn=v[2],
                )
            )
        ),
        opts=opts,
    )
    resources.update(role=role, policy=policy)

    after_policy = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[policy]))
    vpc = (
        aws.sagemaker.ModelVpcConfigArgs(subnets=cfg.network.subnet_ids, security_group_ids=cfg.network.security_group_ids)
        if cfg.network.private
        else None
    )

    def model(role_name: str, uri: str, image: str) -> aws.sagemaker.Model:
        # Auto-named: a new artifact or image replaces the model (create first), never updates it in place.
        return aws.sagemaker.Model(
            f"{name}-model-{role_name}",
            execution_role_arn=role.arn,
            primary_container=_container(uri, image),
            enable_network_isolation=cfg.network.private,
            vpc_config=vpc,
            tags={**tags, "mlops-variant": role_name},
            opts=after_policy,
        )

    live_model = model(LIVE, cfg.model_uri, cfg.image)
    models = {LIVE: live_model}
    candidates: dict[str, CandidateVersion] = cfg.candidates
    for role_name, candidate in candidates.items():
        models[role_name] = model(role_name, candidate.model_uri, candidate.image or cfg.image)
    resources.update({f"model_{k}": v for k, v in models.items()})

    canary_weight = cfg.canary.percent / 100 if cfg.canary else 0.0
    variants = [_variant(LIVE, live_model, cfg, max(cfg.instances.min, 1), round(1.0 - canary_weight, 4))]
    if cfg.canary is not None:
        variants.append(_variant(CANARY, models[CANARY], cfg, cfg.canary.instances, canary_weight))
    shadows = []
    if cfg.shadow is not None:
        # The shadow's weight relative to the production variant's (1.0) is the share of requests copied to it.
        shadows.append(
            aws.sagemaker.EndpointConfigurationShadowProductionVariantArgs(
                **_variant(SHADOW, models[SHADOW], cfg, cfg.shadow.instances, cfg.shadow.percent / 100)
            )
        )
    data_capture = None
    if capture:
        assert bucket is not None
        data_capture = aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
            enable_capture=True,
            initial_sampling_percentage=cfg.data_capture.sampling_percent,
            destination_s3_uri=bucket.bucket.apply(lambda b: f"s3://{b}/{CAPTURE_PREFIX}/{endpoint_name}"),
            kms_key_id=key_arn,
            capture_options=[
                aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input"),
                aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Output"),
            ],
        )
    # No `name`: every field is immutable upstream, so a change must create a new, Pulumi-named configuration
    # (create-before-delete) that the endpoint then switches to with its deployment config.
    config = aws.sagemaker.EndpointConfiguration(
        f"{name}-config",
        production_variants=[aws.sagemaker.EndpointConfigurationProductionVariantArgs(**v) for v in variants],
        shadow_production_variants=shadows or None,
        data_capture_config=data_capture,
        kms_key_arn=key_arn if volume_key else None,
        tags=tags,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=bucket_settings)),
    )
    resources["config"] = config

    alarms: list[aws.cloudwatch.MetricAlarm] = []
    if cfg.traffic_shift is not None and cfg.traffic_shift.auto_rollback and cfg.serverless is None:
        alarms = _alarms(name, cfg, endpoint_name, tags, opts)
        resources.update(alarm_errors=alarms[0], alarm_latency=alarms[1])
    endpoint = aws.sagemaker.Endpoint(
        f"{name}-endpoint",
        name=endpoint_name,
        endpoint_config_name=config.name,
        deployment_config=deployment_config(cfg, [a.name for a in alarms]),
        tags=tags,
        opts=opts,
    )

    if cfg.serverless is None:
        scaled = [(LIVE, max(cfg.instances.min, 1), cfg.instances.max)]
        if cfg.canary is not None:
            scaled.append((CANARY, cfg.canary.instances, max(cfg.canary.instances, cfg.instances.max)))
        for variant, low, high in scaled:
            if high <= low:
                continue
            target = aws.appautoscaling.Target(
                f"{name}-scaling-{variant}",
                service_namespace="sagemaker",
                scalable_dimension=SCALABLE_DIMENSION,
                resource_id=scaling_resource_id(endpoint.name, variant),
                min_capacity=low,
                max_capacity=high,
                opts=opts,
            )
            policy_ = aws.appautoscaling.Policy(
                f"{name}-invocations-{variant}",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                scalable_dimension=target.scalable_dimension,
                resource_id=target.resource_id,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    target_value=float(cfg.autoscaling.target),
                    predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                        predefined_metric_type=INVOCATIONS_METRIC
                    ),
                    scale_in_cooldown=300,
                    scale_out_cooldown=60,
                ),
                opts=opts,
            )
            resources[f"scaling_{variant}"] = target
            resources[f"scaling_policy_{variant}"] = policy_

    url = endpoint.name.apply(lambda n: f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{n}/invocations")
    return BuiltEndpoint(endpoint=endpoint, name=endpoint.name, invoke_url=url, resources=resources)
