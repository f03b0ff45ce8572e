"""Shared building blocks for the configuration models.

Every model forbids unknown keys (a typo must fail, not be ignored) and is frozen, so a
validated configuration cannot drift while the program builds resources.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

#: Error type used by cross-field checks; its context carries ``(field, value, expected)`` triples.
COMBINATION_ERROR = "invalid_combination"

Issue = tuple[str, Any, str]
"""A cross-field problem: the field (relative to the model), the bad value, what is expected."""


class StrictModel(BaseModel):
    """Base model: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def raise_issues(issues: list[Issue]) -> None:
    """Raise every cross-field issue of one model at once, each keeping its own field path."""
    if issues:
        raise PydanticCustomError(
            COMBINATION_ERROR,
            "{summary}",
            {"summary": "; ".join(f"{f}: {e}" for f, _, e in issues), "issues": issues},
        )


_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _dns_label(value: str) -> str:
    if len(value) > 40 or not _DNS_LABEL.match(value):
        raise PydanticCustomError(
            "dns_label",
            "expected a lowercase DNS label: letters, digits and '-', starting with a letter, at most 40 characters",
        )
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
"""A name that becomes part of Kubernetes object and cloud resource names."""

_FLOATING = {"latest", "stable", "current", "champion", "production", "staging", "newest"}


def _pinned_version(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("pinned_version", "expected a pinned integer model version >= 1")
    if isinstance(value, str):
        if value.strip().lower() in _FLOATING or value.startswith("@"):
            raise PydanticCustomError(
                "pinned_version",
                "expected a pinned integer model version >= 1; floating aliases such as 'latest' are not allowed",
            )
        if not value.isdigit():
            raise PydanticCustomError("pinned_version", "expected a pinned integer model version >= 1")
        return int(value)
    return value


PinnedVersion = Annotated[int, BeforeValidator(_pinned_version), Field(ge=1)]
"""A model version number as Triton and the MLflow registry number them; never an alias."""

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if not _LABEL_KEY.match(key):
            raise PydanticCustomError(
                "label_key", "expected Kubernetes label keys ([prefix/]name, name at most 63 characters); got {key!r}", {"key": key}
            )
        if not _LABEL_VALUE.match(val):
            raise PydanticCustomError(
                "label_value",
                "expected Kubernetes label values (at most 63 letters, digits, '-', '_' or '.'); got {val!r} for {key!r}",
                {"key": key, "val": val},
            )
    return value


Labels = Annotated[dict[str, str], AfterValidator(_labels)]
"""Kubernetes labels (node labels, object labels)."""

_TAG_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_TAG_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def _tags(value: dict[str, str]) -> dict[str, str]:
    for key, val in value.items():
        if not _TAG_KEY.match(key) or not _TAG_VALUE.match(val):
            raise PydanticCustomError(
                "tag",
                "expected tags valid on every cloud and in Kubernetes: lowercase key of letters, digits, "
                "'_' or '-' starting with a letter, lowercase value of at most 63 such characters; got {key!r}: {val!r}",
                {"key": key, "val": val},
            )
    return value


Tags = Annotated[dict[str, str], AfterValidator(_tags)]
"""Tags valid as AWS tags, GCP labels, Azure tags and Kubernetes labels (the strictest common form)."""


Hostname = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")]
"""A fully qualified DNS host name, e.g. `mlflow.ml.example.com`."""


def chart_source_issues(chart: str, repository: str | None) -> list[Issue]:
    """A Helm chart is a name in a repository, or an OCI reference / local path with no repository."""
    local = chart.startswith(("oci://", "./", "/", "../")) or chart.endswith(".tgz")
    if local and repository is not None:
        return [("repository", repository, "null: the chart is an OCI reference or a local path")]
    if not local and repository is None:
        return [("repository", None, "a Helm repository URL for chart name " + repr(chart))]
    return []


_QUANTITY = re.compile(r"^(?P<number>\+?(\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][-+]?\d+)?$")
_SUFFIX: dict[str, int | Decimal] = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity_value(text: str) -> Decimal | None:
    """A Kubernetes quantity (apimachinery's grammar: a number, then a decimal SI suffix, a binary suffix or an
    exponent) as a number, or None when ``text`` is not one: `500m` 0.5, `8Gi` 8589934592, `8G` 8e9, `1e3` 1000."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    suffix = match["suffix"] or ""
    scale = Decimal(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else Decimal(_SUFFIX[suffix])
    return Decimal(match["number"]) * scale


def _quantity(kind: str, example: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # `cpu: 2` unquoted is a quantity too
        if not isinstance(value, str) or (parsed := quantity_value(value)) is None or parsed <= 0:
            raise PydanticCustomError("quantity", f"expected a positive Kubernetes {kind} quantity such as {example}")
        return value

    return check


CpuQuantity = Annotated[str, BeforeValidator(_quantity("CPU", "500m, 0.5 or 2"))]
"""CPU in any form Kubernetes accepts."""
MemoryQuantity = Annotated[str, BeforeValidator(_quantity("memory", "512Mi, 8Gi, 8G or 8000M"))]
"""Memory or storage in any form Kubernetes accepts."""
