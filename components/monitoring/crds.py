"""Shape checks for the Prometheus-operator objects, which Kubernetes' own schemas do not cover.

The schemas are the subset of the monitoring.coreos.com/v1 CRDs the platform uses, closed with
``additionalProperties: false`` so a misspelt or snake_case key (which Pulumi sends verbatim for
custom resources) is an error, as ``kubernetes_validate(strict=True)`` makes it for built-in kinds.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", "maxLength": 253}
METADATA = {
    "type": "object",
    "required": ["name", "namespace", "labels"],
    "additionalProperties": False,
    "properties": {"name": NAME, "namespace": NAME, "labels": LABELS, "annotations": LABELS},
}

RULE = {
    "type": "object",
    "required": ["expr"],
    "additionalProperties": False,
    "properties": {
        "alert": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
        "record": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
        "expr": {"type": "string", "minLength": 1},
        "for": DURATION,
        "keep_firing_for": DURATION,
        "labels": LABELS,
        "annotations": LABELS,
    },
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
}
PROMETHEUS_RULE_SPEC = {
    "type": "object",
    "required": ["groups"],
    "additionalProperties": False,
    "properties": {
        "groups": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "rules"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": DURATION,
                    "limit": {"type": "integer"},
                    "labels": LABELS,
                    "rules": {"type": "array", "minItems": 1, "items": RULE},
                },
            },
        }
    },
}

RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "separator": {"type": "string"},
        "targetLabel": {"type": "string"},
        "regex": {"type": "string"},
        "modulus": {"type": "integer"},
        "replacement": {"type": "string"},
        "action": {"enum": ["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase"]},
    },
}
SERVICE_MONITOR_SPEC = {
    "type": "object",
    "required": ["selector", "endpoints", "namespaceSelector"],
    "additionalProperties": False,
    "properties": {
        "jobLabel": {"type": "string"},
        "namespaceSelector": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": NAME}},
        },
        "selector": {
            "type": "object",
            "required": ["matchLabels"],
            "additionalProperties": False,
            "properties": {"matchLabels": {**LABELS, "minProperties": 1}},
        },
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["port"],
                "additionalProperties": False,
                "properties": {
                    "port": {"type": "string", "minLength": 1},
                    "path": {"type": "string", "pattern": "^/"},
                    "scheme": {"enum": ["http", "https"]},
                    "interval": DURATION,
                    "scrapeTimeout": DURATION,
                    "honorLabels": {"type": "boolean"},
                    "relabelings": {"type": "array", "items": RELABEL},
                    "metricRelabelings": {"type": "array", "items": RELABEL},
                },
            },
        },
    },
}

SCHEMAS = {"PrometheusRule": PROMETHEUS_RULE_SPEC, "ServiceMonitor": SERVICE_MONITOR_SPEC}
"""The custom kinds the monitoring stack creates, by kind."""


def custom_resource_errors(manifest: dict[str, Any], selector: dict[str, str] | None = None) -> list[str]:
    """Every problem of a monitoring.coreos.com/v1 object (empty when valid).

    With ``selector``, the object must also carry those labels (or Prometheus ignores it).
    """
    errors: list[str] = []
    kind = manifest.get("kind")
    if manifest.get("apiVersion") != "monitoring.coreos.com/v1" or kind not in SCHEMAS:
        return [f"not a supported monitoring.coreos.com/v1 kind: {manifest.get('apiVersion')}/{kind}"]
    extra = sorted(set(manifest) - {"apiVersion", "kind", "metadata", "spec"})
    if extra:
        errors.append(f"unexpected top-level keys {extra}")
    for schema, value, where in ((METADATA, manifest.get("metadata"), "metadata"), (SCHEMAS[kind], manifest.get("spec"), "spec")):
        for error in Draft202012Validator(schema).iter_errors(value):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{kind} {where}{'.' + path if path else ''}: {error.message}")
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    for key, value in (selector or {}).items():
        if labels.get(key) != value:
            errors.append(f"{kind} metadata.labels: missing the selector label {key}={value}")
    return errors
