"""Metrics, dashboards and alert routing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import DnsLabel, Hostname, StrictModel, raise_issues
from .secrets import SecretKey

Severity = Literal["page", "ticket"]


class AlertReceiver(StrictModel):
    """Where alerts of some severities are delivered. The URL or key is always a secret."""

    name: DnsLabel = Field(description="Receiver name, unique in the stack. Required.")
    kind: Literal["slack", "pagerduty", "webhook"] = Field(description="`slack`, `pagerduty` or `webhook`. Required.")
    secret_key: SecretKey = Field(
        description="Secret config key holding the Slack webhook URL, PagerDuty routing key or webhook URL. Required."
    )
    channel: str | None = Field(
        default=None,
        pattern=r"^#[a-z0-9][-_a-z0-9]{0,79}$",
        description="`slack` only: the channel, e.g. `#ml-alerts`. Default: the webhook's channel.",
    )
    severities: list[Severity] = Field(
        default_factory=lambda: list[Severity](["page", "ticket"]),
        min_length=1,
        description="Severities routed here: `page` (wake someone) and/or `ticket`. Default: both.",
    )

    @model_validator(mode="after")
    def _channel(self) -> AlertReceiver:
        if self.channel is not None and self.kind != "slack":
            raise_issues([("channel", self.channel, f"not set: it does not apply to kind '{self.kind}'")])
        return self


class MonitoringConfig(StrictModel):
    """The Prometheus/Grafana stack and the alerting it routes."""

    enabled: bool = Field(default=True, description="Deploy the monitoring stack. Default: true.")
    retention_days: int = Field(default=15, ge=1, le=365, description="Prometheus retention in days. Default: 15.")
    storage_gb: int = Field(default=50, ge=10, le=10000, description="Prometheus volume size in GiB. Default: 50.")
    prometheus_replicas: int = Field(default=1, ge=1, le=3, description="Prometheus replicas. Default: 1.")
    grafana_hostname: Hostname | None = Field(
        default=None, description="Public host name for Grafana behind the ingress with TLS. Default: in-cluster only."
    )
    receivers: list[AlertReceiver] = Field(default_factory=list, description="Alert receivers. Default: none.")
