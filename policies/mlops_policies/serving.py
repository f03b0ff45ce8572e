"""Model serving: managed endpoints capture data and roll back automatically, canaries stay small, models are pinned."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .kubernetes import containers, describe, image_tag, kind_of, pod_template
from .settings import AnyPolicy, message, schema, setting_number, setting_strings, settings

SM_MODEL = "aws:sagemaker/model:Model"
SM_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
SM_ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
VERTEX_GARDEN = "gcp:vertex/aiEndpointWithModelGardenDeployment:AiEndpointWithModelGardenDeployment"
AML_ENDPOINT = "azure-native:machinelearningservices:OnlineEndpoint"
AML_DEPLOYMENT = "azure-native:machinelearningservices:OnlineDeployment"
HTTP_ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
CANARY_ANNOTATION = "mlops.platform/canary-weight"
FLAGGER_CANARY = "kubernetes:flagger.app/v1beta1:Canary"

FLOATING_ALIASES = ["latest", "current", "newest", "head", "stable", "champion", "challenger"]
"""Version words that move: never allowed where a model version or artifact path is expected."""
MLFLOW_STAGES = {"production", "staging", "archived", "none"}


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


# --- canary weight -----------------------------------------------------------------------------------------------------

_CANARY_SCHEMA = schema(
    maxCanaryPercent={
        "type": "number",
        "minimum": 0,
        "maximum": 100,
        "default": 25,
        "description": "Largest share of traffic any canary (non-primary) variant may receive, in percent.",
    },
)


def canary_shares(weights: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """(total weight, share in percent of every variant except the largest) of a traffic split."""
    positive = {k: v for k, v in weights.items() if v > 0}
    total = sum(positive.values())
    if total <= 0 or len(positive) < 2:
        return total, {}
    primary = max(sorted(positive), key=lambda k: positive[k])
    return total, {k: 100.0 * v / total for k, v in sorted(positive.items()) if k != primary}


def _weights(raw: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in wire.mapping(raw).items():
        n = wire.number(value)
        if n is not None:
            out[str(key)] = n
    return out


def traffic_splits(args: ResourceValidationArgs) -> list[tuple[str, dict[str, float], bool]]:
    """(what, weights, must sum to 100) for every traffic split the resource declares."""
    t, p = args.resource_type, args.props
    found: list[tuple[str, dict[str, float], bool]] = []
    if t == SM_CONFIG:
        weights: dict[str, float] = {}
        for i, variant in enumerate(wire.items(p.get("productionVariants"))):
            weight = wire.number(wire.get(variant, "initialVariantWeight"))
            weights[wire.text(wire.get(variant, "variantName")) or f"variant {i}"] = 1.0 if weight is None else weight
        found.append(("production variants", weights, False))
    elif t == AML_ENDPOINT:
        found.append(("traffic", _weights(wire.get(p, "properties", "traffic")), True))
    elif t == VERTEX_ENDPOINT and p.get("trafficSplit") is not None:
        found.append(("trafficSplit", _weights(p.get("trafficSplit")), True))
    elif kind_of(t) in HTTP_ROUTE_KINDS:
        for i, rule in enumerate(wire.items(wire.get(p, "spec", "rules"))):
            refs = wire.items(wire.get(rule, "backendRefs"))
            weights = {
                f"{wire.text(wire.get(r, 'name'))}#{j}": 1.0 if wire.get(r, "weight") is None else wire.number(wire.get(r, "weight")) or 0.0
                for j, r in enumerate(refs)
            }
            found.append((f"rule {i} backendRefs", weights, False))
    elif kind_of(t) == "VirtualService":
        for i, route in enumerate(wire.items(wire.get(p, "spec", "http"))):
            destinations = wire.items(wire.get(route, "route"))
            if len(destinations) > 1:
                weights = {
                    f"{wire.text(wire.get(d, 'destination', 'host'))}/{wire.text(wire.get(d, 'destination', 'subset'))}#{j}": wire.number(
                        wire.get(d, "weight")
                    )
                    or 0.0
                    for j, d in enumerate(destinations)
                }
                found.append((f"http route {i}", weights, True))
    return found


def _check_canary_weight(args: ResourceValidationArgs, report: ReportViolation) -> None:
    maximum = setting_number(settings(args, _CANARY_SCHEMA), "maxCanaryPercent", 25)
    subject = f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}'"
    for what, weights, sums_to_100 in traffic_splits(args):
        total, shares = canary_shares(weights)
        if sums_to_100 and weights and round(total, 6) != 100:
            report(
                message(subject, f"{what} weights sum to {total:g}, not 100", "make the weights of the split add up to exactly 100"),
                None,
            )
        for variant, share in shares.items():
            if share > maximum:
                report(
                    message(
                        subject,
                        f"{what} sends {share:.4g}% of traffic to canary '{variant}', above the {maximum:g}% allowed here",
                        f"lower the canary weight to at most {maximum:g}% and shift the rest after it proves healthy",
                    ),
                    None,
                )
    p = args.props
    if args.resource_type == SM_ENDPOINT:
        routing = wire.mapping(wire.get(p, "deploymentConfig", "blueGreenUpdatePolicy", "trafficRoutingConfiguration"))
        for field in ("canarySize", "linearStepSize"):
            size = wire.mapping(routing.get(field))
            value = wire.number(size.get("value"))
            if wire.text(size.get("type")) == "CAPACITY_PERCENT" and value is not None and value > maximum:
                report(
                    message(
                        subject,
                        f"{field} shifts {value:g}% of capacity at once, above {maximum:g}%",
                        f"set {field}.value to at most {maximum:g}",
                        f"managed_endpoints[].traffic_shift (canary or linear step) of at most {maximum:g} %",
                    ),
                    None,
                )
    if args.resource_type == AML_ENDPOINT:
        mirror = _weights(wire.get(p, "properties", "mirrorTraffic"))
        if sum(mirror.values()) > 50:
            report(
                message(
                    subject,
                    f"mirrors {sum(mirror.values()):g}% of traffic; Azure ML allows at most 50",
                    "lower mirrorTraffic to 50 or less",
                ),
                None,
            )
    if args.resource_type == FLAGGER_CANARY:
        analysis = wire.mapping(wire.get(p, "spec", "analysis"))
        steps = [wire.number(x) for x in wire.items(analysis.get("stepWeights"))]
        largest = max([x for x in steps if x is not None] + [wire.number(analysis.get("maxWeight")) or 0.0])
        if largest > maximum:
            report(
                message(
                    subject,
                    f"releases a model version to {largest:g}% of traffic before promotion, above the {maximum:g}% allowed here",
                    f"keep analysis.stepWeights and maxWeight at most {maximum:g}",
                    f"models[].release.steps (or max_percent) of at most {maximum:g} %",
                ),
                None,
            )
    if kind_of(args.resource_type) is not None:
        annotated = wire.number(wire.string_map(wire.get(p, "metadata", "annotations")).get(CANARY_ANNOTATION))
        if annotated is not None and not 0 <= annotated <= maximum:
            report(
                message(
                    describe(kind_of(args.resource_type) or "object", p, args.name),
                    f"declares canary weight {annotated:g}% ({CANARY_ANNOTATION}), outside 0-{maximum:g}%",
                    f"set the model's canary weight to at most {maximum:g}",
                    f"models[].canary.weight: {maximum:g} or less",
                ),
                None,
            )


canary_weight_bounds = ResourceValidationPolicy(
    name="canary-weight-bounds",
    description="Canary and traffic-shift steps send a bounded share of traffic to the new model version; splits add up.",
    validate=_check_canary_weight,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_CANARY_SCHEMA,
)


# --- pinned model versions ---------------------------------------------------------------------------------------------

_PINNED_SCHEMA = schema(
    floatingAliases={
        "type": "array",
        "items": {"type": "string"},
        "default": FLOATING_ALIASES,
        "description": "Version aliases that float and are rejected in model references.",
    }
)
_MLFLOW_URI = re.compile(r"models:/(?P<name>[^/@\s]+)(?:/(?P<version>[^/\s]+)|@(?P<alias>[^/\s]+))?")
_LOAD_MODEL = re.compile(r"^--load-model=(?P<model>.+)$")
_AML_ASSET = re.compile(r"^azureml:(?P<name>[^:@]+)(?::(?P<version>[^:@]+)|@(?P<label>.+))?$")
_ARM_VERSION = re.compile(r"/(?:models|environments)/[^/]+/(?:versions/(?P<version>[^/]+)|labels/(?P<label>[^/]+))$", re.IGNORECASE)
_PACKAGE_ARN = re.compile(r":model-package/[^/]+/\d+$")


def floating_reference(value: str, aliases: set[str]) -> str | None:
    """Why a model or artifact reference floats, or None when it names a fixed version."""
    for match in _MLFLOW_URI.finditer(value):
        version, alias = match.group("version"), match.group("alias")
        if alias:
            return f"MLflow alias '@{alias}'"
        if version is None:
            return "an MLflow model without a version"
        if not version.isdigit():
            return f"MLflow {'stage' if version.lower() in MLFLOW_STAGES else 'version'} '{version}'"
    segments = [s for s in re.split(r"[/:@=,\s]+", value) if s]
    for segment in segments:
        if segment.lower() in aliases:
            return f"the floating alias '{segment}'"
    return None


def _triton_problems(arg: str, aliases: set[str]) -> list[str]:
    problems: list[str] = []
    if arg.startswith("--model-control-mode=") and arg.split("=", 1)[1].lower() == "poll":
        problems.append("Triton polls the model repository and loads whatever version appears (--model-control-mode=poll)")
    if arg.startswith("--repository-poll-secs"):
        problems.append(f"Triton re-reads the repository periodically ({arg})")
    load = _LOAD_MODEL.match(arg)
    if load:
        why = floating_reference(load.group("model"), aliases)
        if why:
            problems.append(f"--load-model uses {why}")
    return problems


def _triton_config_problem(config: str) -> str | None:
    if "version_policy" not in config:
        return "config.pbtxt has no version_policy, so Triton serves the latest version in the repository"
    policy = config.split("version_policy", 1)[1]
    if "specific" not in policy.split("}", 1)[0] + "}":
        return "config.pbtxt version_policy is 'latest' or 'all', not 'specific'"
    return None


def _aml_asset_problem(reference: str, aliases: set[str]) -> str | None:
    match = _AML_ASSET.match(reference)
    if match:
        if match.group("label"):
            return f"label '@{match.group('label')}'"
        version = match.group("version")
        if version is None:
            return "no version"
        return f"version '{version}'" if version.lower() in aliases else None
    arm = _ARM_VERSION.search(reference)
    if arm:
        if arm.group("label"):
            return f"label '{arm.group('label')}'"
        version = arm.group("version") or ""
        return f"version '{version}'" if version.lower() in aliases else None
    if reference.startswith("azureml://") or reference.startswith("/subscriptions/"):
        return "no version"
    return None


def _image_floats(image: str, aliases: set[str]) -> bool:
    tag = image_tag(image)
    return "@sha256:" not in image and (tag is None or tag.lower() in aliases)


def _check_model_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    t, p, name = args.resource_type, args.props, args.name
    aliases = {a.lower() for a in setting_strings(settings(args, _PINNED_SCHEMA), "floatingAliases", FLOATING_ALIASES)}

    def flag(subject: str, problem: str, fix: str) -> None:
        report(message(subject, problem, fix), None)

    template = pod_template(t, p)
    if template is not None:
        pod_spec = template[0]
        subject = describe(kind_of(t) or "object", p, name)
        for label, container in containers(pod_spec):
            words = [wire.text(a) for a in [*wire.items(container.get("command")), *wire.items(container.get("args"))]]
            for arg in words:
                for problem in _triton_problems(arg, aliases):
                    flag(
                        f"{label} of {subject}",
                        problem,
                        "use --model-control-mode=explicit with --load-model=<model> and a config.pbtxt version_policy "
                        "{ specific { versions: [N] } }",
                    )
                why = floating_reference(arg, aliases) if "models:/" in arg else None
                if why:
                    flag(f"{label} of {subject}", f"argument '{arg}' uses {why}", "reference models:/<name>/<version number>")
            for env in wire.items(container.get("env")):
                value = wire.text(wire.get(env, "value"))
                env_name = wire.text(wire.get(env, "name"))
                why = floating_reference(value, aliases) if ("models:/" in value or "VERSION" in env_name.upper()) else None
                if why:
                    flag(f"{label} of {subject}", f"env {env_name}='{value}' uses {why}", "set it to a fixed model version number")
    elif kind_of(t) == "ConfigMap":
        for key, value in wire.string_map(p.get("data")).items():
            if key.endswith("config.pbtxt"):
                config_problem = _triton_config_problem(value)
                if config_problem:
                    flag(
                        f"ConfigMap '{name}' key '{key}'",
                        config_problem,
                        "add version_policy: { specific: { versions: [N] } } naming the model version to serve",
                    )
    elif t == SM_MODEL:
        for i, container in enumerate([wire.mapping(p.get("primaryContainer")), *map(wire.mapping, wire.items(p.get("containers")))]):
            if not container:
                continue
            where = f"SageMaker model '{name}' container {i}"
            uris = [wire.text(container.get("modelDataUrl")), *map(wire.text, wire.find_key(container.get("modelDataSource"), "s3Uri"))]
            for uri in filter(None, uris):
                why = floating_reference(uri, aliases)
                if why:
                    flag(
                        where,
                        f"model data '{uri}' uses {why}",
                        "point modelDataUrl at the immutable artifact of one version, e.g. .../v5/model.tar.gz",
                    )
            package = wire.text(container.get("modelPackageName"))
            if package and not _PACKAGE_ARN.search(package):
                flag(
                    where,
                    f"model package '{package}' is a group, not a version",
                    "use the versioned ARN ...:model-package/<group>/<version>",
                )
            image = wire.text(container.get("image"))
            if image and _image_floats(image, aliases):
                flag(where, f"image '{image}' floats", "pin the image by version tag and @sha256 digest")
            for key, value in wire.string_map(container.get("environment")).items():
                if value.lower() in aliases:
                    flag(where, f"environment {key}='{value}' is a floating alias", "set it to a fixed version")
    elif t == AML_DEPLOYMENT:
        props = wire.mapping(p.get("properties"))
        for field in ("model", "environmentId"):
            reference = wire.text(props.get(field))
            asset_problem = _aml_asset_problem(reference, aliases) if reference else None
            if asset_problem:
                flag(
                    f"Azure ML deployment '{name}'",
                    f"{field} '{reference}' has {asset_problem}",
                    f"reference a fixed version: azureml:<name>:<version> for {field}",
                )
    elif t == VERTEX_GARDEN:
        publisher = wire.text(p.get("publisherModelName"))
        if publisher:
            version = publisher.split("@", 1)[1] if "@" in publisher else ""
            if not version or version.lower() in aliases:
                flag(
                    f"Vertex AI Model Garden deployment '{name}'",
                    f"publisherModelName '{publisher}' has no fixed version",
                    "append the model version: publishers/<p>/models/<m>@<version>",
                )
        if wire.text(p.get("huggingFaceModelId")):
            flag(
                f"Vertex AI Model Garden deployment '{name}'",
                f"Hugging Face model '{wire.text(p.get('huggingFaceModelId'))}' is resolved to its newest revision at deploy time",
                "mirror a fixed revision into the model registry and deploy that",
            )
        image = wire.text(wire.get(p, "modelConfig", "containerSpec", "imageUri"))
        if image and _image_floats(image, aliases):
            flag(
                f"Vertex AI Model Garden deployment '{name}'", f"image '{image}' floats", "pin the image by version tag and @sha256 digest"
            )


model_version_pinned = ResourceValidationPolicy(
    name="model-version-pinned",
    description="Served models name a fixed version: no floating aliases (latest, champion, MLflow stages) in Triton or managed endpoints.",
    validate=_check_model_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_PINNED_SCHEMA,
)


POLICIES: list[AnyPolicy] = [endpoint_data_capture, endpoint_auto_rollback, canary_weight_bounds, model_version_pinned]
