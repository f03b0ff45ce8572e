"""Pinned model versions (model-version-pinned): served models name a fixed version, in Triton and in managed endpoints."""

from __future__ import annotations

import re

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .endpoints import AML_DEPLOYMENT, SM_MODEL, VERTEX_GARDEN
from .k8s_images import image_tag
from .k8s_objects import containers, describe, kind_of, pod_template
from .settings import AnyPolicy, message, schema, setting_strings, settings

FLOATING_ALIASES = ["latest", "current", "newest", "head", "stable", "champion", "challenger"]
"""Version words that move: never allowed where a model version or artifact path is expected."""
MLFLOW_STAGES = {"production", "staging", "archived", "none"}

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


POLICIES: list[AnyPolicy] = [model_version_pinned]
