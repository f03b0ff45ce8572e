"""Every class of configuration error is reported with its path, the bad value and the expectation."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_platform.config import ConfigError, validate_platform
from mlops_platform.platform import serving_gpu_quota

from .conftest import stack_values


def problems_or_none(values: dict[str, Any], secrets: set[str] | None = None, stack: str = "t") -> list[str]:
    """Every configuration problem of ``values``, or none."""
    try:
        validate_platform(stack, values, secrets or set(), allow_missing_secrets=True)
    except ConfigError as error:
        return [str(issue) for issue in error.issues]
    return []


def problems(values: dict[str, Any], secrets: set[str] | None = None, stack: str = "t") -> list[str]:
    """Every configuration problem of ``values``, which must have one."""
    found = problems_or_none(values, secrets, stack)
    assert found, "expected a configuration error"
    return found


def one(values: dict[str, Any], path: str) -> str:
    found = [p for p in problems(values) if p.startswith(f"{path}: ")]
    assert len(found) == 1, problems(values)
    return found[0]


@pytest.fixture
def dev() -> dict[str, Any]:
    return stack_values("dev")


@pytest.fixture
def prod() -> dict[str, Any]:
    return stack_values("prod")


def test_shipped_dev_is_valid(dev):
    platform, missing = validate_platform("dev", dev, set(), allow_missing_secrets=True)
    assert platform.environment == "dev" and missing == ["slackWebhookUrl"]


def test_unknown_top_level_key_suggests_the_right_one(dev):
    dev["modles"] = dev.pop("models")
    assert "unknown config key; did you mean 'models'?" in one(dev, "modles")


def test_unknown_nested_key_is_an_error_with_suggestion(dev):
    dev["gpu_pools"][0]["max_node"] = 3
    assert "unknown key; did you mean 'max_nodes'?" in one(dev, "gpu_pools[0].max_node")


def test_wrong_type(dev):
    dev["models"][1]["gpus_per_replica"] = "two"
    assert one(dev, "models[1].gpus_per_replica") == (
        'models[1].gpus_per_replica: got "two"; expected a valid integer, unable to parse string as an integer'
    )


def test_out_of_range(dev):
    dev["models"][1]["gpus_per_replica"] = -1
    assert one(dev, "models[1].gpus_per_replica").endswith("got -1; expected greater than or equal to 0")


def test_missing_required_section(dev):
    del dev["budget"]
    assert one(dev, "budget") == "budget: missing; this key is required"


def test_bad_enum_value(dev):
    dev["gpu_pools"][0]["gpu_type"] = "nvidia-rtx4090"
    assert "'nvidia-l4'" in one(dev, "gpu_pools[0].gpu_type") and 'got "nvidia-rtx4090"' in one(dev, "gpu_pools[0].gpu_type")


@pytest.mark.parametrize("alias", ["latest", "champion", "@prod", "v3"])
def test_floating_model_version_is_rejected(dev, alias):
    dev["models"][0]["version"] = alias
    assert "pinned integer model version" in one(dev, "models[0].version")


def test_cross_field_min_above_max(dev):
    dev["gpu_pools"][0].update(min_nodes=3, max_nodes=2)
    assert one(dev, "gpu_pools[0].min_nodes") == "gpu_pools[0].min_nodes: got 3; expected at most max_nodes (2)"


def test_field_of_another_provider(dev):
    dev["cloud"]["subscription_id"] = "3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c"
    assert "does not apply to provider 'aws'" in one(dev, "cloud.subscription_id")


def test_field_required_by_provider(dev):
    dev["cloud"] = {"provider": "gcp", "region": "us-central1"}
    assert one(dev, "cloud.project") == "cloud.project: missing; expected a value: required when provider is 'gcp'"


def test_cluster_source_needs_its_fields(dev):
    dev["cluster"] = {"source": "existing"}
    assert "required when source is 'existing'" in one(dev, "cluster.name")


def test_mig_on_a_gpu_without_mig(dev):
    dev["gpu_pools"][0]["sharing"] = {"mode": "mig", "profile": "1g.10gb"}
    assert "nvidia-l4 does not" in one(dev, "gpu_pools[0].sharing.mode")


def test_mig_profile_must_exist_for_the_gpu(prod):
    prod["gpu_pools"][1]["sharing"]["profile"] = "1g.5gb"
    assert "one of 1g.10gb" in one(prod, "gpu_pools[1].sharing.profile")


def test_model_references_an_unknown_pool(dev):
    dev["models"][0]["gpu_pool"] = "h100"
    assert one(dev, "models[0].gpu_pool").endswith("expected the name of a valid pool in gpu_pools (l4-shared)")


def test_pool_too_small_for_its_models(dev):
    dev["gpu_pools"][0]["sharing"] = {"mode": "none"}
    dev["gpu_pools"][0]["max_nodes"] = 1
    # fraud-detector 2 replicas and text-embedder 1, each with one rollout surge pod and a candidate of 1 (all_at_once)
    assert "enough nodes for the 7 GPUs" in one(dev, "gpu_pools[0].max_nodes")


def test_pool_capacity_counts_what_the_gpu_quota_admits(prod):
    """During a release Flagger runs the candidate beside the primary: the candidate at the replicas its largest
    traffic step needs (at least replicas.min), the primary with one surge pod at promotion; the capacity check and
    the namespace quota count the same."""
    prod["gpu_pools"][0]["max_nodes"] = 17
    # fraud-detector 8 + 1 surge + candidate max(3, 25 % of 8); text-embedder 3 + 1 surge + candidate max(2, 25 % of 3)
    assert "enough nodes for the 18 GPUs fraud-detector, text-embedder may hold at once" in one(prod, "gpu_pools[0].max_nodes")
    prod["gpu_pools"][0]["max_nodes"] = 18
    cfg, _ = validate_platform("prod", prod, set(), allow_missing_secrets=True)
    on_pool = [m for m in cfg.models if m.gpu_pool == cfg.gpu_pools[0].name]
    assert [m.candidate_replicas for m in on_pool] == [3, 2]
    assert sum(m.gpus_needed() for m in on_pool) == 18
    assert serving_gpu_quota(cfg) == sum(m.gpus_needed() for m in cfg.models)
    prod["models"][0]["release"] = {"mode": "mirror"}  # a copy of every request: the candidate may need full scale
    cfg, _ = validate_platform(
        "prod",
        {**prod, "gpu_pools": [{**prod["gpu_pools"][0], "max_nodes": 30}, *prod["gpu_pools"][1:]]},
        set(),
        allow_missing_secrets=True,
    )
    assert cfg.models[0].candidate_replicas == 8


def test_gpus_per_replica_above_a_node(prod):
    prod["models"][0]["gpus_per_replica"] = 2
    assert "at most 1, the GPUs a node of pool 'a10g-serving' offers" in one(prod, "models[0].gpus_per_replica")


def test_repository_scheme_must_match_the_cloud(dev):
    dev["models"][0]["repository_uri"] = "gs://acme-models/triton"
    assert "a URI starting with 's3://' on aws" in one(dev, "models[0].repository_uri")


def test_duplicate_names(dev):
    dev["models"][1]["name"] = dev["models"][0]["name"]
    assert "a name unique in models: models[0] has it already" in one(dev, "models[1].name")


def test_a_duplicate_pool_is_one_mistake_reported_once():
    prod = stack_values("prod")
    prod["gpu_pools"].append(dict(prod["gpu_pools"][0]))
    assert [p for p in problems(prod)] == [
        'gpu_pools[2].name: got "a10g-serving"; expected a name unique in gpu_pools: gpu_pools[0] has it already'
    ]


def test_spot_serving_pool_in_prod(prod):
    prod["gpu_pools"][0]["capacity"] = "spot"
    assert "guardrails.allow_spot is false in prod" in one(prod, "gpu_pools[0].capacity")


def test_guardrail_can_be_relaxed_explicitly(prod):
    prod["gpu_pools"][0]["capacity"] = "spot"
    prod["guardrails"] = {"allow_spot": True}
    validate_platform("prod", prod, set(), allow_missing_secrets=True)


def test_prod_environment_rules(prod):
    prod["mlflow"]["auth"] = {"mode": "none"}
    prod["mlflow"]["replicas"] = 1
    prod["mlflow"]["database"]["high_availability"] = False
    prod["models"][0]["replicas"] = {"min": 1, "max": 8}
    prod["monitoring"]["receivers"] = [r for r in prod["monitoring"]["receivers"] if r["kind"] == "slack"]
    found = problems(prod)
    for path in (
        "mlflow.auth.mode",
        "mlflow.replicas",
        "mlflow.database.high_availability",
        "models[0].replicas.min",
        "monitoring.receivers",
    ):
        assert any(p.startswith(f"{path}: ") for p in found), (path, found)


def test_managed_endpoint_image_needs_digest_in_prod(prod):
    prod["managed_endpoints"][0]["image"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-scorer:5.0.1"
    assert "pinned by digest" in one(prod, "managed_endpoints[0].image")


def test_latest_image_is_rejected(dev):
    dev["managed_endpoints"] = [{"name": "e", "model_uri": "s3://b/m.tar.gz", "image": "repo/img:latest", "instance_type": "ml.g5.xlarge"}]
    assert "not 'latest'" in one(dev, "managed_endpoints[0].image")


def test_secret_key_set_in_plaintext_is_rejected(dev):
    dev["slackWebhookUrl"] = "https://hooks.slack.invalid/T000/B000/XXXX"
    found = problems(dev)
    assert found == [
        "slackWebhookUrl: holds plaintext; expected a secret (named by monitoring.receivers[0].secret_key): "
        "set it with `pulumi config set --secret slackWebhookUrl`"
    ]
    assert "hooks.slack" not in "".join(found)


def test_missing_secret_is_an_error_outside_synthesis(dev):
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", dev, set())
    assert [i.path for i in caught.value.issues] == ["slackWebhookUrl"]


def test_secret_present_as_secret_is_accepted(dev):
    dev["slackWebhookUrl"] = "https://hooks.slack.invalid/x"
    platform, missing = validate_platform("dev", dev, {"slackWebhookUrl"})
    assert missing == [] and platform.secret_keys() == {"slackWebhookUrl": "monitoring.receivers[0].secret_key"}


def test_every_problem_is_reported_at_once(dev):
    dev["cloud"]["regon"] = "us-east-1"
    dev["models"][0]["version"] = "latest"
    dev["models"][1]["gpu_pool"] = "missing-pool"
    dev["gpu_pools"][0]["disk_gb"] = 10
    dev["tags"]["cost_center"] = "CC 1"
    dev["extra_key"] = 1
    paths = sorted({p.split(": ", 1)[0] for p in problems(dev)})
    assert paths == [
        "cloud.regon",
        "extra_key",
        "gpu_pools[0].disk_gb",
        "models[0].version",
        "models[1].gpu_pool",
        "tags.cost_center",
    ]


def test_error_message_names_stack_and_count(dev):
    dev["budget"] = {"gpu_monthly_usd": 0}
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", dev, set(), allow_missing_secrets=True)
    assert str(caught.value).splitlines() == [
        "invalid configuration for stack 'dev' (1 problem):",
        "  - budget.gpu_monthly_usd: got 0; expected greater than 0",
    ]


def test_the_budget_key_of_earlier_releases_says_what_it_became(dev):
    dev["budget"] = {"monthly_usd": 1000}
    with pytest.raises(ConfigError) as caught:
        validate_platform("dev", dev, set(), allow_missing_secrets=True)
    issues = {i.path: i.message for i in caught.value.issues}
    assert issues["budget.monthly_usd"].startswith("renamed to budget.gpu_monthly_usd: the estimate it is checked against covers GPU")
    assert issues["budget.gpu_monthly_usd"] == "missing; this key is required"


def test_invalid_environment_does_not_also_blame_guardrails(dev):
    dev["environment"] = "qa"
    assert [p.split(":")[0] for p in problems(dev)] == ["environment"]


def test_the_gke_driver_is_pinned_where_the_environment_pins_what_nodes_run():
    prod_gcp = stack_values("prod-gcp")
    prod_gcp["gpu_pools"][0]["gke_gpu_driver"] = "latest"
    assert "changes the driver whenever nodes are recreated" in one(prod_gcp, "gpu_pools[0].gke_gpu_driver")
    dev = stack_values("dev")  # aws
    dev["gpu_pools"][0]["gke_gpu_driver"] = "default"
    assert "applies to gcp only, not aws" in one(dev, "gpu_pools[0].gke_gpu_driver")
    prod_gcp["environment"] = "staging"
    prod_gcp["guardrails"] = {}
    assert not [p for p in problems_or_none(prod_gcp) if p.startswith("gpu_pools[0].gke_gpu_driver")]


@pytest.mark.parametrize("value", ["8Gi", "8G", "8000M", "8e9", "0.5Gi", "7812500Ki", 1024])
def test_memory_takes_every_kubernetes_quantity_form(value):
    values = stack_values("dev")
    values["models"][0]["memory"] = value
    platform, _ = validate_platform("dev", values, set(), allow_missing_secrets=True)
    assert platform.models[0].memory == str(value)


@pytest.mark.parametrize("value", ["8GB", "eight", "-1Gi", "0", "1.2.3"])
def test_a_wrong_quantity_says_what_a_quantity_looks_like(value):
    values = stack_values("dev")
    values["models"][0]["cpu"] = value
    message = one(values, "models[0].cpu")
    assert "a positive Kubernetes CPU quantity such as 500m, 0.5 or 2" in message and "^" not in message


def test_non_ascii_is_shown_as_typed():
    values = stack_values("dev")
    values["models"][0]["name"] = "ränker"
    assert 'got "ränker"' in one(values, "models[0].name")


def test_a_disabled_gateway_with_jwt_settings_does_not_contradict_itself():
    values = stack_values("prod")
    values["serving"]["gateway"]["enabled"] = False
    assert not [p for p in problems_or_none(values) if "'jwt' when jwt_* fields are set" in p]


def _patterns() -> dict[str, list[str]]:
    import typing

    from pydantic import BaseModel

    from mlops_platform.config.platform import PlatformConfig

    found: dict[str, list[str]] = {}
    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, info in model.model_fields.items():
            constraints = list(info.metadata)
            stack = [info.annotation]
            while stack:
                annotation = stack.pop()
                constraints += list(getattr(annotation, "__metadata__", ()))
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    walk(annotation)
                stack += list(typing.get_args(annotation))
            for constraint in constraints:
                if getattr(constraint, "pattern", None):
                    found.setdefault(constraint.pattern, []).append(f"{model.__name__}.{name}")

    walk(PlatformConfig)
    return found


def test_every_pattern_of_the_config_is_said_in_words():
    from mlops_platform.config.errors import PATTERN_WORDS

    patterns = _patterns()
    assert len(patterns) > 15
    assert {p: fields for p, fields in patterns.items() if p not in PATTERN_WORDS} == {}


def test_a_pattern_mismatch_shows_words_not_a_regular_expression():
    values = stack_values("dev")
    values["tags"]["cost_center"] = "CC 1042"
    values["serving"]["gateway"]["hostname"] = "Inference"
    for path in ("tags.cost_center", "serving.gateway.hostname"):
        message = one(values, path)
        assert "^" not in message and "$" not in message, message
    assert "a fully qualified host name" in one(values, "serving.gateway.hostname")


def test_a_broken_pool_is_reported_once_not_again_by_each_model_on_it():
    values = stack_values("dev")
    values["gpu_pools"][0]["max_node"] = 3
    assert [p.split(":")[0] for p in problems(values)] == ["gpu_pools[0].max_node"]
    values["models"][0]["gpu_pool"] = "no-such-pool"  # a name no pool has is still reported
    assert "models[0].gpu_pool" in [p.split(":")[0] for p in problems(values)]


@pytest.mark.parametrize(
    ("stack", "zones", "expected"),
    [
        ("prod", ["eu-west-1a", "us-east-1b"], "a zone of us-east-1 such as us-east-1a"),
        ("prod-gcp", ["us-central1a"], "a zone of us-central1 such as us-central1-a"),
        ("prod-azure", ["eastus-1"], "an availability zone number of the location: 1, 2 or 3"),
    ],
)
def test_zones_must_belong_to_the_stacks_region(stack, zones, expected):
    values = stack_values(stack)
    values["gpu_pools"][0]["zones"] = zones
    found = [p for p in problems(values) if p.startswith("gpu_pools[0].zones")]
    assert len(found) == 1 and expected in found[0], found


def test_a_gpu_the_stack_region_does_not_offer_is_refused(dev):
    """The review's case: an af-south-1 stack with an L4 pool (g6) synthesized; Cape Town has no g6 or g5."""
    dev["cloud"]["region"] = "af-south-1"
    found = [p for p in problems(dev) if p.startswith("gpu_pools[0].gpu_type")]
    assert found == [
        'gpu_pools[0].gpu_type: got "nvidia-l4"; expected a GPU whose 1-GPU instance (g6.xlarge) af-south-1 offers; '
        "af-south-1 offers: nvidia-t4 x1, nvidia-t4 x4, nvidia-t4 x8"
    ]
    dev["gpu_pools"][0]["gpu_type"] = "nvidia-t4"
    assert not [p for p in problems_or_none(dev) if p.startswith("gpu_pools")]


