"""How a SageMaker endpoint takes a new configuration: blue/green traffic shifting, baking, and the alarms that roll it back."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from ..catalog.endpoint_capabilities import AWS_MAX_EXECUTION_SECONDS, AWS_PROVISIONING_MARGIN_SECONDS
from ..config.endpoint_checks import bake_seconds
from ..config.endpoints import ManagedEndpointConfig
from .sagemaker_variants import LIVE


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


def rollback_alarms(
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
