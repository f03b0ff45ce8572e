"""The dynamic resources behind the endpoints: Vertex AI model upload/deploy/traffic split against a fake
aiplatform client (calls, long-running operations, failures, rollback), and Azure ML traffic against a fake ARM."""

from __future__ import annotations

import base64
import concurrent.futures
import copy
import inspect
from types import SimpleNamespace
from typing import Any

import dill  # type: ignore[import-untyped]
import pytest
from google.api_core import exceptions, operation
from google.api_core.future import polling
from google.longrunning import operations_pb2  # type: ignore[import-untyped]
from google.protobuf import empty_pb2
from google.rpc import status_pb2  # type: ignore[import-untyped]
from pulumi.dynamic.dynamic import serialize_provider

from mlops_platform.endpoints.azureml_traffic import AzureMlTrafficProvider, ConflictError
from mlops_platform.endpoints.vertex_deploy import (
    CPU_UTILIZATION,
    DUTY_CYCLE,
    VertexClients,
    VertexDeploymentError,
    VertexDeploymentProvider,
    shift_stages,
    spec_tag,
    version_spec,
)

ENDPOINT = "projects/acme-ml/locations/us-central1/endpoints/1234567890"
REGISTRY = "projects/acme-ml/locations/us-central1/models/churn-prod"


class FakeOperation:
    """A long-running operation: `result(timeout)` polls until done, then returns or raises."""

    def __init__(
        self, log: list[tuple[str, Any]], what: str, result: Any = None, error: BaseException | None = None, polls: int = 3
    ) -> None:
        self.log, self.what, self._result, self.error, self.polls = log, what, result, error, polls

    def result(self, timeout: float | None = None) -> Any:
        self.log.append(("wait", (self.what, timeout, self.polls)))
        if self.error is not None:
            raise self.error
        return self._result


