"""Upload a custom model to the Vertex AI Model Registry, deploy it to an endpoint and split traffic: a Pulumi dynamic resource.

Neither pulumi_gcp nor the Terraform google provider can upload a custom model or deploy one to an ``AiEndpoint``
(hashicorp/terraform-provider-google#15303). This resource closes the gap through the official
``google-cloud-aiplatform`` client (``aiplatform_v1``), with the deploying identity's Application Default Credentials:

* create and update converge the endpoint on the desired versions, starting from what the endpoint reports: each
  deployment carries its role and a digest of its spec in its display name (the registry version in its labels),
  so a step that failed half-way is finished, reused or removed by the retry instead of trusting a stale state.
  A new live version is deployed next to the serving one and takes over by the release strategy (all at once,
  canary, linear, with a fixed pause of ``wait_seconds`` after each stage: a pause, not a health gate); if a stage
  fails, traffic returns to the old version and the new one is undeployed. Replica bounds are mutated in place.
  A failed create undeploys and deletes what it made.
* read reports the deployments and split the endpoint serves now (``pulumi refresh``).
* delete: undeploy every deployment of this registry model on the endpoint, then delete the registry model.
* diff: a different project, location, endpoint or registry model id replaces; anything else updates.

Every call goes through ``VertexApi``, which waits for long-running operations with a timeout; tests inject a fake
client (``client_factory``) and a recording ``sleep``. The provider is serialized into the stack's state by Pulumi
(dill, by reference to this module), so the module must stay importable from the project directory.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi.dynamic as dynamic

ROLES = ("live", "canary")
"""Deployment roles in deploy order: the canary's traffic split names the live deployed model."""

SPEC_KEYS = ("artifact_uri", "image_uri")
"""Per-version fields that need a new model upload and deployment when they change."""
SHARED_SPEC_KEYS = ("machine", "container", "service_account", "kms_key")
"""Endpoint-wide fields that need every version redeployed when they change (immutable on a DeployedModel)."""
REPLACE_KEYS = ("project", "location", "endpoint", "model_id")
INPUT_KEYS = (
    *REPLACE_KEYS,
    *SHARED_SPEC_KEYS,
    "display_name",
    "labels",
    "replicas",
    "autoscaling",
    "versions",
    "shift",
    "timeout_seconds",
)

TAG_LENGTH = 10
ROLE_NAME = re.compile(rf"-(live|canary)(?:-([0-9a-f]{{{TAG_LENGTH}}}))?$")
"""A deployed model's display name ends with its role and spec digest: ``<display_name>-<role>-<digest>``."""
SPEC_LABEL = "mlops-spec"

DUTY_CYCLE = "aiplatform.googleapis.com/prediction/online/accelerator/duty_cycle"
CPU_UTILIZATION = "aiplatform.googleapis.com/prediction/online/cpu/utilization"


class VertexDeploymentError(RuntimeError):
    """A Vertex AI call failed; the message says what was rolled back."""


@dataclass
class VertexClients:
    """The two aiplatform_v1 service clients the resource uses (or fakes with the same methods)."""

    endpoints: Any
    models: Any


def default_clients(location: str) -> VertexClients:
    """Real clients for the location's regional API endpoint, with Application Default Credentials."""
    from google.cloud import aiplatform_v1

    options = {"api_endpoint": f"{location}-aiplatform.googleapis.com"}
    return VertexClients(
        endpoints=aiplatform_v1.EndpointServiceClient(client_options=options),
        models=aiplatform_v1.ModelServiceClient(client_options=options),
    )


def _is_not_found(error: BaseException) -> bool:
    from google.api_core import exceptions

    return isinstance(error, exceptions.NotFound)


def shift_stages(mode: str, step_percent: int) -> list[int]:
    """Percent of the live share the new version holds at each stage; every stage is followed by a bake."""
    if mode == "canary":
        return [step_percent, 100]
    if mode == "linear":
        stages = list(range(step_percent, 100, step_percent))
        return [*stages, 100]
    return [100]


