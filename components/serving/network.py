"""Network facts the serving components' NetworkPolicies share."""

from __future__ import annotations

from urllib.parse import urlsplit

API_SERVER_PORTS = (443, 6443)
"""Ports the Kubernetes API server listens on across managed clusters (its address differs per cluster)."""


def url_port(url: str) -> int:
    """The TCP port of an `http(s)://host[:port]` URL."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