class FakeVertex:
    """In-memory Vertex AI: a model registry with versions and one endpoint with deployed models and a traffic split.

    Enforces the API's rules the resource relies on: splits add up to 100 and name deployed models, a model with
    traffic cannot be undeployed, a deployed model's registry model cannot be deleted. ``fail`` maps a method to the
    1-based call numbers whose operation fails with the given error (or, for update_endpoint, raises directly).
    """

    def __init__(self, fail: dict[str, dict[int, BaseException]] | None = None, late: bool = False) -> None:
        self.late = late
        """A failing deploy or undeploy still takes effect (a timeout while the server finished the work)."""
        self.calls: list[tuple[str, Any]] = []
        self.count: dict[str, int] = {}
        self.fail = fail or {}
        self.registry: dict[str, list[dict[str, Any]]] = {}
        self.deployed: dict[str, dict[str, Any]] = {}
        self.split: dict[str, int] = {}
        self.next_id = 100
        self.endpoints = self
        self.models = self

    def _failure(self, method: str) -> BaseException | None:
        self.count[method] = self.count.get(method, 0) + 1
        return self.fail.get(method, {}).get(self.count[method])

    def _operation(self, what: str, result: Any = None, error: BaseException | None = None) -> Any:
        return FakeOperation(self.calls, what, result, error)

    def _check_split(self, split: dict[str, int]) -> None:
        assert not split or sum(split.values()) == 100, f"traffic split {split} does not add up to 100"
        assert set(split) <= set(self.deployed), f"traffic split {split} names undeployed models ({sorted(self.deployed)})"

    # ModelService
    def get_model(self, name: str) -> Any:
        self.calls.append(("get_model", name))
        if name not in self.registry:
            raise exceptions.NotFound(f"model {name}")
        return SimpleNamespace(name=name)

    def upload_model(self, request: Any) -> FakeOperation:
        name = request.parent_model or f"{request.parent}/models/{request.model_id}"
        model = request.model
        self.calls.append(
            (
                "upload_model",
                {
                    "parent_model": request.parent_model,
                    "model_id": request.model_id,
                    "artifact_uri": model.artifact_uri,
                    "image_uri": model.container_spec.image_uri,
                    "ports": [p.container_port for p in model.container_spec.ports],
                    "predict_route": model.container_spec.predict_route,
                    "health_route": model.container_spec.health_route,
                    "kms_key": model.encryption_spec.kms_key_name,
                    "labels": dict(model.labels),
                },
            )
        )
        error = self._failure("upload_model")
        if error:
            return self._operation("upload", error=error)
        versions = self.registry.setdefault(name, [])
        versions.append({"artifact_uri": model.artifact_uri, "labels": dict(model.labels)})
        return self._operation("upload", SimpleNamespace(model=name, model_version_id=str(len(versions))))

    def list_model_versions(self, name: str) -> list[Any]:
        self.calls.append(("list_model_versions", name))
        if name not in self.registry:
            raise exceptions.NotFound(f"model {name}")
        return [SimpleNamespace(name=name, version_id=str(i), labels=v["labels"]) for i, v in enumerate(self.registry[name], 1)]

    def delete_model(self, name: str) -> FakeOperation:
        self.calls.append(("delete_model", name))
        if name not in self.registry:
            raise exceptions.NotFound(name)
        in_use = [d for d in self.deployed.values() if d["model"].startswith(f"{name}@")]
        assert not in_use, f"model {name} is still deployed"
        del self.registry[name]
        return self._operation("delete")

    # EndpointService
    def deploy_model(self, endpoint: str, deployed_model: Any, traffic_split: dict[str, int]) -> FakeOperation:
        resources = deployed_model.dedicated_resources
        self.calls.append(
            (
                "deploy_model",
                {
                    "endpoint": endpoint,
                    "model": deployed_model.model,
                    "display_name": deployed_model.display_name,
                    "service_account": deployed_model.service_account,
                    "machine_type": resources.machine_spec.machine_type,
                    "accelerator": (resources.machine_spec.accelerator_type.name, resources.machine_spec.accelerator_count),
                    "replicas": (resources.min_replica_count, resources.max_replica_count),
                    "autoscaling": [(m.metric_name, m.target) for m in resources.autoscaling_metric_specs],
                    "traffic_split": dict(traffic_split),
                },
            )
        )
        error = self._failure("deploy_model")
        if error and not self.late:
            return self._operation("deploy", error=error)
        new_id = str(self.next_id)
        self.next_id += 1
        self.deployed[new_id] = {
            "model": deployed_model.model,
            "display_name": deployed_model.display_name,
            "replicas": (resources.min_replica_count, resources.max_replica_count),
            "target": resources.autoscaling_metric_specs[0].target,
        }
        split = {(new_id if k == "0" else k): v for k, v in traffic_split.items()}
        self._check_split(split)
        self.split = split
        return self._operation("deploy", SimpleNamespace(deployed_model=SimpleNamespace(id=new_id)), error)

    def update_endpoint(self, endpoint: Any, update_mask: Any) -> Any:
        split = dict(endpoint.traffic_split)
        self.calls.append(("update_endpoint", {"name": endpoint.name, "traffic_split": split, "mask": list(update_mask.paths)}))
        error = self._failure("update_endpoint")
        if error:
            raise error
        self._check_split(split)
        self.split = split
        return endpoint

    def mutate_deployed_model(self, endpoint: str, deployed_model: Any, update_mask: Any) -> FakeOperation:
        resources = deployed_model.dedicated_resources
        self.calls.append(
            ("mutate_deployed_model", {"id": deployed_model.id, "replicas": (resources.min_replica_count, resources.max_replica_count)})
        )
        error = self._failure("mutate_deployed_model")
        if error:
            return self._operation("mutate", error=error)
        entry = self.deployed[deployed_model.id]
        entry["replicas"] = (resources.min_replica_count, resources.max_replica_count)
        entry["target"] = resources.autoscaling_metric_specs[0].target
        return self._operation("mutate")

    def undeploy_model(self, endpoint: str, deployed_model_id: str, traffic_split: dict[str, int]) -> FakeOperation:
        self.calls.append(("undeploy_model", {"id": deployed_model_id, "traffic_split": dict(traffic_split)}))
        error = self._failure("undeploy_model")
        if error and not self.late:
            return self._operation("undeploy", error=error)
        if deployed_model_id not in self.deployed:
            raise exceptions.NotFound(deployed_model_id)
        split = dict(traffic_split) if traffic_split else {k: v for k, v in self.split.items() if k != deployed_model_id}
        assert split.get(deployed_model_id, 0) == 0, "a deployed model with traffic cannot be undeployed"
        del self.deployed[deployed_model_id]
        split.pop(deployed_model_id, None)
        self._check_split(split)
        self.split = split
        return self._operation("undeploy", error=error)

    def get_endpoint(self, name: str) -> Any:
        """The endpoint as aiplatform_v1 returns it: deployed models with their model, display name and resources."""
        models = [
            SimpleNamespace(
                id=deployed_id,
                model=entry["model"].partition("@")[0],
                model_version_id=entry["model"].partition("@")[2],
                display_name=entry["display_name"],
                dedicated_resources=SimpleNamespace(
                    min_replica_count=entry["replicas"][0],
                    max_replica_count=entry["replicas"][1],
                    autoscaling_metric_specs=[SimpleNamespace(target=entry["target"])],
                ),
            )
            for deployed_id, entry in self.deployed.items()
        ]
        return SimpleNamespace(name=name, traffic_split=dict(self.split), deployed_models=models)

    def methods(self) -> list[str]:
        """The calls that change something (reads and waits left out)."""
        return [name for name, _ in self.calls if name not in ("wait", "get_model", "list_model_versions")]

    def serving(self) -> dict[str, tuple[str, str]]:
        """Deployed model id to (role, artifact) for everything deployed: what costs replicas."""
        out = {}
        for deployed_id, entry in self.deployed.items():
            base, _, version = entry["model"].partition("@")
            out[deployed_id] = (entry["display_name"].split("-")[-2], self.registry[base][int(version) - 1]["artifact_uri"])
        return out

    def of(self, method: str) -> list[Any]:
        return [args for name, args in self.calls if name == method]


def props(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project": "acme-ml",
        "location": "us-central1",
        "endpoint": ENDPOINT,
        "model_id": "churn-prod",
        "display_name": "churn-prod",
        "service_account": "vtx-churn@acme-ml.iam.gserviceaccount.com",
        "labels": {"team": "ml"},
        "kms_key": "",
        "machine": {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1},
        "container": {"port": 8080, "predict_route": "/invocations", "health_route": "/ping"},
        "replicas": {"live": {"min": 2, "max": 6}},
        "autoscaling": {"target": 70},
        "versions": {"live": {"artifact_uri": "gs://models/churn/5", "image_uri": "us-docker.pkg.dev/p/r/churn:5", "percent": 100}},
        "shift": {"mode": "canary", "step_percent": 10, "wait_seconds": 600},
        "timeout_seconds": 3600,
    }
    for key, value in changes.items():
        base[key] = value
    return base


