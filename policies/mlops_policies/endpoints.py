"""Managed inference endpoints (SageMaker, Vertex AI, Azure ML): their resource types, request/response capture
(endpoint-data-capture) and automatic rollback (endpoint-auto-rollback)."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .settings import AnyPolicy, message, schema, setting_number, settings

SM_MODEL = "aws:sagemaker/model:Model"
SM_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SM_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
VERTEX_GARDEN = "gcp:vertex/aiEndpointWithModelGardenDeployment:AiEndpointWithModelGardenDeployment"
AML_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
AML_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"


# --- data capture ------------------------------------------------------------------------------------------------------

_CAPTURE_SCHEMA = schema(
    minSamplingPercent={
        "type": "number",
        "minimum": 0,
        "maximum": 100,
        "default": 1,
        "description": "Smallest share of requests captured, in percent.",
    }
)


def _check_data_capture(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    minimum = setting_number(settings(args, _CAPTURE_SCHEMA), "minSamplingPercent", 1)
    if t == SM_CONFIG:
        capture = wire.mapping(p.get("dataCaptureConfig"))
        sampling = wire.number(capture.get("initialSamplingPercentage"))
        if wire.flag(capture.get("enableCapture")) is not True or sampling is None or sampling < minimum:
            report(
                message(
                    f"SageMaker endpoint configuration '{name}'",
                    "does not capture requests and responses"
                    if not capture
                    else f"captures {'nothing' if wire.flag(capture.get('enableCapture')) is not True else f'{sampling}%'}",
                    "set dataCaptureConfig with enableCapture: true, initialSamplingPercentage >= "
                    f"{minimum:g}, captureOptions Input and Output and a destinationS3Uri",
                    f"managed_endpoints[].data_capture: {{enabled: true, sampling_percent: {minimum:g} or more}}",
                ),
                None,
            )
    elif t == VERTEX_ENDPOINT:
        logging = wire.mapping(p.get("predictRequestResponseLoggingConfig"))
        rate = wire.number(logging.get("samplingRate"))
        if wire.flag(logging.get("enabled")) is not True or (rate is not None and rate * 100 < minimum):
            report(
                message(
                    f"Vertex AI endpoint '{name}'",
                    "does not log prediction requests and responses",
                    f"set predictRequestResponseLoggingConfig: {{enabled: true, samplingRate: >= {minimum / 100:g}, bigqueryDestination}}",
                    f"managed_endpoints[].data_capture: {{enabled: true, sampling_percent: {minimum:g} or more}}",
                ),
                None,
            )
    elif t == VERTEX_GARDEN:
        report(
            message(
                f"Vertex AI Model Garden deployment '{name}'",
                "creates an endpoint without request/response logging, and the resource cannot enable it",
                "deploy to a gcp.vertex.AiEndpoint with predictRequestResponseLoggingConfig enabled",
            ),
            None,
        )
    elif t == AML_DEPLOYMENT:
        props = wire.mapping(p.get("properties"))
        if wire.text(props.get("endpointComputeType")) == "Kubernetes":
            return
        collections = wire.mapping(wire.get(props, "dataCollector", "collections"))
        enabled = [k for k, v in collections.items() if wire.text(wire.get(v, "dataCollectionMode")) == "Enabled"]
        if not enabled:
            report(
                message(
                    f"Azure ML deployment '{name}'",
                    "collects no model inputs/outputs",
                    "set properties.dataCollector.collections {model_inputs, model_outputs} with dataCollectionMode: 'Enabled'",
                    f"managed_endpoints[].data_capture: {{enabled: true, sampling_percent: {minimum:g} or more}}",
                ),
                None,
            )


endpoint_data_capture = ResourceValidationPolicy(
    name="endpoint-data-capture",
    description="Managed inference endpoints capture a sample of requests and responses for monitoring and drift detection.",
    validate=_check_data_capture,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_CAPTURE_SCHEMA,
)


# --- automatic rollback ------------------------------------------------------------------------------------------------


def _check_auto_rollback(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SM_ENDPOINT:
        return
    config = wire.mapping(args.props.get("deploymentConfig"))
    alarms = [wire.text(wire.get(a, "alarmName")) for a in wire.items(wire.get(config, "autoRollbackConfiguration", "alarms"))]
    guarded = config.get("blueGreenUpdatePolicy") is not None or config.get("rollingUpdatePolicy") is not None
    if not guarded or not any(alarms):
        report(
            message(
                f"SageMaker endpoint '{args.name}'",
                "updates without deployment guardrails" if not guarded else "has no rollback alarms",
                "set deploymentConfig with a blueGreenUpdatePolicy (CANARY or LINEAR traffic routing) and "
                "autoRollbackConfiguration.alarms naming CloudWatch alarms on 5xx errors and model latency",
            ),
            None,
        )


endpoint_auto_rollback = ResourceValidationPolicy(
    name="endpoint-auto-rollback",
    description="Managed endpoints deploy with guardrails that roll back automatically on alarms (SageMaker deployment config).",
    validate=_check_auto_rollback,
    enforcement_level=EnforcementLevel.MANDATORY,
)


POLICIES: list[AnyPolicy] = [endpoint_data_capture, endpoint_auto_rollback]
