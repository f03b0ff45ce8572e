"""Ownership tags and labels: team, environment and cost-center on every taggable resource, model on serving resources.

AWS and GCP resources get most of their tags from the provider (``defaultTags.tags`` on aws,
``defaultLabels`` on gcp), so the effective tags are the provider's defaults overlaid with the
resource's own. Azure has no default tags; every resource carries its own. Kubernetes objects carry
them as labels, where a prefixed key (``mlops.platform/team``) counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyProviderResource, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .k8s_objects import containers, describe, kind_of, pod_template, rendered_by_chart
from .settings import AnyPolicy, message, schema, setting_strings, setting_text, settings

REQUIRED_TAGS = ["team", "environment", "cost-center"]

# Where a type keeps its tags when that is not the cloud's usual field, and whether provider defaults reach it.
TAG_FIELDS: dict[str, tuple[tuple[str, ...], bool]] = {
    "gcp:container/nodePool:NodePool": (("nodeConfig", "resourceLabels"), False),
    "gcp:sql/databaseInstance:DatabaseInstance": (("settings", "userLabels"), False),
}
CLOUD_TAG_FIELD = {"aws": ("tags",), "gcp": ("labels",), "azure": ("tags",)}

TAGGABLE_TYPES = frozenset(
    {
        "aws:eks/nodeGroup:NodeGroup",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:rds/instance:Instance",
        "aws:rds/cluster:Cluster",
        "aws:sagemaker/model:Model",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "aws:sagemaker/endpoint:Endpoint",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:appautoscaling/target:Target",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:ecr/repository:Repository",
        "aws:efs/fileSystem:FileSystem",
        "aws:secretsmanager/secret:Secret",
        "aws:sns/topic:Topic",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/securityGroup:SecurityGroup",
        "gcp:container/nodePool:NodePool",
        "gcp:storage/bucket:Bucket",
        "gcp:sql/databaseInstance:DatabaseInstance",
        "gcp:vertex/aiEndpoint:AiEndpoint",
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:artifactregistry/repository:Repository",
        "azure-native:containerservice:AgentPool",
        "azure-native:storage:StorageAccount",
        "azure-native:dbforpostgresql:Server",
        "azure-native:machinelearningservices:Workspace",
        "azure-native:machinelearningservices:OnlineEndpoint",
        "azure-native:machinelearningservices:OnlineDeployment",
        "azure-native:keyvault:Vault",
        "azure-native:containerregistry:Registry",
        "azure-native:managedidentity:UserAssignedIdentity",
        "azure-native:insights:MetricAlert",
    }
)
"""Types known to take tags; other cloud types are checked only when they set their tag field."""

SERVING_TYPES = frozenset(
    {
        "aws:sagemaker/model:Model",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "aws:sagemaker/endpoint:Endpoint",
        "gcp:vertex/aiEndpoint:AiEndpoint",
        "azure-native:machinelearningservices:OnlineEndpoint",
        "azure-native:machinelearningservices:OnlineDeployment",
    }
)
"""Resources that serve one model and so carry a ``model`` tag."""


def provider_default_tags(provider: PolicyProviderResource | None) -> dict[str, str]:
    """The tags a provider adds to every resource (aws defaultTags.tags, gcp defaultLabels)."""
    if provider is None:
        return {}
    if provider.resource_type == "pulumi:providers:aws":
        return wire.string_map(wire.get(provider.props, "defaultTags", "tags"))
    if provider.resource_type == "pulumi:providers:gcp":
        return wire.string_map(provider.props.get("defaultLabels"))
    return {}


def effective_tags(
    resource_type: str, props: Mapping[str, Any], provider: PolicyProviderResource | None
) -> tuple[dict[str, str], str] | None:
    """(tags the resource ends up with, the field to set them in), or None for an untaggable or unknown type."""
    kind = kind_of(resource_type)
    if kind is not None:
        return wire.string_map(wire.get(props, "metadata", "labels")), "metadata.labels"
    cloud = wire.cloud_of(resource_type)
    if cloud is None:
        return None
    path, defaults_apply = TAG_FIELDS.get(resource_type, (CLOUD_TAG_FIELD[cloud], cloud in ("aws", "gcp")))
    own = wire.get(props, *path)
    if own is None and resource_type not in TAGGABLE_TYPES:
        return None
    tags = provider_default_tags(provider) if defaults_apply else {}
    tags.update(wire.string_map(own))
    return tags, ".".join(path)


def find_tag(tags: Mapping[str, str], key: str, prefixed: bool) -> str | None:
    """The value of ``key`` (or, for Kubernetes labels, ``<prefix>/key``), None when absent."""
    if key in tags:
        return tags[key]
    if prefixed:
        for k, v in sorted(tags.items()):
            if k.rsplit("/", 1)[-1] == key and "/" in k:
                return v
    return None


# --- required tags -----------------------------------------------------------------------------------------------------

_TAGS_SCHEMA = schema(
    requiredTags={"type": "array", "items": {"type": "string"}, "default": REQUIRED_TAGS, "description": "Tags every resource carries."},
    environment={"type": "string", "default": "", "description": "When set, the environment tag must have this value."},
)


def subject_of(args: ResourceValidationArgs) -> str:
    """How messages name the resource: ``Kind 'namespace/name'`` for Kubernetes objects, ``Type 'name'`` otherwise."""
    kind = kind_of(args.resource_type)
    return describe(kind, args.props, args.name) if kind else f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}'"


def _check_required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    prefixed = kind_of(args.resource_type) is not None
    if prefixed and rendered_by_chart(args.opts.parent):
        return  # a third-party chart's manifest: labelled through the chart's values, not by our components
    found = effective_tags(args.resource_type, args.props, args.provider)
    if found is None:
        return
    tags, field = found
    values = settings(args, _TAGS_SCHEMA)
    missing = [k for k in setting_strings(values, "requiredTags", REQUIRED_TAGS) if not (find_tag(tags, k, prefixed) or "").strip()]
    subject = subject_of(args)
    where = "the stack's tags config (team, cost_center), which components apply" + (
        "" if prefixed else " and the provider's default tags where the cloud has them"
    )
    if missing:
        report(
            message(subject, f"lacks the tag(s) {', '.join(missing)} in {field}", f"set {', '.join(missing)} through {where}"),
            None,
        )
    environment = setting_text(values, "environment", "")
    actual = find_tag(tags, "environment", prefixed)
    if environment and actual is not None and actual != environment:
        report(
            message(subject, f"is tagged environment '{actual}' in a '{environment}' stack", f"tag it environment '{environment}'"),
            None,
        )


required_tags = ResourceValidationPolicy(
    name="required-tags",
    description="Every taggable cloud resource and Kubernetes object we author carries team, environment and cost-center.",
    validate=_check_required_tags,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_TAGS_SCHEMA,
)


# --- model tag -------------------------------------------------------------------------------------------------------

_MODEL_SCHEMA = schema(
    modelTag={"type": "string", "default": "model", "description": "Tag (label) naming the model a serving resource serves."},
)


def _serves_model(resource_type: str, props: Mapping[str, Any]) -> bool:
    if resource_type in SERVING_TYPES:
        return True
    template = pod_template(resource_type, props)
    return template is not None and any("tritonserver" in wire.text(c.get("image")) for _, c in containers(template[0]))


def _check_model_tag(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _serves_model(args.resource_type, args.props):
        return
    found = effective_tags(args.resource_type, args.props, args.provider)
    tags, field = found if found is not None else ({}, "tags")
    key = setting_text(settings(args, _MODEL_SCHEMA), "modelTag", "model")
    if not (find_tag(tags, key, kind_of(args.resource_type) is not None) or "").strip():
        report(
            message(
                subject_of(args),
                f"serves a model but has no '{key}' tag in {field}, so its cost cannot be attributed to the model",
                f"tag it {key}=<model name> (Kubernetes: label mlops.platform/{key})",
            ),
            None,
        )


serving_model_tag = ResourceValidationPolicy(
    name="serving-model-tag",
    description="Resources that serve a model (managed endpoints, Triton workloads) carry a `model` tag for cost attribution.",
    validate=_check_model_tag,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=_MODEL_SCHEMA,
)


POLICIES: list[AnyPolicy] = [required_tags, serving_model_tag]