def with_canary(p: dict[str, Any], percent: int = 20, uri: str = "gs://models/churn/6") -> dict[str, Any]:
    p = copy.deepcopy(p)
    p["versions"]["live"]["percent"] = 100 - percent
    p["versions"]["canary"] = {"artifact_uri": uri, "image_uri": "us-docker.pkg.dev/p/r/churn:5", "percent": percent}
    p["replicas"]["canary"] = {"min": 1, "max": 6}
    return p


def provider_for(fake: FakeVertex) -> tuple[VertexDeploymentProvider, list[float]]:
    sleeps: list[float] = []
    locations: list[str] = []

    def factory(location: str) -> VertexClients:
        locations.append(location)
        return VertexClients(endpoints=fake, models=fake)

    return VertexDeploymentProvider(client_factory=factory, sleep=sleeps.append), sleeps


def outs_of(result: Any) -> dict[str, Any]:
    assert result.outs is not None
    return dict(result.outs)


def created(fake: FakeVertex, p: dict[str, Any]) -> dict[str, Any]:
    provider, _ = provider_for(fake)
    result = provider.create(p)
    assert result.outs is not None
    return result.outs


def test_create_uploads_and_deploys_live_then_canary_with_the_split():
    fake = FakeVertex()
    p = with_canary(props(kms_key="projects/acme-ml/locations/us-central1/keyRings/ml/cryptoKeys/vertex"))
    outs = created(fake, p)
    live_tag = spec_tag(version_spec(p, "live"))
    assert fake.methods() == ["upload_model", "deploy_model", "upload_model", "deploy_model"]
    first, second = fake.of("upload_model")
    assert (first["model_id"], first["parent_model"]) == ("churn-prod", "")  # new registry model
    assert (second["model_id"], second["parent_model"]) == ("", REGISTRY)  # the canary is its next version
    assert first["ports"] == [8080] and (first["predict_route"], first["health_route"]) == ("/invocations", "/ping")
    assert first["kms_key"].endswith("/cryptoKeys/vertex")
    assert first["labels"] == {"team": "ml", "mlops-role": "live", "mlops-spec": live_tag}
    live, canary = fake.of("deploy_model")
    assert live["model"] == f"{REGISTRY}@1" and live["traffic_split"] == {"0": 100}
    # the endpoint says what each deployment serves: role and spec digest in the display name
    canary_tag = spec_tag(version_spec(p, "canary"))
    assert (live["display_name"], canary["display_name"]) == (f"churn-prod-live-{live_tag}", f"churn-prod-canary-{canary_tag}")
    assert canary["model"] == f"{REGISTRY}@2" and canary["traffic_split"] == {"0": 20, "100": 80}
    assert live["machine_type"] == "g2-standard-8" and live["accelerator"] == ("NVIDIA_L4", 1)
    assert live["replicas"] == (2, 6) and canary["replicas"] == (1, 6)
    assert live["autoscaling"] == [(DUTY_CYCLE, 70)]
    assert live["service_account"] == "vtx-churn@acme-ml.iam.gserviceaccount.com"
    assert outs["traffic_split"] == {"100": 80, "101": 20}
    assert outs["deployed"]["live"]["deployed_model_id"] == "100" and outs["deployed"]["canary"]["model"] == f"{REGISTRY}@2"
    # every long-running operation is awaited with the configured timeout
    waits = [args for name, args in fake.calls if name == "wait"]
    assert len(waits) == 4 and {timeout for _, timeout, _ in waits} == {3600.0}


def test_cpu_machines_autoscale_on_cpu_utilization():
    fake = FakeVertex()
    created(fake, props(machine={"machine_type": "n1-standard-4", "accelerator_type": "", "accelerator_count": 0}))
    (deploy,) = fake.of("deploy_model")
    assert deploy["accelerator"] == ("ACCELERATOR_TYPE_UNSPECIFIED", 0) and deploy["autoscaling"] == [(CPU_UTILIZATION, 70)]


def test_failed_canary_deploy_cleans_up_everything_it_created():
    fake = FakeVertex(fail={"deploy_model": {2: exceptions.ResourceExhausted("no L4 capacity in us-central1")}})
    provider, _ = provider_for(fake)
    with pytest.raises(VertexDeploymentError, match=r"cleaned up: .*no L4 capacity"):
        provider.create(with_canary(props()))
    assert fake.deployed == {} and fake.registry == {} and fake.split == {}
    assert fake.methods()[-2:] == ["undeploy_model", "delete_model"]


def test_deploy_timeout_is_reported_and_cleaned_up():
    fake = FakeVertex(fail={"deploy_model": {1: concurrent.futures.TimeoutError()}})
    provider, _ = provider_for(fake)
    with pytest.raises(VertexDeploymentError, match="no result after 3600 s"):
        provider.create(props())
    assert fake.registry == {} and fake.methods() == ["upload_model", "deploy_model", "delete_model"]