def split_share(total: int, percent: int) -> int:
    """`percent` of `total` traffic points, rounded; the rest stays with the other version."""
    return round(total * percent / 100)


class VertexApi:
    """The Vertex AI calls the resource makes, each waiting for its long-running operation."""

    def __init__(self, clients: VertexClients, props: Mapping[str, Any], sleep: Callable[[float], None]) -> None:
        self.clients = clients
        self.props = props
        self.sleep = sleep
        self.timeout = float(props.get("timeout_seconds", 3600))

    @property
    def parent(self) -> str:
        return f"projects/{self.props['project']}/locations/{self.props['location']}"

    @property
    def model_name(self) -> str:
        return f"{self.parent}/models/{self.props['model_id']}"

    @property
    def endpoint(self) -> str:
        return str(self.props["endpoint"])

    def _wait(self, operation: Any, what: str) -> Any:
        try:
            return operation.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError as error:
            raise VertexDeploymentError(f"{what}: no result after {self.timeout:g} s") from error

    def observe(self, known: Mapping[str, str]) -> list[Observed]:
        """The deployments of this registry model on the endpoint, with the role and spec digest each serves."""
        found = []
        for deployed in self.clients.endpoints.get_endpoint(name=self.endpoint).deployed_models:
            base, _, version = str(deployed.model).partition("@")
            version = str(getattr(deployed, "model_version_id", "") or version)
            if _model_id(base) != self.props["model_id"]:
                continue
            match = ROLE_NAME.search(str(deployed.display_name))
            role, tag = (match[1], match[2]) if match else (None, None)
            res = deployed.dedicated_resources
            specs = list(res.autoscaling_metric_specs)
            resources = (int(res.min_replica_count), int(res.max_replica_count), int(specs[0].target) if specs else 0)
            model = f"{base}@{version}" if version else base
            found.append(Observed(str(deployed.id), role, tag or known.get(str(deployed.id)), model, resources))
        return found

    def find_or_upload(self, role: str, tag: str) -> str:
        """A registry version made from this spec (a retry reuses it), else a new upload."""
        try:
            for model in self.clients.models.list_model_versions(name=self.model_name):
                if dict(model.labels).get(SPEC_LABEL) == tag:
                    return f"{model.name}@{model.version_id}"
        except Exception as error:
            if not _is_not_found(error):
                raise
            return self.upload(role, tag, new_model=True)
        return self.upload(role, tag, new_model=False)

    def upload(self, role: str, tag: str, *, new_model: bool) -> str:
        """Upload a version of the registry model; returns `projects/.../models/<id>@<version>`."""
        from google.cloud import aiplatform_v1 as v1

        version = self.props["versions"][role]
        container = self.props["container"]
        model = v1.Model(
            display_name=f"{self.props['display_name']}-{role}",
            artifact_uri=version["artifact_uri"],
            container_spec=v1.ModelContainerSpec(
                image_uri=version["image_uri"],
                ports=[v1.Port(container_port=container["port"])],
                predict_route=container["predict_route"],
                health_route=container["health_route"],
            ),
            labels={**self.props.get("labels", {}), "mlops-role": role, SPEC_LABEL: tag},
            encryption_spec=v1.EncryptionSpec(kms_key_name=self.props["kms_key"]) if self.props.get("kms_key") else None,
        )
        if new_model:
            request = v1.UploadModelRequest(parent=self.parent, model_id=self.props["model_id"], model=model)
        else:
            request = v1.UploadModelRequest(parent=self.parent, parent_model=self.model_name, model=model)
        response = self._wait(self.clients.models.upload_model(request=request), f"upload of the {role} model")
        return f"{response.model}@{response.model_version_id}"

    def wanted_resources(self, role: str) -> tuple[int, int, int]:
        replicas = self.props["replicas"][role]
        return (int(replicas["min"]), int(replicas["max"]), int(self.props["autoscaling"]["target"]))

    def _resources(self, role: str) -> Any:
        from google.cloud import aiplatform_v1 as v1

        machine = self.props["machine"]
        replicas = self.props["replicas"][role]
        spec = v1.MachineSpec(machine_type=machine["machine_type"])
        metric = CPU_UTILIZATION
        if machine.get("accelerator_type"):
            spec = v1.MachineSpec(
                machine_type=machine["machine_type"],
                accelerator_type=getattr(v1.AcceleratorType, machine["accelerator_type"]),
                accelerator_count=machine["accelerator_count"],
            )
            metric = DUTY_CYCLE
        return v1.DedicatedResources(
            machine_spec=spec,
            min_replica_count=replicas["min"],
            max_replica_count=replicas["max"],
            autoscaling_metric_specs=[v1.AutoscalingMetricSpec(metric_name=metric, target=self.props["autoscaling"]["target"])],
        )

    def deploy(self, role: str, model: str, traffic: Mapping[str, int], tag: str) -> str:
        """Deploy a model version; `traffic` uses key "0" for it. Returns the DeployedModel id."""
        from google.cloud import aiplatform_v1 as v1

        deployed = v1.DeployedModel(
            model=model,
            display_name=f"{self.props['display_name']}-{role}-{tag}",
            service_account=self.props["service_account"],
            dedicated_resources=self._resources(role),
        )
        operation = self.clients.endpoints.deploy_model(endpoint=self.endpoint, deployed_model=deployed, traffic_split=dict(traffic))
        response = self._wait(operation, f"deployment of the {role} model {model}")
        return str(response.deployed_model.id)

    def set_traffic(self, split: Mapping[str, int]) -> None:
        from google.cloud import aiplatform_v1 as v1
        from google.protobuf import field_mask_pb2

        self.clients.endpoints.update_endpoint(
            endpoint=v1.Endpoint(name=self.endpoint, traffic_split=dict(split)),
            update_mask=field_mask_pb2.FieldMask(paths=["traffic_split"]),
        )

    def mutate(self, role: str, deployed_model_id: str) -> None:
        """Change replica bounds and autoscaling of a deployed model in place."""
        from google.cloud import aiplatform_v1 as v1
        from google.protobuf import field_mask_pb2

        operation = self.clients.endpoints.mutate_deployed_model(
            endpoint=self.endpoint,
            deployed_model=v1.DeployedModel(id=deployed_model_id, dedicated_resources=self._resources(role)),
            update_mask=field_mask_pb2.FieldMask(
                paths=[
                    "dedicated_resources.min_replica_count",
                    "dedicated_resources.max_replica_count",
                    "dedicated_resources.autoscaling_metric_specs",
                ]
            ),
        )
        self._wait(operation, f"resize of the {role} model")

    def undeploy(self, deployed_model_id: str, traffic: Mapping[str, int]) -> None:
        operation = self.clients.endpoints.undeploy_model(
            endpoint=self.endpoint, deployed_model_id=deployed_model_id, traffic_split=dict(traffic)
        )
        self._wait(operation, f"undeployment of {deployed_model_id}")

    def traffic(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.clients.endpoints.get_endpoint(name=self.endpoint).traffic_split.items()}

    def delete_model(self) -> None:
        self._wait(self.clients.models.delete_model(name=self.model_name), f"deletion of {self.model_name}")