def test_a_zone_that_does_not_offer_the_instance_is_refused(dev):
    dev["gpu_pools"][0]["zones"] = ["us-east-1a", "us-east-1e"]  # us-east-1e has no g6
    assert [p for p in problems(dev) if p.startswith("gpu_pools")] == [
        'gpu_pools[0].zones: got "us-east-1e"; expected a zone of us-east-1 that offers g6.xlarge: '
        "us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1f"
    ]


def test_regions_the_catalog_does_not_cover_are_not_checked(dev):
    dev["cloud"]["region"] = "us-gov-west-1"  # GovCloud is not in the offerings data: nothing to check against
    assert not [p for p in problems_or_none(dev) if p.startswith("gpu_pools")]


def test_a_gcp_zone_that_does_not_offer_the_machine_is_refused():
    """G2 (L4) is in us-central1-a, -b and -c; us-central1-f has N1 and T4 but no G2. A zone of another region is
    refused as before, both at once."""
    values = stack_values("prod-gcp")
    values["gpu_pools"][0]["zones"] = ["us-central1-a", "us-central1-f", "europe-west4-a"]
    assert [p for p in problems(values) if p.startswith("gpu_pools")] == [
        'gpu_pools[0].zones: got "europe-west4-a"; expected a zone of us-central1 such as us-central1-a',
        'gpu_pools[0].zones: got "us-central1-f"; expected a zone of us-central1 that offers g2-standard-8 (1 x nvidia-l4): '
        "us-central1-a, us-central1-b, us-central1-c",
    ]