@pytest.mark.parametrize(
    ("mode", "step", "splits"),
    [
        ("canary", 10, [{"0": 8, "100": 72, "101": 20}, {"102": 80, "100": 0, "101": 20}]),
        (
            "linear",
            25,
            [
                {"0": 20, "100": 60, "101": 20},
                {"102": 40, "100": 40, "101": 20},
                {"102": 60, "100": 20, "101": 20},
                {"102": 80, "100": 0, "101": 20},
            ],
        ),
        ("all_at_once", 100, [{"0": 80, "100": 0, "101": 20}]),
    ],
)
def test_new_live_version_shifts_the_live_share_stage_by_stage(mode, step, splits):
    fake = FakeVertex()
    old = created(fake, with_canary(props()))
    new = with_canary(props(shift={"mode": mode, "step_percent": step, "wait_seconds": 900}))
    new["versions"]["live"]["image_uri"] = "us-docker.pkg.dev/p/r/churn:5.1"
    provider, sleeps = provider_for(fake)
    fake.calls.clear()
    outs = provider.update("id", old, new).outs
    assert outs is not None
    (upload,) = fake.of("upload_model")
    assert upload["parent_model"] == REGISTRY and upload["image_uri"].endswith(":5.1")
    (deploy,) = fake.of("deploy_model")
    seen = [deploy["traffic_split"]] + [u["traffic_split"] for u in fake.of("update_endpoint")]
    assert seen == splits
    assert sleeps == [900.0] * len(shift_stages(mode, step))  # a bake after every stage, the last before undeploying
    assert fake.of("undeploy_model") == [{"id": "100", "traffic_split": {"102": 80, "101": 20}}]
    assert outs["deployed"]["live"]["deployed_model_id"] == "102" and outs["deployed"]["canary"]["deployed_model_id"] == "101"
    assert outs["traffic_split"] == {"102": 80, "101": 20}
    assert [v["artifact_uri"] for v in fake.registry[REGISTRY]] == ["gs://models/churn/5", "gs://models/churn/6", "gs://models/churn/5"]


def test_failed_step_rolls_traffic_back_to_the_old_version():
    fake = FakeVertex(fail={"update_endpoint": {1: exceptions.InternalServerError("backend error")}})
    old = created(fake, props())
    new = props(versions={"live": {"artifact_uri": "gs://models/churn/6", "image_uri": "us-docker.pkg.dev/p/r/churn:5", "percent": 100}})
    provider, _ = provider_for(fake)
    with pytest.raises(VertexDeploymentError, match=r"rolled back to projects/.*/models/churn-prod@1: .*backend error"):
        provider.update("id", old, new)
    assert fake.split == {"100": 100} and set(fake.deployed) == {"100"}
    assert fake.of("update_endpoint")[-1]["traffic_split"] == {"100": 100}
    assert fake.of("undeploy_model") == [{"id": "101", "traffic_split": {"100": 100}}]


def test_failed_deploy_of_a_new_version_leaves_traffic_untouched():
    fake = FakeVertex(fail={"deploy_model": {2: exceptions.FailedPrecondition("image not found")}})
    old = created(fake, props())
    new = props(versions={"live": {"artifact_uri": "gs://models/churn/6", "image_uri": "us-docker.pkg.dev/p/r/churn:5", "percent": 100}})
    provider, _ = provider_for(fake)
    with pytest.raises(exceptions.FailedPrecondition):
        provider.update("id", old, new)
    assert fake.split == {"100": 100} and fake.of("update_endpoint") == []


def test_replica_change_mutates_in_place():
    fake = FakeVertex()
    old = created(fake, props())
    provider, _ = provider_for(fake)
    fake.calls.clear()
    provider.update("id", old, props(replicas={"live": {"min": 3, "max": 8}}))
    assert fake.methods() == ["mutate_deployed_model"]
    assert fake.of("mutate_deployed_model") == [{"id": "100", "replicas": (3, 8)}]


def test_canary_reweight_new_version_and_removal():
    fake = FakeVertex()
    provider, _ = provider_for(fake)
    state = created(fake, with_canary(props(), percent=10))
    fake.calls.clear()
    state = outs_of(provider.update("id", state, with_canary(props(), percent=30)))
    assert fake.methods() == ["update_endpoint"] and fake.split == {"101": 30, "100": 70}
    fake.calls.clear()
    state = outs_of(provider.update("id", state, with_canary(props(), percent=30, uri="gs://models/churn/7")))
    assert fake.methods() == ["upload_model", "deploy_model", "undeploy_model"]
    assert fake.of("deploy_model")[0]["traffic_split"] == {"0": 30, "100": 70, "101": 0}
    assert fake.split == {"102": 30, "100": 70}
    fake.calls.clear()
    state = outs_of(provider.update("id", state, props()))
    assert fake.of("undeploy_model") == [{"id": "102", "traffic_split": {"100": 100}}]
    assert set(state["deployed"]) == {"live"} and fake.split == {"100": 100}


def test_delete_undeploys_canary_then_live_then_deletes_the_registry_model():
    fake = FakeVertex()
    provider, _ = provider_for(fake)
    state = created(fake, with_canary(props()))
    fake.calls.clear()
    provider.delete("id", state)
    assert fake.of("undeploy_model") == [{"id": "101", "traffic_split": {"100": 100}}, {"id": "100", "traffic_split": {}}]
    assert fake.of("delete_model") == [REGISTRY] and fake.deployed == {} and fake.registry == {}
    provider.delete("id", state)  # already gone: NotFound is success


def test_diff_replaces_on_identity_and_updates_on_everything_else():
    provider, _ = provider_for(FakeVertex())
    base = props()
    assert provider.diff("id", base, props()).changes is False
    moved = provider.diff("id", base, props(endpoint=ENDPOINT.replace("1234567890", "1111111111")))
    assert moved.changes and moved.replaces == ["endpoint"] and moved.delete_before_replace is False
    image = props(versions={"live": {"artifact_uri": "gs://models/churn/5", "image_uri": "us-docker.pkg.dev/p/r/churn:6", "percent": 100}})
    assert provider.diff("id", base, image).changes is True and provider.diff("id", base, image).replaces == []


def test_check_rejects_splits_that_do_not_add_up():
    provider, _ = provider_for(FakeVertex())
    bad = with_canary(props())
    bad["versions"]["live"]["percent"] = 90
    failures = provider.check({}, bad).failures
    assert [f.property for f in failures] == ["versions"]
    assert provider.check({}, with_canary(props())).failures == []


def test_read_reports_the_live_traffic_split():
    fake = FakeVertex()
    provider, _ = provider_for(fake)
    state = created(fake, props())
    fake.split = {"100": 100}
    assert outs_of(provider.read("id", state))["traffic_split"] == {"100": 100}


def test_the_provider_survives_pulumi_serialization():
    provider = dill.loads(base64.b64decode(serialize_provider(VertexDeploymentProvider())))
    assert isinstance(provider, VertexDeploymentProvider) and provider.client_factory.__name__ == "default_clients"


def test_real_clients_target_the_regional_api(monkeypatch):
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    from mlops_platform.endpoints.vertex_deploy import default_clients

    monkeypatch.setattr(google.auth, "default", lambda *args, **kwargs: (AnonymousCredentials(), "acme-ml"))
    clients = default_clients("europe-west4")
    assert clients.endpoints.api_endpoint == clients.models.api_endpoint == "europe-west4-aiplatform.googleapis.com"


# --- long-running operations polled by google-api-core itself ----------------------------------------------------

FAST_POLLING = polling.DEFAULT_POLLING.with_delay(initial=0.001, maximum=0.001, multiplier=1.0)


def _response(what: str, result: Any) -> Any:
    """The aiplatform_v1 response message the real operation of `what` resolves to (empty when it fails)."""
    from google.cloud import aiplatform_v1 as v1

    if what == "upload":
        return v1.UploadModelResponse(model=result.model, model_version_id=result.model_version_id) if result else v1.UploadModelResponse()
    if what == "deploy":
        return v1.DeployModelResponse(deployed_model=v1.DeployedModel(id=result.deployed_model.id)) if result else v1.DeployModelResponse()
    if what == "undeploy":
        return v1.UndeployModelResponse()
    if what == "mutate":
        return v1.MutateDeployedModelResponse()
    return empty_pb2.Empty()


class LroVertex(FakeVertex):
    """The same fake Vertex AI, but every long-running call returns a real ``google.api_core.operation.Operation``:
    api_core polls it, it reports not done until its `polls`-th refresh, then resolves to the real response
    message or fails with the call's error as a google.rpc status, as the service's operations do."""

    def __init__(self, polls: int = 3, fail: dict[str, dict[int, BaseException]] | None = None) -> None:
        super().__init__(fail)
        self.polls = polls
        self.completed: list[tuple[str, int]] = []

    def _operation(self, what: str, result: Any = None, error: BaseException | None = None) -> Any:
        message = _response(what, result)
        raw = type(message).pb(message) if hasattr(type(message), "pb") else message
        refreshes = 0

        def refresh(retry: Any = None) -> operations_pb2.Operation:
            nonlocal refreshes
            refreshes += 1
            state = operations_pb2.Operation(name=f"{ENDPOINT}/operations/{len(self.completed)}", done=refreshes >= self.polls)
            if state.done:
                self.completed.append((what, refreshes))
                if isinstance(error, exceptions.GoogleAPICallError) and error.grpc_status_code is not None:
                    state.error.CopyFrom(status_pb2.Status(code=error.grpc_status_code.value[0], message=str(error)))
                else:
                    state.response.Pack(raw)
            return state

        initial = operations_pb2.Operation(name=f"{ENDPOINT}/operations/{len(self.completed)}", done=False)
        return operation.Operation(initial, refresh, lambda: None, result_type=type(message), polling=FAST_POLLING)


