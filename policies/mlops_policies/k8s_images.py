"""Pinned container images (k8s-image-pinned): never `latest` or untagged, and by digest where the environment requires it."""

from __future__ import annotations

import re

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from . import wire
from .k8s_objects import EXEMPT_NAMESPACES_PROPERTY, containers, workload_of
from .settings import AnyPolicy, message, schema, setting_flag, setting_strings, settings

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_IMAGE_SCHEMA = schema(
    requireDigest={"type": "boolean", "default": True, "description": "Require every image to be pinned by @sha256 digest."},
    forbiddenTags={
        "type": "array",
        "items": {"type": "string"},
        "default": ["latest"],
        "description": "Floating tags that are never allowed.",
    },
    exemptNamespaces=EXEMPT_NAMESPACES_PROPERTY,
)


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``repo:tag`` or ``repo:tag@digest``), or None when it has none."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_problem(image: str, require_digest: bool, forbidden_tags: list[str]) -> str | None:
    """Why an image reference is not pinned, or None when it is."""
    tag = image_tag(image)
    has_digest = bool(_DIGEST.search(image))
    if tag is not None and tag.lower() in {t.lower() for t in forbidden_tags}:
        return f"image '{image}' uses the floating tag '{tag}'"
    if require_digest and not has_digest:
        return f"image '{image}' is not pinned by digest"
    if tag is None and not has_digest:
        return f"image '{image}' has neither tag nor digest, so it means ':latest'"
    return None


def _check_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    workload = workload_of(args, _IMAGE_SCHEMA)
    if workload is None:
        return
    subject, pod_spec, _ = workload
    values = settings(args, _IMAGE_SCHEMA)
    require_digest = setting_flag(values, "requireDigest", True)
    forbidden = setting_strings(values, "forbiddenTags", ["latest"])
    for label, container in containers(pod_spec):
        image = wire.text(container.get("image"))
        problem = image_problem(image, require_digest, forbidden) if image else "no image"
        if problem:
            fix = (
                "pin the image by digest: '<registry>/<repo>:<version>@sha256:<digest>' (e.g. from `crane digest`)"
                if require_digest
                else "pin the image to an immutable version tag (and by @sha256 digest where possible)"
            )
            where = "the image's `digest` (serving.triton_image, serving.sync_image, monitoring.pushgateway_image, ...)"
            report(message(f"{label} of {subject}", problem, fix, where if require_digest else None), None)


image_pinned = ResourceValidationPolicy(
    name="k8s-image-pinned",
    description="Container images are pinned: never `latest` or untagged, and by digest where the environment requires it.",
    validate=_check_images,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_IMAGE_SCHEMA,
)


POLICIES: list[AnyPolicy] = [image_pinned]
