"""Pinned Helm charts: every chart the platform installs comes from a config section with the same source fields."""

from __future__ import annotations

from typing import Any, Protocol

import pulumi
import pulumi_kubernetes as k8s


class ChartSource(Protocol):
    """A config section's chart: a name in ``repository``, or an OCI reference / local path with none."""

    @property
    def chart(self) -> str: ...

    @property
    def repository(self) -> str | None: ...

    @property
    def version(self) -> str: ...


def pinned_chart(
    resource_name: str,
    source: ChartSource,
    namespace: pulumi.Input[str],
    release: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v4.Chart:
    """The chart at its pinned version, from its repository when it names one."""
    return k8s.helm.v4.Chart(
        resource_name,
        chart=source.chart,
        version=source.version,
        repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=source.repository) if source.repository else None,
        namespace=namespace,
        name=release,
        values=values,
        opts=opts,
    )