def test_long_running_operations_are_polled_until_done():
    fake = LroVertex(polls=3)
    provider, _ = provider_for(fake)
    state = outs_of(provider.create(with_canary(props())))
    assert state["deployed"]["live"]["deployed_model_id"] == "100" and state["deployed"]["live"]["model"] == f"{REGISTRY}@1"
    assert state["deployed"]["canary"]["deployed_model_id"] == "101" and state["traffic_split"] == {"100": 80, "101": 20}
    new = with_canary(props(shift={"mode": "canary", "step_percent": 10, "wait_seconds": 0}))
    new["versions"]["live"]["image_uri"] = "us-docker.pkg.dev/p/r/churn:5.1"
    new["replicas"]["canary"] = {"min": 2, "max": 6}
    state = outs_of(provider.update("id", state, new))
    assert state["deployed"]["live"]["deployed_model_id"] == "102" and fake.split == {"102": 80, "101": 20}
    provider.delete("id", state)
    assert fake.deployed == {} and fake.registry == {}
    assert [what for what, _ in fake.completed] == [
        "upload",
        "deploy",
        "upload",
        "deploy",
        "upload",  # the new live version
        "deploy",
        "undeploy",  # the old live version, after the bake
        "mutate",  # the canary's new replica bounds
        "undeploy",  # delete: canary, then live, then the registry model
        "undeploy",
        "delete",
    ]
    assert {polls for _, polls in fake.completed} == {3}


def test_an_operation_that_ends_in_an_error_fails_the_step_and_cleans_up():
    fake = LroVertex(polls=2, fail={"deploy_model": {2: exceptions.ResourceExhausted("no L4 capacity in us-central1")}})
    provider, _ = provider_for(fake)
    with pytest.raises(VertexDeploymentError, match=r"cleaned up: .*no L4 capacity") as caught:
        provider.create(with_canary(props()))
    assert isinstance(caught.value.__cause__, exceptions.ResourceExhausted)  # raised by api_core from the operation's status
    assert fake.deployed == {} and fake.registry == {} and fake.split == {}


def test_an_operation_that_never_finishes_times_out():
    fake = LroVertex(polls=10**9)
    provider, _ = provider_for(fake)
    with pytest.raises(VertexDeploymentError, match=r"upload of the live model: no result after 0.05 s") as caught:
        provider.create(props(timeout_seconds=0.05))
    cause = caught.value.__cause__
    assert cause is not None and isinstance(cause.__cause__, concurrent.futures.TimeoutError)
    assert fake.methods() == ["upload_model", "delete_model"]  # the cleanup tries to remove what the upload may still create


@pytest.mark.parametrize(
    ("client", "method"),
    [
        ("ModelServiceClient", "list_model_versions"),
        ("ModelServiceClient", "upload_model"),
        ("ModelServiceClient", "delete_model"),
        ("EndpointServiceClient", "deploy_model"),
        ("EndpointServiceClient", "update_endpoint"),
        ("EndpointServiceClient", "mutate_deployed_model"),
        ("EndpointServiceClient", "undeploy_model"),
        ("EndpointServiceClient", "get_endpoint"),
    ],
)
def test_the_fake_takes_the_real_clients_arguments(client, method):
    """The resource calls the fake with keyword arguments; the real aiplatform_v1 clients must accept the same ones."""
    from google.cloud import aiplatform_v1

    real = set(inspect.signature(getattr(getattr(aiplatform_v1, client), method)).parameters)
    fake = set(inspect.signature(getattr(FakeVertex, method)).parameters) - {"self"}
    assert fake <= real, fake - real


@pytest.mark.parametrize("key", ["project", "location", "endpoint", "model_id"])
def test_diff_replaces_when_the_identity_changes(key):
    provider, _ = provider_for(FakeVertex())
    result = provider.diff("id", props(), props(**{key: "other"}))
    assert result.changes and result.replaces == [key] and result.delete_before_replace is False


@pytest.mark.parametrize(
    "changes",
    [
        {"replicas": {"live": {"min": 3, "max": 6}}},
        {"autoscaling": {"target": 60}},
        {"shift": {"mode": "linear", "step_percent": 25, "wait_seconds": 600}},
        {"labels": {"team": "ml", "owner": "churn"}},
        {"machine": {"machine_type": "n1-standard-4", "accelerator_type": "", "accelerator_count": 0}},
        {"service_account": "other@acme-ml.iam.gserviceaccount.com"},
    ],
)
def test_diff_updates_in_place_for_everything_else(changes):
    provider, _ = provider_for(FakeVertex())
    result = provider.diff("id", props(), props(**changes))
    assert result.changes is True and result.replaces == []


def test_delete_keeps_the_state_when_an_undeploy_fails():
    fake = FakeVertex(fail={"undeploy_model": {1: exceptions.PermissionDenied("aiplatform.endpoints.undeploy denied")}})
    provider, _ = provider_for(fake)
    state = created(fake, with_canary(props()))
    with pytest.raises(exceptions.PermissionDenied):
        provider.delete("id", state)  # Pulumi keeps the resource in its state and the next destroy retries
    assert set(fake.deployed) == {"100", "101"} and REGISTRY in fake.registry


def test_a_failed_rollback_says_where_traffic_stands():
    fake = FakeVertex(
        fail={
            "update_endpoint": {1: exceptions.InternalServerError("backend error")},
            "undeploy_model": {1: exceptions.ServiceUnavailable("undeploy unavailable")},
        }
    )
    old = created(fake, props())
    new = props(versions={"live": {"artifact_uri": "gs://models/churn/6", "image_uri": "us-docker.pkg.dev/p/r/churn:5", "percent": 100}})
    provider, _ = provider_for(fake)
    with pytest.raises(
        VertexDeploymentError,
        match=r"failed \(500 backend error\) and so did the rollback \(503 undeploy unavailable\): check the traffic split",
    ):
        provider.update("id", old, new)
    assert fake.split == {"100": 100}  # traffic went back before the undeploy failed


# --- failures at every step, then a retry that converges -----------------------------------------------------------


def release_scenario() -> tuple[dict[str, Any], dict[str, Any]]:
    """A live version and a canary both change in one update (the case that left state and endpoint apart)."""
    before = with_canary(props(), percent=20)
    after = with_canary(props(shift={"mode": "linear", "step_percent": 25, "wait_seconds": 60}), percent=30, uri="gs://models/churn/7")
    after["versions"]["live"]["artifact_uri"] = "gs://models/churn/6"
    return before, after


def assert_converged(fake: FakeVertex, wanted: dict[str, Any]) -> None:
    """Exactly the wanted versions deployed (nothing left holding replicas), with the wanted split."""
    serving = fake.serving()
    assert sorted(serving.values()) == sorted((role, v["artifact_uri"]) for role, v in wanted["versions"].items()), serving
    by_role = {role: deployed_id for deployed_id, (role, _) in serving.items()}
    assert fake.split == {by_role[role]: v["percent"] for role, v in wanted["versions"].items()}
    uploads = [(v["artifact_uri"], v["labels"]["mlops-spec"]) for v in fake.registry[REGISTRY]]
    assert len(uploads) == len(set(uploads)), f"a spec uploaded twice: {uploads}"


def successful_calls() -> list[tuple[str, int]]:
    """(method, nth call of it) of every changing call the scenario's update makes when nothing fails."""
    before, after = release_scenario()
    fake = FakeVertex()
    state = created(fake, before)
    fake.calls.clear()
    fake.count.clear()
    provider, _ = provider_for(fake)
    provider.update("id", state, after)
    seen: dict[str, int] = {}
    steps = []
    for method in fake.methods():
        seen[method] = seen.get(method, 0) + 1
        steps.append((method, seen[method]))
    return steps


STEPS = successful_calls()


def test_the_scenario_exercises_every_kind_of_step():
    assert {m for m, _ in STEPS} == {"upload_model", "deploy_model", "update_endpoint", "undeploy_model"}
    assert len(STEPS) >= 8


@pytest.mark.parametrize("late", [False, True], ids=["failed", "timed-out-but-done"])
@pytest.mark.parametrize(("method", "nth"), STEPS, ids=[f"{m}#{n}" for m, n in STEPS])
def test_a_failure_at_any_step_then_a_retry_converges_with_nothing_leaked(method, nth, late):
    before, after = release_scenario()
    fake = FakeVertex()
    state = created(fake, before)
    fake.count.clear()
    error = concurrent.futures.TimeoutError() if late else exceptions.ServiceUnavailable(f"{method} #{nth} unavailable")
    fake.fail = {method: {nth: error}}
    provider, _ = provider_for(fake)
    with pytest.raises((VertexDeploymentError, exceptions.GoogleAPICallError)):
        provider.update("id", state, after)
    # Pulumi keeps the previous state after a failed update: the retry starts from the same olds
    fake.fail = {}
    outs = outs_of(provider.update("id", state, after))
    assert_converged(fake, after)
    assert outs["traffic_split"] == fake.split
    assert {role: e["deployed_model_id"] for role, e in outs["deployed"].items()} == {r: i for i, (r, _) in fake.serving().items()}
    # and a third run has nothing left to do
    fake.calls.clear()
    outs_of(provider.update("id", outs, after))
    assert fake.methods() == []


def release_with_a_failed_canary_deploy() -> tuple[FakeVertex, VertexDeploymentProvider, dict[str, Any], dict[str, Any]]:
    """The scenario's update with the canary's deploy (the second deploy) failing: the fake, the provider, the
    state Pulumi kept (the one before the update) and the wanted props."""
    before, after = release_scenario()
    fake = FakeVertex()
    state = created(fake, before)
    fake.count.clear()
    fake.fail = {"deploy_model": {2: exceptions.ResourceExhausted("no L4 capacity")}}
    provider, _ = provider_for(fake)
    with pytest.raises(exceptions.ResourceExhausted):
        provider.update("id", state, after)
    return fake, provider, state, after


def test_the_reported_case_release_done_canary_deploy_failed():
    """The live release completes (old live undeployed), then the canary's deploy fails: state still names the old
    live id. The retry must not deploy the live version again nor name undeployed models in a split."""
    fake, provider, state, after = release_with_a_failed_canary_deploy()
    assert state["deployed"]["live"]["deployed_model_id"] not in fake.deployed  # the stale state of the report
    fake.fail, fake.calls = {}, []
    provider.update("id", state, after)
    assert [d["display_name"].split("-")[-2] for d in fake.of("deploy_model")] == ["canary"]
    assert_converged(fake, after)


def test_create_failing_at_any_step_leaves_nothing():
    fake = FakeVertex()
    created(fake, with_canary(props()))
    calls = fake.methods()
    for nth, method in enumerate(calls, 1):
        index = sum(1 for m in calls[:nth] if m == method)
        fake = FakeVertex(fail={method: {index: exceptions.ServiceUnavailable("unavailable")}})
        provider, _ = provider_for(fake)
        with pytest.raises(VertexDeploymentError, match="cleaned up"):
            provider.create(with_canary(props()))
        assert fake.deployed == {} and fake.registry == {} and fake.split == {}, (method, index)


def test_read_reconciles_the_deployments_from_the_endpoint():
    """`pulumi refresh` after a run that failed half-way: the state learns what the endpoint serves."""
    fake, provider, state, _ = release_with_a_failed_canary_deploy()
    read = outs_of(provider.read("id", state))
    live_id = next(i for i, (role, uri) in fake.serving().items() if role == "live")
    assert read["deployed"]["live"]["deployed_model_id"] == live_id and read["traffic_split"] == fake.split


def test_deployments_made_before_display_names_carried_the_digest_are_recognised():
    """A state written by the previous release of this resource: display names `<name>-<role>` only."""
    fake = FakeVertex()
    state = created(fake, with_canary(props()))
    for entry in fake.deployed.values():
        entry["display_name"] = entry["display_name"].rsplit("-", 1)[0]
    for entry in state["deployed"].values():
        entry.pop("tag")
    fake.calls.clear()
    provider, _ = provider_for(fake)
    provider.update("id", state, with_canary(props(), percent=40))
    assert fake.methods() == ["update_endpoint"]  # a reweight, no redeploy


# --- Azure ML traffic --------------------------------------------------------------------------------------------


class FakeArm:
    """ARM with ETags: a conditional PUT whose ETag is stale is refused, as ARM answers 412."""

    def __init__(self, concurrent_writes: int = 0) -> None:
        self.concurrent_writes = concurrent_writes
        """How many reads are followed by someone else's write before ours (azure-native updating the endpoint)."""
        self.version = 1
        self.calls: list[tuple[str, str, Any]] = []
        self.endpoint: dict[str, Any] = {
            "location": "eastus",
            "identity": {"type": "SystemAssigned"},
            "kind": None,
            "tags": {"team": "ml"},
            "properties": {
                "authMode": "AADToken",
                "publicNetworkAccess": "Enabled",
                "provisioningState": "Succeeded",
                "scoringUri": "https://x",
            },
        }

    def get(self, resource_id: str) -> dict[str, Any]:
        self.calls.append(("GET", resource_id, None))
        read = {**copy.deepcopy(self.endpoint), "etag": f'"{self.version}"'}
        if self.concurrent_writes:
            self.concurrent_writes -= 1
            self.version += 1
        return read

    def put(self, resource_id: str, body: Any, etag: str | None) -> dict[str, Any]:
        self.calls.append(("PUT", resource_id, copy.deepcopy(body)))
        if etag != f'"{self.version}"':
            raise ConflictError("412")
        self.version += 1
        self.endpoint = {**copy.deepcopy(body), "properties": {**body["properties"], "provisioningState": "Succeeded"}}
        return copy.deepcopy(self.endpoint)


def test_azure_traffic_is_read_then_written_back_with_the_maps():
    arm = FakeArm()
    provider = AzureMlTrafficProvider(arm_factory=lambda: arm)
    p = {
        "endpoint_id": "/subscriptions/s/.../onlineEndpoints/churn-prod",
        "traffic": {"blue": 90, "green": 10},
        "mirror_traffic": {"shadow": 20},
    }
    outs = provider.create(p).outs
    assert [c[0] for c in arm.calls] == ["GET", "PUT"]
    body = arm.calls[1][2]
    assert body["properties"] == {
        "authMode": "AADToken",
        "publicNetworkAccess": "Enabled",
        "traffic": {"blue": 90, "green": 10},
        "mirrorTraffic": {"shadow": 20},
    }
    assert body["identity"] == {"type": "SystemAssigned"} and "kind" not in body
    assert outs is not None and outs["applied"] == {"traffic": {"blue": 90, "green": 10}, "mirror_traffic": {"shadow": 20}}
    provider.delete("id", p)
    assert arm.calls[-1][2]["properties"]["traffic"] == {} and arm.calls[-1][2]["properties"]["mirrorTraffic"] == {}


def test_azure_traffic_check_and_diff():
    provider = AzureMlTrafficProvider(arm_factory=FakeArm)
    assert [f.property for f in provider.check({}, {"traffic": {"blue": 90}, "mirror_traffic": {"shadow": 60}}).failures] == [
        "traffic",
        "mirror_traffic",
    ]
    old = {"endpoint_id": "e", "traffic": {"blue": 100}, "mirror_traffic": {}, "endpoint_revision": "a"}
    assert provider.diff("id", old, dict(old)).changes is False
    assert provider.diff("id", old, {**old, "endpoint_revision": "b"}).changes is True  # re-applied after an endpoint PUT
    assert provider.diff("id", old, {**old, "endpoint_id": "f"}).replaces == ["endpoint_id"]


def test_azure_traffic_rereads_when_the_endpoint_changed_since_it_was_read():
    """A concurrent write (azure-native's own update of the endpoint) between our read and write: the conditional
    PUT is refused and the read and write are repeated, never overwriting the other change."""
    arm = FakeArm(concurrent_writes=2)
    provider = AzureMlTrafficProvider(arm_factory=lambda: arm)
    p = {"endpoint_id": "/e", "traffic": {"blue": 100}, "mirror_traffic": {}}
    provider.create(p)
    assert [c[0] for c in arm.calls] == ["GET", "PUT", "GET", "PUT", "GET", "PUT"]
    arm = FakeArm(concurrent_writes=3)
    with pytest.raises(ConflictError):
        AzureMlTrafficProvider(arm_factory=lambda: arm).create(p)
