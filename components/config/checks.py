"""Checks that span sections of the configuration (references, capacity, environment rules).

They run on whatever sections are individually valid, so a stack with a broken section still
gets every cross-section problem reported in the same run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..catalog.offers import OFFERS, InstanceOffer, gpu_counts, offer_for, offered_in_region, offered_zones
from .base import Issue
from .cloud import CloudConfig, ClusterConfig
from .endpoint_checks import capability_issues
from .endpoints import MODEL_URI_PREFIXES, ManagedEndpointConfig
from .gpu import GpuPoolConfig
from .guardrails import Guardrails
from .mlflow import MlflowConfig, mlflow_issues
from .monitoring import MonitoringConfig, monitoring_issues
from .serving import REPOSITORY_SCHEMES, ModelConfig, ServingConfig

_AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


@dataclass
class Sections:
    """The valid parts of a configuration; list items keep their index in the stack file."""

    environment: str | None = None
    cloud: CloudConfig | None = None
    cluster: ClusterConfig | None = None
    serving: ServingConfig | None = None
    guardrails: Guardrails | None = None
    mlflow: MlflowConfig | None = None
    monitoring: MonitoringConfig | None = None
    gpu_pools: list[tuple[int, GpuPoolConfig]] = field(default_factory=list)
    models: list[tuple[int, ModelConfig]] = field(default_factory=list)
    managed_endpoints: list[tuple[int, ManagedEndpointConfig]] = field(default_factory=list)
    invalid_pools: set[str] = field(default_factory=set)
    """Names of pools that failed their own validation: their errors are reported, and a model that names one is not
    told again that its pool does not exist."""


def cross_section_issues(s: Sections) -> list[Issue]:
    """Every cross-section problem of the valid parts of a configuration."""
    if s.cloud is not None and s.cloud.provider == "kubernetes":
        issues = _unique_names(s) + _kubernetes_issues(s) + _pool_issues(s) + _model_issues(s) + _serving_issues(s)
    else:
        issues = _unique_names(s) + _cluster_issues(s) + _pool_issues(s) + _model_issues(s) + _serving_issues(s) + _endpoint_issues(s)
    if s.guardrails is not None and s.environment is not None:
        issues += _environment_issues(s)
    if s.monitoring is not None:
        digest = s.guardrails.require_image_digest if s.guardrails is not None else False
        issues += monitoring_issues(s.monitoring, [m.name for _, m in s.models], digest, s.environment)
        drift = s.monitoring.drift
        if s.monitoring.enabled and drift.enabled and s.models and s.serving is not None and not s.serving.gateway.enabled:
            expected = "false, or serving.gateway.enabled true: the gateway mirrors requests to the capture service"
            issues.append(("monitoring.drift.enabled", True, expected))
        for name, settings in drift.models.items():
            model = next((m for _, m in s.models if m.name == name), None)
            outputs = [o.name for o in model.outputs] if model is not None else []
            if model is not None and settings.prediction is None and len(outputs) > 1:
                issues.append(
                    (f"monitoring.drift.models.{name}.prediction", None, f"the output holding the prediction: one of {', '.join(outputs)}")
                )
            if model is not None and settings.prediction is not None and settings.prediction not in outputs:
                issues.append(
                    (f"monitoring.drift.models.{name}.prediction", settings.prediction, f"an output of the model: {', '.join(outputs)}")
                )
    if s.mlflow is not None and s.cloud is not None and s.cluster is not None and s.cloud.provider != "kubernetes":
        digest = s.guardrails.require_image_digest if s.guardrails is not None else False
        issues += mlflow_issues(s.mlflow, s.cloud.provider, cluster_name=s.cluster.name, require_image_digest=digest)
    return issues


def _unique_names(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    sections: dict[str, list[tuple[int, GpuPoolConfig]] | list[tuple[int, ModelConfig]] | list[tuple[int, ManagedEndpointConfig]]] = {
        "gpu_pools": s.gpu_pools,
        "models": s.models,
        "managed_endpoints": s.managed_endpoints,
    }
    for section, items in sections.items():
        issues += _repeats(section, [(i, item.name) for i, item in items])
    if s.monitoring is not None:
        issues += _repeats("monitoring.receivers", list(enumerate(r.name for r in s.monitoring.receivers)))
    return issues


def _repeats(section: str, names: list[tuple[int, str]]) -> list[Issue]:
    """One issue per repeated name, on the repetition, pointing at the first: a duplicate is one mistake."""
    first: dict[str, int] = {}
    issues: list[Issue] = []
    for i, name in names:
        if name in first:
            issues.append((f"{section}[{i}].name", name, f"a name unique in {section}: {section}[{first[name]}] has it already"))
        else:
            first[name] = i
    return issues


def _cluster_issues(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    if s.cluster is None:
        return issues
    if s.gpu_pools and not s.cluster.name:
        issues.append(("cluster.name", None, "the managed cluster's name: gpu_pools attach to the cluster by name"))
    if s.cluster.location is not None and s.cloud is not None and s.cloud.provider != "gcp":
        issues.append(("cluster.location", s.cluster.location, f"not set: it applies to gcp only, not {s.cloud.provider}"))
    return issues


def _kubernetes_issues(s: Sections) -> list[Issue]:
    """What needs a cloud account, which provider `kubernetes` does not have; each says what to do instead."""
    issues: list[Issue] = []
    if s.cluster is not None and s.cluster.source == "existing":
        issues.append(
            (
                "cluster.source",
                "existing",
                "kubeconfig_secret, kubeconfig_file, stack_reference or render: 'existing' looks the cluster up in a cloud account",
            )
        )
    if s.cluster is not None and s.cluster.location is not None:
        issues.append(("cluster.location", s.cluster.location, "not set: it applies to gcp only, not kubernetes"))
    for i, pool in s.gpu_pools:
        # a pool here describes nodes the cluster already has (labelled and tainted as its wiring says)
        if pool.node_image is not None:
            issues.append((f"gpu_pools[{i}].node_image", pool.node_image, "not set: it applies to aws only, not kubernetes"))
        if pool.gke_gpu_driver is not None:
            issues.append((f"gpu_pools[{i}].gke_gpu_driver", pool.gke_gpu_driver, "not set: it applies to gcp only, not kubernetes"))
    for i, endpoint in s.managed_endpoints:
        issues.append(
            (
                f"managed_endpoints[{i}]",
                endpoint.name,
                "no entry: managed endpoints run on a cloud's inference service; use a cloud provider",
            )
        )
    if s.mlflow is not None and s.mlflow.enabled:
        issues.append(
            ("mlflow.enabled", True, "false: the tracking server needs a managed PostgreSQL and bucket, which provider 'kubernetes' lacks")
        )
    if s.monitoring is not None and s.monitoring.enabled and s.monitoring.drift.enabled:
        expected = "false: the drift monitor reads its reference data through cloud workload identity, which provider 'kubernetes' lacks"
        issues.append(("monitoring.drift.enabled", True, expected))
    return issues


def _pool_issues(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    demand: dict[str, list[ModelConfig]] = {}
    for _, model in s.models:
        if model.gpu_pool is not None:
            demand.setdefault(model.gpu_pool, []).append(model)
    allow_spot = getattr(s.guardrails, "allow_spot", True)
    for i, pool in s.gpu_pools:
        if s.cloud is not None and s.cloud.provider != "kubernetes":
            issues += _offer_issues(i, pool, s.cloud.provider) + _zone_issues(i, pool, s.cloud) + _availability_issues(i, pool, s.cloud)
        if s.cloud is not None and s.cloud.provider == "azure" and not _AKS_POOL_NAME.match(pool.name):
            issues.append(
                (
                    f"gpu_pools[{i}].name",
                    pool.name,
                    "on azure, 1-12 lowercase letters and digits starting with a letter (AKS agent pool names)",
                )
            )
        serving = demand.get(pool.name, [])
        names = ", ".join(m.name for m in serving)
        if serving and pool.capacity == "spot" and not allow_spot:
            issues.append(
                (
                    f"gpu_pools[{i}].capacity",
                    "spot",
                    f"on_demand: the pool serves {names} and guardrails.allow_spot is false in {s.environment}",
                )
            )
        if pool.gke_gpu_driver == "latest" and getattr(s.guardrails, "require_image_digest", False):
            issues.append(
                (
                    f"gpu_pools[{i}].gke_gpu_driver",
                    "latest",
                    f"default: guardrails.require_image_digest pins what nodes run in {s.environment}, and `latest` "
                    "changes the driver whenever nodes are recreated",
                )
            )
        needed = sum(m.gpus_needed() for m in serving)
        if needed > pool.max_nodes * pool.schedulable_gpus_per_node:
            issues.append(
                (
                    f"gpu_pools[{i}].max_nodes",
                    pool.max_nodes,
                    f"enough nodes for the {needed} GPUs {names} may hold at once (during a release the primary "
                    f"at full scale with one rollout surge pod, and the candidate; {pool.schedulable_gpus_per_node} per node)",
                )
            )
    return issues


def _zone_form(cloud: CloudConfig) -> tuple[re.Pattern[str], str] | None:
    """How a zone of the stack's region is spelt, and that in words: `<region><letter>` on aws, `<region>-<letter>`
    on gcp, `1`-`3` on azure."""
    region = cloud.region or ""
    forms = {
        "aws": (re.compile(rf"^{re.escape(region)}[a-z]$"), f"a zone of {region} such as {region}a"),
        "gcp": (re.compile(rf"^{re.escape(region)}-[a-z]$"), f"a zone of {region} such as {region}-a"),
        "azure": (re.compile(r"^[1-3]$"), "an availability zone number of the location: 1, 2 or 3"),
    }
    return forms.get(cloud.provider)


def _zone_issues(i: int, pool: GpuPoolConfig, cloud: CloudConfig) -> list[Issue]:
    """Zones of the stack's region, spelt as ``_zone_form`` says."""
    found = _zone_form(cloud)
    if found is None:
        return []
    form, words = found
    return [(f"gpu_pools[{i}].zones", zone, words) for zone in pool.zones if not form.match(zone)]