def test_a_gcp_gpu_the_stack_region_does_not_offer_is_refused():
    """us-west2 has N1 machines with T4s, and neither G2 (L4) nor A3 (H100): both pools are refused at once."""
    values = stack_values("prod-gcp")
    values["cloud"]["region"] = "us-west2"
    for pool in values["gpu_pools"]:
        pool["zones"] = ["us-west2-b"]
    assert [p for p in problems(values) if p.startswith("gpu_pools")] == [
        'gpu_pools[0].gpu_type: got "nvidia-l4"; expected a GPU whose 1-GPU instance (g2-standard-8 (1 x nvidia-l4)) us-west2 '
        "offers; us-west2 offers: nvidia-t4 x1, nvidia-t4 x2, nvidia-t4 x4",
        'gpu_pools[1].gpu_type: got "nvidia-h100-80gb"; expected a GPU whose 8-GPU instance (a3-highgpu-8g (8 x nvidia-h100-80gb)) '
        "us-west2 offers; us-west2 offers: nvidia-t4 x1, nvidia-t4 x2, nvidia-t4 x4",
    ]
    values["gpu_pools"] = [{**values["gpu_pools"][0], "gpu_type": "nvidia-t4", "zones": ["us-west2-b", "us-west2-c"]}]
    values["models"] = [m for m in values["models"] if m.get("gpu_pool") in (None, "l4-serving")]
    assert not [p for p in problems_or_none(values) if p.startswith("gpu_pools")]


def test_an_azure_location_without_the_vm_size_is_refused():
    """northcentralus offers the T4 sizes but not NC A100 v4 (the source lists US regions only, and no zones)."""
    values = stack_values("prod-azure")
    values["cloud"]["location"] = "northcentralus"
    assert [p for p in problems(values) if p.startswith("gpu_pools")] == [
        'gpu_pools[0].gpu_type: got "nvidia-a100-80gb"; expected a GPU whose 1-GPU instance (Standard_NC24ads_A100_v4) '
        "northcentralus offers; northcentralus offers: nvidia-t4 x1, nvidia-t4 x4",
    ]


@pytest.mark.parametrize(("stack", "field", "region"), [("prod-gcp", "region", "africa-south1"), ("prod-azure", "location", "westeurope")])
def test_gcp_and_azure_regions_the_source_does_not_list_are_not_checked(stack, field, region):
    values = stack_values(stack)
    values["cloud"][field] = region
    for pool in values["gpu_pools"]:
        pool["zones"] = [f"{region}-a"] if field == "region" else ["1"]
    assert not [p for p in problems_or_none(values) if p.startswith("gpu_pools")]
