"""Upload a custom model to the Vertex AI Model Registry, deploy it to an endpoint and split traffic: a Pulumi dynamic resource.

Neither pulumi_gcp nor the Terraform google provider can upload a custom model or deploy one to an ``AiEndpoint``
(hashicorp/terraform-provider-google#15303). This resource closes the gap through the official
``google-cloud-aiplatform`` client (``aiplatform_v1``), with the deploying identity's Application Default Credentials:

* create: upload the live version (and the canary) as versions of one registry model, deploy them with dedicated
  resources and autoscaling, traffic ``{live: 100 - p, canary: p}``; on any failure, undeploy and delete what it made.
* update: a new live version is deployed next to the old one and takes over by the release strategy (all at once,
  canary, linear, with a bake of ``wait_seconds`` per stage); if a step fails, traffic returns to the old version and
  the new one is undeployed. Canary changes redeploy or reweight it; replica bounds are mutated in place.
* delete: undeploy every deployed model this resource made, then delete its registry model.
* diff: a different project, location, endpoint or registry model id replaces; anything else updates.

Every call goes through ``VertexApi``, which waits for long-running operations with a timeout; tests inject a fake
client (``client_factory``) and a recording ``sleep``. The provider is serialized into the stack's state by Pulumi
(dill, by reference to this module), so the module must stay importable from the project directory.
"""

from __future__ import annotations

