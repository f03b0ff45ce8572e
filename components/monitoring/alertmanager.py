"""Alertmanager routing: severities to receivers, drift and quality to the retraining webhook.

Receiver URLs and keys never enter the configuration: each receiver reads its secret from a file
(`api_url_file`, `routing_key_file`, `url_file`) that Alertmanager mounts from a Kubernetes Secret
built from the stack's Pulumi secrets (``RECEIVER_SECRET``).
"""

from __future__ import annotations

from typing import Any

from ..config.monitoring import AlertReceiver

RECEIVER_SECRET = "alertmanager-receivers"
"""The Secret holding every receiver's URL or key, one data key per secret config key."""
SECRETS_DIR = "/etc/alertmanager/secrets"
"""Where the operator mounts `alertmanagerSpec.secrets` (one directory per Secret)."""
NULL_RECEIVER = "null"
SEVERITY_MATCH = {"page": "page|critical", "ticket": "ticket|warning"}
"""Platform severities, plus the kube-prometheus-stack default rules' equivalents."""
RETRAINING_CATEGORIES = "drift|quality"
RETRAIN_TRIGGER_RECEIVER = "retrain-trigger"
"""The receiver of the platform's own retraining trigger (``monitoring.retraining``)."""


def secret_path(secret_key: str) -> str:
    return f"{SECRETS_DIR}/{RECEIVER_SECRET}/{secret_key}"


def receiver_secret_keys(receivers: list[AlertReceiver]) -> list[str]:
    """The secret config keys the receivers read, each once, sorted."""
    return sorted({r.secret_key for r in receivers})


def _receiver(receiver: AlertReceiver) -> dict[str, Any]:
    path = secret_path(receiver.secret_key)
    if receiver.kind == "slack":
        slack: dict[str, Any] = {
            "api_url_file": path,
            "send_resolved": True,
            "title": '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
            "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})",
            "text": "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n{{ end }}",
        }
        if receiver.channel:
            slack["channel"] = receiver.channel
        return {"name": receiver.name, "slack_configs": [slack]}
    if receiver.kind == "pagerduty":
        return {
            "name": receiver.name,
            "pagerduty_configs": [
                {
                    "routing_key_file": path,
                    "send_resolved": True,
                    "severity": '{{ if eq .CommonLabels.severity "page" }}critical{{ else }}warning{{ end }}',
                    "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
                }
            ],
        }
    return {"name": receiver.name, "webhook_configs": [{"url_file": path, "send_resolved": receiver.purpose == "alerts"}]}


def _routes(receivers: list[AlertReceiver], retrain_url: str | None) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = [
        {"receiver": NULL_RECEIVER, "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
    ]
    retraining = [r.name for r in receivers if r.purpose == "retraining"]
    if retrain_url is not None:
        retraining.insert(0, RETRAIN_TRIGGER_RECEIVER)
    for receiver_name in retraining:
        routes.append(
            {
                "receiver": receiver_name,
                "matchers": [f'category=~"{RETRAINING_CATEGORIES}"'],
                "group_by": ["alertname", "model"],
                "group_wait": "1m",
                "repeat_interval": "24h",
                "continue": True,
            }
        )
    alerting = [r for r in receivers if r.purpose == "alerts"]
    for severity, repeat in (("page", "1h"), ("ticket", "12h")):
        targets = [r for r in alerting if severity in r.severities]
        if not targets and severity == "page":
            # no page receiver in this stack: a page is never dropped, it is delivered as a ticket
            targets = [r for r in alerting if "ticket" in r.severities]
        for receiver in targets:
            routes.append(
                {
                    "receiver": receiver.name,
                    "matchers": [f'severity=~"{SEVERITY_MATCH[severity]}"'],
                    "repeat_interval": repeat,
                    "continue": True,
                }
            )
    return routes


def alertmanager_config(receivers: list[AlertReceiver], retrain_url: str | None = None) -> dict[str, Any]:
    """The Alertmanager configuration (chart value `alertmanager.config`); holds file paths, never secrets.

    ``retrain_url``: the platform's retraining trigger (an in-cluster URL, not a secret), which receives
    every drift and quality alert; the trigger itself keeps one retraining per model and window.
    """
    own = [{"name": RETRAIN_TRIGGER_RECEIVER, "webhook_configs": [{"url": retrain_url, "send_resolved": False}]}] if retrain_url else []
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": ["alertname", "namespace", "model"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": _routes(receivers, retrain_url),
        },
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="TritonDown"'],
                "target_matchers": ['category=~"availability|latency|canary"', 'alertname!="TritonDown"'],
                "equal": ["namespace"],
            },
            {
                "source_matchers": ['alertname="ModelErrorBudgetFastBurn"'],
                "target_matchers": ['alertname="ModelErrorBudgetSlowBurn"'],
                "equal": ["namespace", "model"],
            },
        ],
        "receivers": [{"name": NULL_RECEIVER}, *own, *(_receiver(r) for r in receivers)],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }
