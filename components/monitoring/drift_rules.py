"""``drift.rules.yaml``: drift, quality, data-quality and staleness alerts per scored model, from the gauges the
drift monitor pushes through the Pushgateway (``mlops_drift_score{model, feature_set}``, ``mlops_model_quality{model,
metric}``, ``mlops_data_quality{model, check}``, ``mlops_drift_last_success_timestamp_seconds``)."""

from __future__ import annotations

from typing import Any

from .alert_catalogue import alert_rule
from .promql import num
from .spec import AlertSpec


def drift_group(spec: AlertSpec) -> dict[str, Any]:
    """Drift, quality, data-quality and staleness alerts per model, from the drift monitor's pushed gauges.

    Each alert carries the model's stable version and, as annotation ``value``, the measured figure: the
    retraining trigger passes both to the retraining workflow.
    """
    rules = []
    value = "{{ $value }}"
    for model in spec.scored_models:
        m = f'model="{model.name}"'
        version = str(model.version)
        rules.append(
            alert_rule(
                spec,
                "ModelDataDrift",
                f"max by (model, feature_set) (mlops_drift_score{{{m}}}) > {num(model.drift_score)}",
                "1m",
                f"{model.name} input data drifted (feature set {{{{ $labels.feature_set }}}})",
                f"A share of {value} of the {{{{ $labels.feature_set }}}} columns of {model.name} drifted (threshold "
                f"{num(model.drift_score)}) against its reference data: retraining is triggered.",
                model=model.name,
                version=version,
            )
        )
        rules.append(
            alert_rule(
                spec,
                "ModelQualityDegraded",
                f"min by (model, metric) (mlops_model_quality{{{m}}}) < {num(model.min_quality)}",
                "1m",
                f"{model.name} quality ({{{{ $labels.metric }}}}) below {num(model.min_quality)}",
                f"The {{{{ $labels.metric }}}} of {model.name} on labelled traffic is {value}, below {num(model.min_quality)} "
                "(concept drift): retraining is triggered.",
                model=model.name,
                version=version,
            )
        )
        schema = f'max by (model, check) (mlops_data_quality{{{m}, check=~"missing_columns|unexpected_columns|type_violations"}}) > 0'
        nulls = f'max by (model, check) (mlops_data_quality{{{m}, check="null_share"}}) > {num(model.max_null_share)}'
        ranges = f'max by (model, check) (mlops_data_quality{{{m}, check="out_of_range_share"}}) > {num(model.max_out_of_range_share)}'
        rules.append(
            alert_rule(
                spec,
                "ModelDataQualityFailed",
                f"{schema}\nor\n{nulls}\nor\n{ranges}",
                "1m",
                f"{model.name} inputs fail the data-quality check {{{{ $labels.check }}}}",
                f"Captured requests of {model.name} give {{{{ $labels.check }}}} = {value} against the reference schema: "
                "a client or an upstream pipeline sends data the model was not trained on.",
                model=model.name,
                version=version,
            )
        )
        for rule in rules[-3:]:
            rule["annotations"]["value"] = value
    stale = spec.drift_stale_after_minutes
    metric = "mlops_drift_last_success_timestamp_seconds"
    names = "|".join(model.name for model in spec.scored_models)
    rules += [
        alert_rule(
            spec,
            "DriftMonitorStale",
            f'time() - max by (model) ({metric}{{model=~"{names}"}}) > {stale * 60}',
            "5m",
            "The drift monitor has not scored {{ $labels.model }} recently",
            f"No successful drift-monitor run of {{{{ $labels.model }}}} for more than {stale} minutes: its drift and quality "
            "alerts are blind (see the job's log for the model's error).",
            reason="stale",
        ),
        alert_rule(
            spec,
            "DriftMonitorStale",
            f'time() - max by (model) (mlops_drift_last_scored_timestamp_seconds{{model=~"{names}"}}) > {stale * 60}',
            "5m",
            "The drift monitor has too little captured traffic to score {{ $labels.model }}",
            f"The drift monitor runs, but {{{{ $labels.model }}}} has not had `min_rows` captured rows for more than {stale} "
            "minutes: check the capture service's dropped and failed-write counters, the mirror's sampling, or lower min_rows.",
            reason="starved",
        ),
    ]
    rules += [
        alert_rule(
            spec,
            "DriftMonitorStale",
            f'absent({metric}{{model="{model.name}"}})',
            f"{stale}m",
            f"The drift monitor has never scored {model.name}",
            f"No drift-monitor run of {model.name} has succeeded for {stale} minutes: its drift and quality alerts are blind "
            "(see the job's log for the model's error).",
            reason="missing",
            model=model.name,
        )
        for model in spec.scored_models
    ]
    return {"name": "mlops-drift", "rules": rules}