def _instance_words(offer: InstanceOffer) -> str:
    """The instance in a message: on gcp with its GPUs, since a zone must have both (N1 attaches T4s)."""
    return f"{offer.instance_type} ({offer.gpus} x {offer.accelerator})" if offer.cloud == "gcp" else offer.instance_type


def _availability_issues(i: int, pool: GpuPoolConfig, cloud: CloudConfig) -> list[Issue]:
    """The pool's instance type is offered in the stack's region (location on azure), and in each zone it names,
    where the catalog knows the cloud's offerings there: aws from components/catalog/aws_offerings.py, gcp (zones)
    and azure (regions only; the source has no zone data) from components/catalog/regional_prices.py."""
    region = cloud.region or cloud.location or ""
    offer = offer_for(cloud.provider, pool.gpu_type, pool.gpus_per_node)
    if offer is None:
        return []  # _offer_issues reports it
    offered = offered_in_region(cloud.provider, offer.instance_type, region)
    if offered is None:
        return []
    if not offered:
        here = sorted(
            {f"{o.gpu_type} x{o.gpus}" for o in OFFERS if o.cloud == cloud.provider and offered_in_region(o.cloud, o.instance_type, region)}
        )
        return [
            (
                f"gpu_pools[{i}].gpu_type",
                pool.gpu_type,
                f"a GPU whose {pool.gpus_per_node}-GPU instance ({_instance_words(offer)}) {region} offers; {region} offers: "
                + (", ".join(here) or "none of the catalog's GPU instances"),
            )
        ]
    zones = offered_zones(cloud.provider, offer.instance_type, region)
    form = _zone_form(cloud)
    if zones is None or form is None:
        return []
    return [
        (f"gpu_pools[{i}].zones", zone, f"a zone of {region} that offers {_instance_words(offer)}: {', '.join(zones)}")
        for zone in pool.zones
        if form[0].match(zone) and zone not in zones
    ]