import concurrent.futures
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

    def upload(self, role: str) -> str:
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
            labels={**self.props.get("labels", {}), "mlops-role": role},
            encryption_spec=v1.EncryptionSpec(kms_key_name=self.props["kms_key"]) if self.props.get("kms_key") else None,
        )
        try:
            self.clients.models.get_model(name=self.model_name)
            request = v1.UploadModelRequest(parent=self.parent, parent_model=self.model_name, model=model)
        except Exception as error:
            if not _is_not_found(error):
                raise
            request = v1.UploadModelRequest(parent=self.parent, model_id=self.props["model_id"], model=model)
        response = self._wait(self.clients.models.upload_model(request=request), f"upload of the {role} model")
        return f"{response.model}@{response.model_version_id}"

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

    def deploy(self, role: str, model: str, traffic: Mapping[str, int]) -> str:
        """Deploy a model version; `traffic` uses key "0" for it. Returns the DeployedModel id."""
        from google.cloud import aiplatform_v1 as v1

        deployed = v1.DeployedModel(
            model=model,
            display_name=f"{self.props['display_name']}-{role}",
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


def weights(props: Mapping[str, Any]) -> dict[str, int]:
    return {role: int(v["percent"]) for role, v in props["versions"].items()}


class VertexDeploymentProvider(dynamic.ResourceProvider):
    """CRUD of the model versions deployed to one Vertex AI endpoint and its traffic split."""

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

    # --- create ----------------------------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        api = self._api(props)
        deployed: dict[str, dict[str, Any]] = {}
        share = weights(props)
        try:
            for role in ROLES:
                if role not in props["versions"]:
                    continue
                model = api.upload(role)
                others = {d["deployed_model_id"]: share[r] for r, d in deployed.items()}
                # The live version is deployed first and holds all traffic until the canary arrives.
                traffic = {"0": share[role] if others else 100, **others}
                deployed[role] = {"deployed_model_id": api.deploy(role, model, traffic), "model": model, "spec": version_spec(props, role)}
        except Exception as error:
            self._cleanup(api, deployed)
            raise VertexDeploymentError(f"creating the deployments of {props['endpoint']} failed and was cleaned up: {error}") from error
        outs = {**props, "deployed": deployed, "traffic_split": api.traffic()}
        return dynamic.CreateResult(id_=f"{props['endpoint']}/models/{props['model_id']}", outs=outs)

    def _cleanup(self, api: VertexApi, deployed: Mapping[str, Mapping[str, Any]]) -> None:
        """Undo a failed create: undeploy in reverse order, then delete the registry model (best effort)."""
        remaining = dict(deployed)
        for role in reversed(ROLES):
            if role in remaining:
                entry = remaining.pop(role)
                try:
                    api.undeploy(entry["deployed_model_id"], {d["deployed_model_id"]: 100 for d in remaining.values()})
                except Exception as error:
                    pulumi.log.warn(f"cleanup: undeploying {entry['deployed_model_id']} failed: {error}")
        try:
            api.delete_model()
        except Exception as error:
            if not _is_not_found(error):
                pulumi.log.warn(f"cleanup: deleting {api.model_name} failed: {error}")

    # --- update ----------------------------------------------------------------------------------------------------
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        api = self._api(news)
        deployed: dict[str, dict[str, Any]] = {role: dict(entry) for role, entry in (olds.get("deployed") or {}).items()}
        old_share, new_share = weights(olds), weights(news)
        live = deployed["live"]
        canary = deployed.get("canary")
        canary_split = {canary["deployed_model_id"]: old_share.get("canary", 0)} if canary else {}
        live_share = 100 - sum(canary_split.values())

        if version_spec(news, "live") != live["spec"]:
            deployed["live"] = self._release_live(api, news, live, live_share, canary_split)
        elif olds["replicas"].get("live") != news["replicas"]["live"] or olds.get("autoscaling") != news.get("autoscaling"):
            api.mutate("live", live["deployed_model_id"])
        live_id = deployed["live"]["deployed_model_id"]

        wanted = news["versions"].get("canary")
        if canary is not None and wanted is None:
            api.undeploy(canary["deployed_model_id"], {live_id: 100})
            del deployed["canary"]
        elif wanted is not None and (canary is None or version_spec(news, "canary") != canary["spec"]):
            model = api.upload("canary")
            traffic = {"0": new_share["canary"], live_id: new_share["live"]}
            if canary is not None:
                traffic[canary["deployed_model_id"]] = 0
            new_id = api.deploy("canary", model, traffic)
            if canary is not None:
                api.undeploy(canary["deployed_model_id"], {new_id: new_share["canary"], live_id: new_share["live"]})
            deployed["canary"] = {"deployed_model_id": new_id, "model": model, "spec": version_spec(news, "canary")}
        elif canary is not None:
            if old_share.get("canary") != new_share["canary"]:
                api.set_traffic({canary["deployed_model_id"]: new_share["canary"], live_id: new_share["live"]})
            if olds["replicas"].get("canary") != news["replicas"].get("canary") or olds.get("autoscaling") != news.get("autoscaling"):
                api.mutate("canary", canary["deployed_model_id"])
        outs = {**news, "deployed": deployed, "traffic_split": api.traffic()}
        return dynamic.UpdateResult(outs=outs)

    def _release_live(
        self, api: VertexApi, news: Mapping[str, Any], old: Mapping[str, Any], live_share: int, others: Mapping[str, int]
    ) -> dict[str, Any]:
        """Deploy the new live version next to the old one and shift the live share to it stage by stage."""
        shift = news["shift"]
        stages = shift_stages(shift["mode"], int(shift["step_percent"]))
        old_id = old["deployed_model_id"]
        model = api.upload("live")
        first = split_share(live_share, stages[0])
        new_id = api.deploy("live", model, {"0": first, old_id: live_share - first, **others})
        try:
            for percent in stages[1:]:
                api.sleep(float(shift["wait_seconds"]))
                share = split_share(live_share, percent)
                api.set_traffic({new_id: share, old_id: live_share - share, **others})
            api.sleep(float(shift["wait_seconds"]))  # final bake while the old version is still deployed
            api.undeploy(old_id, {new_id: live_share, **others})
        except Exception as error:
            try:
                api.set_traffic({old_id: live_share, **others})
                api.undeploy(new_id, {old_id: live_share, **others})
            except Exception as rollback_error:
                raise VertexDeploymentError(
                    f"releasing {model} failed ({error}) and so did the rollback ({rollback_error}): "
                    f"check the traffic split of {api.endpoint}"
                ) from error
            raise VertexDeploymentError(f"releasing {model} failed and was rolled back to {old['model']}: {error}") from error
        return {"deployed_model_id": new_id, "model": model, "spec": version_spec(news, "live")}

    # --- read / delete ---------------------------------------------------------------------------------------------
    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        return dynamic.ReadResult(id_, {**props, "traffic_split": self._api(props).traffic()})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        api = self._api(props)
        remaining = dict(props.get("deployed") or {})
        for role in reversed(ROLES):
            if role not in remaining:
                continue
            entry = remaining.pop(role)
            try:
                api.undeploy(entry["deployed_model_id"], {d["deployed_model_id"]: 100 for d in remaining.values()})
            except Exception as error:
                if not _is_not_found(error):
                    raise
        try:
            api.delete_model()
        except Exception as error:
            if not _is_not_found(error):
                raise


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