def version_spec(props: Mapping[str, Any], role: str) -> dict[str, Any]:
    """What a deployed version was made from; a difference means upload and deploy again."""
    version = props["versions"][role]
    return {**{k: version[k] for k in SPEC_KEYS}, **{k: props.get(k) for k in SHARED_SPEC_KEYS}}


def spec_tag(spec: Mapping[str, Any]) -> str:
    """A short digest of a version spec: carried by the deployed model's display name and the model version's labels,
    so the endpoint itself says which spec each deployment serves (no trust in a state that a failure left stale)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:TAG_LENGTH]


def weights(props: Mapping[str, Any]) -> dict[str, int]:
    return {role: int(v["percent"]) for role, v in props["versions"].items()}


@dataclass(frozen=True)
class Observed:
    """One deployed model of this resource, as the endpoint reports it."""

    id: str
    role: str | None
    """live or canary; None for a deployment of this registry model that names neither (it is removed)."""
    tag: str | None
    """The spec digest it serves; None when unknown (it is replaced)."""
    model: str
    resources: tuple[int, int, int]
    """Min replicas, max replicas, autoscaling target."""

    def entry(self, spec: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"deployed_model_id": self.id, "model": self.model, "tag": self.tag, "spec": dict(spec) if spec else None}


def _model_id(model: str) -> str:
    return model.partition("@")[0].rsplit("/", 1)[-1]


def _moved(split: Mapping[str, int], leaving: str) -> dict[str, int]:
    """The split without ``leaving``, its share given to the deployment that serves most (Vertex refuses to
    undeploy a model that still has traffic)."""
    rest = {k: v for k, v in split.items() if k != leaving}
    if rest:
        top = max(rest, key=lambda k: (rest[k], k))
        rest[top] += 100 - sum(rest.values())
    return rest


def _serving(split: Mapping[str, int]) -> dict[str, int]:
    return {k: v for k, v in split.items() if v}


class VertexDeploymentProvider(dynamic.ResourceProvider):
    """CRUD of the model versions deployed to one Vertex AI endpoint and its traffic split.

    Every create and update converges from what the endpoint reports, never from the previous state alone: a
    step that failed half-way (a release done but a canary not deployed, a deploy that timed out but finished,
    an undeploy that did not happen) is found on the endpoint by its role and spec digest and finished, reused
    or removed on the next run, so a retry converges without deploying twice or leaving replicas behind.
    """

    def __init__(
        self,
        client_factory: Callable[[str], VertexClients] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self.client_factory = client_factory or default_clients
        self.sleep = sleep or time.sleep

    def _api(self, props: Mapping[str, Any]) -> VertexApi:
        return VertexApi(self.client_factory(str(props["location"])), props, self.sleep)

    # --- check / diff --------------------------------------------------------------------------------------------
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = [dynamic.CheckFailure(k, "required") for k in (*REPLACE_KEYS, "versions", "machine", "replicas") if not news.get(k)]
        versions = news.get("versions") or {}
        if "live" not in versions:
            failures.append(dynamic.CheckFailure("versions", "a live version is required"))
        elif sum(int(v["percent"]) for v in versions.values()) != 100:
            failures.append(dynamic.CheckFailure("versions", "the versions' percents must add up to 100"))
        unknown = set(versions) - set(ROLES)
        if unknown:
            failures.append(dynamic.CheckFailure("versions", f"unknown roles {sorted(unknown)}; expected {list(ROLES)}"))
        return dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [k for k in REPLACE_KEYS if olds.get(k) != news.get(k)]
        changed = [k for k in INPUT_KEYS if olds.get(k) != news.get(k)]
        return dynamic.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    # --- create / update: converge the endpoint on the desired versions -------------------------------------------
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        api = self._api(props)
        try:
            deployed = self._converge(api, props, {})
        except Exception as error:
            self._remove_all(api, strict=False)
            raise VertexDeploymentError(f"creating the deployments of {props['endpoint']} failed and was cleaned up: {error}") from error
        outs = {**props, "deployed": deployed, "traffic_split": api.traffic()}
        return dynamic.CreateResult(id_=f"{props['endpoint']}/models/{props['model_id']}", outs=outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        api = self._api(news)
        deployed = self._converge(api, news, known_tags(olds))
        return dynamic.UpdateResult(outs={**news, "deployed": deployed, "traffic_split": api.traffic()})

    def _converge(self, api: VertexApi, news: Mapping[str, Any], known: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """Make the endpoint serve exactly the desired live (and canary) versions with the desired split.

        Steps, each safe to repeat: (1) the live version (release it stage by stage next to the serving one, or
        finish a release a failure interrupted); (2) the canary (reuse a deployment of its spec, else deploy
        it); (3) the split; (4) undeploy everything else of this model; (5) replica bounds of what was kept.
        """
        observed = api.observe(known)
        live = self._release_live(api, news, observed)
        fresh = {live.id} - {o.id for o in observed}
        kept = [live]
        share = weights(news)
        desired = {live.id: share["live"]}
        if "canary" in news["versions"]:
            tag = spec_tag(version_spec(news, "canary"))
            canary = next((o for o in observed if o.role == "canary" and o.tag == tag), None)
            if canary is None:
                model = api.find_or_upload("canary", tag)
                others = {o.id: 0 for o in observed if o.id not in (live.id,) and o.role != "live"}
                new_id = api.deploy("canary", model, {"0": share["canary"], live.id: share["live"], **others}, tag)
                canary = Observed(new_id, "canary", tag, model, api.wanted_resources("canary"))
                fresh.add(new_id)
            kept.append(canary)
            desired[canary.id] = share["canary"]
        if _serving(api.traffic()) != _serving(desired):
            api.set_traffic(desired)
        for leftover in api.observe(known):
            if leftover.id not in desired:
                api.undeploy(leftover.id, desired)
        for entry in kept:
            if entry.id not in fresh and entry.role is not None and entry.resources != api.wanted_resources(entry.role):
                api.mutate(entry.role, entry.id)
        return {entry.role: entry.entry(version_spec(news, entry.role)) for entry in kept if entry.role is not None}

    def _release_live(self, api: VertexApi, news: Mapping[str, Any], observed: list[Observed]) -> Observed:
        """The deployment that serves the desired live spec, released by the configured stages.

        Stages move the live share (what the canary does not hold) to the new version with a fixed pause of
        ``wait_seconds`` after each: a pause, not a health gate (Vertex AI has no alarm to gate on). A failure
        during the stages returns the live share to the old version and undeploys the new one.
        """
        tag = spec_tag(version_spec(news, "live"))
        lives = [o for o in observed if o.role == "live"]
        target = next((o for o in lives if o.tag == tag), None)
        olds = [o for o in lives if o is not target]
        split = api.traffic()
        others = {k: v for k, v in split.items() if k not in {o.id for o in lives}}
        live_share = 100 - sum(others.values())
        if not olds:
            if target is not None:
                return target
            model = api.find_or_upload("live", tag)  # nothing live yet: the first deployment takes the live share at once
            new_id = api.deploy("live", model, {"0": live_share, **others}, tag)
            return Observed(new_id, "live", tag, model, api.wanted_resources("live"))
        main = max(olds, key=lambda o: (split.get(o.id, 0), o.id))
        held = split.get(target.id, 0) if target is not None else 0
        extra = [o for o in olds if o is not main]
        if extra:  # an interrupted run left several old live versions: the one serving most keeps their share
            merged = {main.id: live_share - held, **({target.id: held} if target is not None else {}), **others}
            api.set_traffic(merged)
            for o in extra:
                api.undeploy(o.id, merged)
        shift = news["shift"]
        stages = shift_stages(shift["mode"], int(shift["step_percent"]))
        if target is None:
            model = api.find_or_upload("live", tag)
            first = split_share(live_share, stages[0])
            new_id = api.deploy("live", model, {"0": first, main.id: live_share - first, **others}, tag)
            target, done = Observed(new_id, "live", tag, model, api.wanted_resources("live")), stages[0]
        else:  # a release a failure interrupted: go on from the share the new version holds
            done = round(held * 100 / live_share) if live_share else 100
        try:
            for percent in (p for p in stages if p > done):
                api.sleep(float(shift["wait_seconds"]))
                moved = split_share(live_share, percent)
                api.set_traffic({target.id: moved, main.id: live_share - moved, **others})
            api.sleep(float(shift["wait_seconds"]))  # the last pause while the old version is still deployed
            api.undeploy(main.id, {target.id: live_share, **others})
        except Exception as error:
            try:
                api.set_traffic({main.id: live_share, **others})
                api.undeploy(target.id, {main.id: live_share, **others})
            except Exception as rollback_error:
                raise VertexDeploymentError(
                    f"releasing {target.model} failed ({error}) and so did the rollback ({rollback_error}): "
                    f"check the traffic split of {api.endpoint}"
                ) from error
            raise VertexDeploymentError(f"releasing {target.model} failed and was rolled back to {main.model}: {error}") from error
        return target

    # --- read / delete ---------------------------------------------------------------------------------------------
    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        """What the endpoint serves now: per role the deployment with the most traffic, and the split."""
        api = self._api(props)
        split = api.traffic()
        deployed: dict[str, dict[str, Any]] = {}
        previous = props.get("deployed") or {}
        for o in sorted(api.observe(known_tags(props)), key=lambda o: split.get(o.id, 0)):
            if o.role is None:
                continue
            wanted = version_spec(props, o.role) if o.role in props["versions"] else None
            spec = wanted if wanted is not None and o.tag == spec_tag(wanted) else (previous.get(o.role) or {}).get("spec")
            deployed[o.role] = o.entry(spec)
        return dynamic.ReadResult(id_, {**props, "deployed": deployed, "traffic_split": split})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self._remove_all(self._api(props), strict=True, known=known_tags(props))

    def _remove_all(self, api: VertexApi, *, strict: bool, known: Mapping[str, str] | None = None) -> None:
        """Undeploy every deployment of this registry model (canary first, live last), then delete the model.

        ``strict`` (delete) raises so Pulumi keeps the resource and the next destroy retries; otherwise (cleanup
        after a failed create) each failure is logged and the rest goes on.
        """
        try:
            observed = api.observe(known or {})
        except Exception as error:
            if strict and not _is_not_found(error):
                raise
            observed = []
        for o in sorted(observed, key=lambda o: (o.role == "live", o.id)):
            try:
                api.undeploy(o.id, _moved(api.traffic(), o.id))
            except Exception as error:
                if _is_not_found(error):
                    continue
                if strict:
                    raise
                pulumi.log.warn(f"cleanup: undeploying {o.id} failed: {error}")
        try:
            api.delete_model()
        except Exception as error:
            if _is_not_found(error):
                return
            if strict:
                raise
            pulumi.log.warn(f"cleanup: deleting {api.model_name} failed: {error}")


def known_tags(props: Mapping[str, Any]) -> dict[str, str]:
    """Deployed model id to spec digest from a previous state: deployments made before display names carried the
    digest are recognised by the spec the state recorded for them."""
    known: dict[str, str] = {}
    for entry in (props.get("deployed") or {}).values():
        tag = entry.get("tag") or (spec_tag(entry["spec"]) if entry.get("spec") else None)
        if tag:
            known[str(entry["deployed_model_id"])] = tag
    return known


class VertexModelDeployment(dynamic.Resource, module="vertex", name="ModelDeployment"):
    """The model versions deployed to one Vertex AI endpoint, and its traffic split.

    Type token: `pulumi-python:dynamic/vertex:ModelDeployment`.
    """

    deployed: pulumi.Output[dict[str, Any]]
    """Role to {deployed_model_id, model (registry name@version), spec}."""
    traffic_split: pulumi.Output[dict[str, int]]
    """DeployedModel id to percent, as last read from the endpoint."""

    def __init__(
        self,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
        provider: VertexDeploymentProvider | None = None,
    ) -> None:
        super().__init__(provider or VertexDeploymentProvider(), name, {**props, "deployed": None, "traffic_split": None}, opts)