def _offer_issues(i: int, pool: GpuPoolConfig, cloud: str) -> list[Issue]:
    issues: list[Issue] = []
    counts = gpu_counts(cloud, pool.gpu_type)
    if not counts:
        offered = sorted({o.gpu_type for o in OFFERS if o.cloud == cloud})
        issues.append((f"gpu_pools[{i}].gpu_type", pool.gpu_type, f"a GPU offered on {cloud}: {', '.join(offered)}"))
    elif pool.gpus_per_node not in counts:
        issues.append(
            (
                f"gpu_pools[{i}].gpus_per_node",
                pool.gpus_per_node,
                f"a count {pool.gpu_type} nodes come with on {cloud}: {', '.join(map(str, counts))}",
            )
        )
    if pool.node_image is not None and cloud != "aws":
        issues.append((f"gpu_pools[{i}].node_image", pool.node_image, f"not set: it applies to aws only, not {cloud}"))
    if pool.gke_gpu_driver is not None and cloud != "gcp":
        issues.append((f"gpu_pools[{i}].gke_gpu_driver", pool.gke_gpu_driver, f"not set: it applies to gcp only, not {cloud}"))
    return issues


def _model_issues(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    pools = {p.name: p for _, p in s.gpu_pools}
    min_replicas = getattr(s.guardrails, "min_replicas", 1)
    for i, model in s.models:
        path = f"models[{i}]"
        if model.gpu_pool is not None and model.gpu_pool in s.invalid_pools:
            pass  # the pool's own problems are the root cause, reported on the pool
        elif model.gpu_pool is not None and model.gpu_pool not in pools:
            known = ", ".join(sorted(pools)) or "none defined"
            issues.append((f"{path}.gpu_pool", model.gpu_pool, f"the name of a valid pool in gpu_pools ({known})"))
        elif model.gpu_pool is not None:
            per_node = pools[model.gpu_pool].schedulable_gpus_per_node
            if model.gpus_per_replica > per_node:
                issues.append(
                    (
                        f"{path}.gpus_per_replica",
                        model.gpus_per_replica,
                        f"at most {per_node}, the GPUs a node of pool '{model.gpu_pool}' offers",
                    )
                )
        if s.cloud is not None:
            scheme = REPOSITORY_SCHEMES[s.cloud.provider]
            if not model.repository_uri.startswith(scheme):
                issues.append((f"{path}.repository_uri", model.repository_uri, f"a URI starting with '{scheme}' on {s.cloud.provider}"))
        if model.scales_to_zero:
            if s.guardrails is not None and not s.guardrails.allow_scale_to_zero:
                issues.append(
                    (
                        f"{path}.replicas.min",
                        0,
                        f"at least {min_replicas}: guardrails.allow_scale_to_zero is false in {s.environment}",
                    )
                )
        elif model.replicas.min < min_replicas:
            issues.append(
                (f"{path}.replicas.min", model.replicas.min, f"at least {min_replicas} (guardrails.min_replicas in {s.environment})")
            )
    return issues


def _serving_issues(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    if s.serving is None or s.guardrails is None or not s.models:
        return issues
    if s.guardrails.require_image_digest:
        for field in ("triton_image", "sync_image", "loadtester_image"):
            image = getattr(s.serving, field)
            if image.digest is None:
                issues.append(
                    (
                        f"serving.{field}.digest",
                        None,
                        f"an image digest (sha256:...): guardrails.require_image_digest is true in {s.environment}",
                    )
                )
    gateway = s.serving.gateway
    if s.guardrails.require_auth and gateway.enabled and gateway.auth == "none":
        issues.append(("serving.gateway.auth", "none", f"'jwt': guardrails.require_auth is true in {s.environment}"))
    if s.environment in ("canary", "prod") and not gateway.enabled:
        issues.append(
            ("serving.gateway.enabled", False, f"true: models in {s.environment} are served through the gateway (TLS, auth, rate limits)")
        )
    monitored = s.monitoring is not None and s.monitoring.enabled
    has_prometheus = s.serving.keda.prometheus_url is not None or monitored
    release_prometheus = s.serving.flagger.prometheus_url is not None or monitored
    for i, model in s.models:
        if model.autoscaling.cpu_utilization is None and not has_prometheus:
            issues.append(
                (
                    f"models[{i}].autoscaling.cpu_utilization",
                    None,
                    "a CPU target: with monitoring disabled and no serving.keda.prometheus_url, no Prometheus holds the Triton signal",
                )
            )
        mode = model.release.mode
        if not gateway.enabled and mode not in ("blue_green", "all_at_once"):
            issues.append(
                (
                    f"models[{i}].release.mode",
                    mode,
                    "blue_green or all_at_once: without the gateway Flagger cannot split, match or mirror the model's traffic",
                )
            )
        if not release_prometheus and mode != "all_at_once":
            issues.append(
                (
                    f"models[{i}].release.mode",
                    mode,
                    "all_at_once: with monitoring disabled and no serving.flagger.prometheus_url, no Prometheus holds the "
                    "candidate's metrics to check",
                )
            )
    cloud_identity = s.cloud is None or s.cloud.provider != "kubernetes"
    if cloud_identity and s.cluster is not None and not s.cluster.name and not s.gpu_pools:
        issues.append(("cluster.name", None, "the managed cluster's name: served models read their repository through workload identity"))
    return issues


def _endpoint_issues(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    require_digest = getattr(s.guardrails, "require_image_digest", False)
    for i, endpoint in s.managed_endpoints:
        path = f"managed_endpoints[{i}]"
        if s.cloud is not None:
            scheme = MODEL_URI_PREFIXES[s.cloud.provider]
            if not endpoint.model_uri.startswith(scheme):
                issues.append((f"{path}.model_uri", endpoint.model_uri, f"a URI starting with '{scheme}' on {s.cloud.provider}"))
            issues += _endpoint_capability_issues(path, endpoint, s.cloud.provider, s.environment)
        images = [("image", endpoint.image)] + [(f"{role}.image", c.image) for role, c in endpoint.candidates.items() if c.image]
        for key, image in images:
            if require_digest and "@sha256:" not in image:
                issues.append((f"{path}.{key}", image, f"an image pinned by digest (@sha256:...) in {s.environment}"))
    return issues


def _endpoint_capability_issues(path: str, endpoint: ManagedEndpointConfig, cloud: str, environment: str | None) -> list[Issue]:
    """What the endpoint asks of its cloud that the cloud cannot do (the capability matrix), with why and what instead."""

    return [(f"{path}.{key}", value, expected) for key, value, expected in capability_issues(endpoint, cloud, environment)]


def _environment_issues(s: Sections) -> list[Issue]:
    issues: list[Issue] = []
    g = s.guardrails
    assert g is not None
    if s.mlflow is not None and s.mlflow.enabled:
        if g.require_auth and s.mlflow.auth.mode == "none":
            issues.append(("mlflow.auth.mode", "none", f"'oidc': guardrails.require_auth is true in {s.environment}"))
        auth = s.mlflow.auth
        if auth.mode == "oidc" and s.environment != "dev" and not (auth.email_domains or auth.allowed_groups):
            issues.append(
                (
                    "mlflow.auth.email_domains",
                    None,
                    f"the e-mail domains (or mlflow.auth.allowed_groups) whose users may sign in: in {s.environment} the "
                    "default admits every account the identity provider knows",
                )
            )
        if s.mlflow.replicas < g.min_replicas:
            issues.append(
                (
                    "mlflow.replicas",
                    s.mlflow.replicas,
                    f"at least {g.min_replicas} (guardrails.min_replicas in {s.environment})",
                )
            )
        if g.require_ha_database and not s.mlflow.database.high_availability:
            issues.append(("mlflow.database.high_availability", False, f"true: guardrails.require_ha_database is true in {s.environment}"))
    pages = s.monitoring is not None and any("page" in r.severities for r in s.monitoring.receivers)
    # With install false, paging is the existing Alertmanager's routing, outside this stack.
    if s.environment == "prod" and s.monitoring is not None and s.monitoring.enabled and s.monitoring.install and not pages:
        issues.append(
            ("monitoring.receivers", [r.name for r in s.monitoring.receivers], "at least one receiver of severity 'page' in prod")
        )
    return issues
