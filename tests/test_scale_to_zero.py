"""Scale to zero: KEDA's cron trigger holds a replica in a model's active hours, the guardrails decide where a
model may go to zero, and the cost report counts its idle GPU cost as 0 and says when it serves again."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_platform.catalog.coldstart import PHASES, cold_start_seconds
from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.gpu.cost import idle_nodes
from tools.coldstart_readme import with_budget
from tools.crd_schemas import validate
from tools.synth import cost_summary, render_report
from tools.synthesis import Synthesis
from tools.wire import wire_form

from .conftest import stack_values, synth_values


def scaled_object(result: Synthesis, model: str) -> dict[str, Any]:
    (found,) = [wire_form(m) for m in result.manifests() if m["kind"] == "ScaledObject" and m["metadata"]["name"] == f"triton-{model}"]
    return found


def deployment(result: Synthesis, model: str) -> dict[str, Any]:
    (found,) = [m for m in result.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == f"triton-{model}"]
    return found


def test_dev_scales_every_gpu_model_to_zero_outside_its_active_hours(shipped):
    result = shipped["dev"]
    gpu_models = [m for m in result.config.models if m.gpus_per_replica > 0]
    assert gpu_models and all(m.scales_to_zero for m in gpu_models)
    for model in gpu_models:
        obj = scaled_object(result, model.name)
        spec = obj["spec"]
        assert spec["minReplicaCount"] == 0 and spec["cooldownPeriod"] == model.autoscaling.cooldown_seconds
        (cron,) = [t for t in spec["triggers"] if t["type"] == "cron"]
        assert cron["metadata"] == {"timezone": "America/New_York", "start": "0 7 * * 1-5", "end": "0 19 * * 1-5", "desiredReplicas": "1"}
        assert [t["type"] for t in spec["triggers"]].count("prometheus") == 1, "the Triton signal keeps a busy model up"
        assert validate(obj) == [], "strictly valid against KEDA's CRD"
        # no replica count: the first rollout starts the Deployment's default one, which proves that the version loads,
        # and KEDA takes it to zero when idle
        assert "replicas" not in deployment(result, model.name)["spec"]


@pytest.mark.parametrize("stack", ["staging", "canary", "prod", "prod-gcp", "prod-azure"])
def test_no_other_shipped_stack_scales_to_zero(shipped, stack):
    result = shipped[stack]
    assert not [m.name for m in result.config.models if m.scales_to_zero]
    assert all("cooldownPeriod" not in m["spec"] for m in result.manifests() if m["kind"] == "ScaledObject")
    assert all(t["type"] != "cron" for m in result.manifests() if m["kind"] == "ScaledObject" for t in m["spec"]["triggers"])


def _errors(env: str, values: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        validate_platform(env, values, set(), allow_missing_secrets=True)
    return {i.path: i.message for i in caught.value.issues}


def test_the_guardrails_keep_staging_and_prod_above_zero():
    for stack in ("staging", "prod"):
        values = stack_values(stack)
        values["models"][-1]["replicas"]["min"] = 0
        hours = {"start": "0 8 * * *", "end": "0 18 * * *"}
        values["models"][-1]["autoscaling"] = {**values["models"][-1].get("autoscaling", {}), "active_hours": hours}
        values["models"][-1]["release"] = {"mode": "all_at_once"}
        errors = _errors(values["environment"], values)
        path = f"models[{len(values['models']) - 1}].replicas.min"
        assert "guardrails.allow_scale_to_zero is false" in errors.get(path, ""), errors
        # an environment that decides otherwise says so in its guardrails
        values["guardrails"] = {**values.get("guardrails", {}), "allow_scale_to_zero": True}
        cfg, _ = validate_platform(values["environment"], values, set(), allow_missing_secrets=True)
        assert cfg.models[-1].scales_to_zero


def test_scale_to_zero_mistakes_are_reported_together():
    values = stack_values("dev")
    values["models"][0]["autoscaling"] = {}  # min 0 without the window that brings it back
    values["models"][1]["replicas"] = {"min": 1, "max": 2}
    values["models"][1]["autoscaling"] = {"active_hours": {"start": "0 25", "end": "0 18 * * *", "timezone": "Mars/Olympus"}}
    errors = _errors("dev", values)
    assert "the schedule is what brings the model back" in errors["models[0].autoscaling.active_hours"]
    assert "five fields" in errors["models[1].autoscaling.active_hours.start"]
    assert "IANA time zone" in errors["models[1].autoscaling.active_hours.timezone"]


def test_a_model_at_zero_is_released_without_analysis():
    values = stack_values("dev")
    values["models"][0]["release"] = {"mode": "canary", "steps": [10, 50]}
    errors = _errors("dev", values)
    assert "no traffic to judge a candidate on" in errors["models[0].release.mode"]


def test_active_hours_belong_to_models_that_scale_to_zero():
    values = stack_values("dev")
    values["models"][0]["replicas"] = {"min": 1, "max": 2}
    errors = _errors("dev", values)
    assert "replicas.min 0 only" in errors["models[0].autoscaling.active_hours"]


def test_idle_cost_counts_a_scale_to_zero_model_as_zero_and_says_so(shipped):
    result = shipped["dev"]
    cost = cost_summary(result)
    (pool,) = cost["gpu_pools"]
    assert pool["idle_nodes"] == 0 and pool["monthly_idle_usd"] == 0.0
    assert sorted(pool["scale_to_zero_models"]) == ["fraud-detector", "text-embedder"]
    assert pool["monthly_at_max_usd"] > 0
    report = render_report(result)
    assert "fraud-detector scales to zero when idle outside its active hours and counts $0 of idle GPU cost" in report
    budget = cold_start_seconds("aws", 600)
    assert budget is not None and f"serves again after up to {budget // 60} min" in report

    # the same models at one replica keep a node
    values = stack_values("dev")
    for model in values["models"]:
        model["replicas"]["min"] = 1
        model.pop("autoscaling", None)
    busy = cost_summary(synth_values(values, stack="dev"))
    assert busy["gpu_pools"][0]["idle_nodes"] == 1 and busy["gpu_pools"][0]["monthly_idle_usd"] > 0
    assert busy["scale_to_zero"] == []


def test_idle_nodes_count_the_minimum_and_round_up(shipped):
    """Between releases Flagger holds the candidate Deployment at zero: idle is every model at its minimum."""
    cfg = shipped["prod"].config
    for pool in cfg.gpu_pools:
        models = [m for m in cfg.models if m.gpu_pool == pool.name]
        gpus = sum(m.gpus_per_replica * m.replicas.min for m in models)
        nodes = idle_nodes(pool, cfg.models)
        assert nodes >= pool.min_nodes
        assert (nodes - 1) * pool.schedulable_gpus_per_node < gpus <= nodes * pool.schedulable_gpus_per_node or nodes == pool.min_nodes


def test_cold_start_figures_have_sources_for_every_cloud():
    assert {p.cloud for p in PHASES} == {"aws", "gcp", "azure"}
    assert all(p.source.startswith("https://") and p.seconds > 0 for p in PHASES)
    assert cold_start_seconds("kubernetes", 600) is None
    assert cold_start_seconds("azure", 600) == sum(p.seconds for p in PHASES if p.cloud == "azure") + 600


def test_the_readme_cold_start_table_is_generated():
    from tools.readme_blocks import README

    text = README.read_text()
    assert with_budget(text) == text, "the README's cold-start table is stale: run `python -m tools.coldstart_readme`"
