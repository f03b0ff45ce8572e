"""Autoscaling of a SageMaker endpoint's instance variants: a target and an invocations-per-instance policy each."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from ..config.endpoints import ManagedEndpointConfig
from .sagemaker_variants import CANARY, LIVE

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"


def scaling_resource_id(endpoint_name: pulumi.Output[str], variant: str) -> pulumi.Output[str]:
    """`endpoint/<name>/variant/<variant>`, from the endpoint's name Output so the target depends on the endpoint."""
    return endpoint_name.apply(lambda n: f"endpoint/{n}/variant/{variant}")


def autoscaling(
    name: str, cfg: ManagedEndpointConfig, endpoint_name: pulumi.Output[str], opts: pulumi.ResourceOptions
) -> dict[str, pulumi.Resource]:
    """Targets and policies, by role (`scaling_<variant>`, `scaling_policy_<variant>`), for variants that can grow."""
    resources: dict[str, pulumi.Resource] = {}
    if cfg.serverless is not None:
        return resources
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
            resource_id=scaling_resource_id(endpoint_name, variant),
            min_capacity=low,
            max_capacity=high,
            opts=opts,
        )
        policy = aws.appautoscaling.Policy(
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
        resources[f"scaling_policy_{variant}"] = policy
    return resources
