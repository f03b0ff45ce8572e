"""The traffic and mirror-traffic maps of an Azure ML online endpoint, applied after its deployments exist.

ARM rejects an endpoint whose `traffic` names a deployment that does not exist yet, and deployments can only be
created inside an existing endpoint; azure-native has no separate traffic resource and refuses to create a resource
that already exists. So the `OnlineEndpoint` is created without traffic (and ignores it), its deployments follow,
and this dynamic resource then reads the endpoint and PUTs it back with the traffic maps, as `az ml online-endpoint
update --traffic` does. It re-applies whenever the endpoint's declared settings change (`endpoint_revision`), since
a PUT of the endpoint by azure-native may reset the maps.

Calls go through ``ArmClient`` (Azure Resource Manager REST with ``azure-identity``'s DefaultAzureCredential);
tests inject a fake with the same two methods.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pulumi
import pulumi.dynamic as dynamic

API_VERSION = "2024-10-01"
"""Microsoft.MachineLearningServices REST API version of the GET/PUT (generally available)."""
ARM = "https://management.azure.com"
READ_ONLY = ("provisioningState", "scoringUri", "swaggerUri")


class Arm(Protocol):
    def get(self, resource_id: str) -> dict[str, Any]: ...

    def put(self, resource_id: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


class ArmClient:
    """Minimal ARM REST client: GET, and PUT that waits for the Azure-AsyncOperation to finish."""

    def __init__(self, timeout_seconds: float = 1800, poll_seconds: float = 10) -> None:
        from azure.identity import DefaultAzureCredential

        self.credential = DefaultAzureCredential()
        self.timeout = timeout_seconds
        self.poll = poll_seconds

    def _call(self, method: str, url: str, body: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], Mapping[str, str]]:
        token = self.credential.get_token(f"{ARM}/.default").token
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode() or "{}"
            return json.loads(text), dict(response.headers)

    def get(self, resource_id: str) -> dict[str, Any]:
        return self._call("GET", f"{ARM}{resource_id}?api-version={API_VERSION}")[0]

    def put(self, resource_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        result, headers = self._call("PUT", f"{ARM}{resource_id}?api-version={API_VERSION}", body)
        status_url = headers.get("Azure-AsyncOperation") or headers.get("azure-asyncoperation")
        deadline = time.monotonic() + self.timeout
        while status_url:
            status = self._call("GET", status_url)[0].get("status", "")
            if status == "Succeeded":
                break
            if status in ("Failed", "Canceled"):
                raise RuntimeError(f"updating {resource_id} ended {status}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"updating {resource_id}: not done after {self.timeout:.0f} s")
            time.sleep(self.poll)
        return result


def apply_traffic(arm: Arm, endpoint_id: str, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> dict[str, Any]:
    """Read the endpoint and write it back with the traffic maps; returns the maps ARM reports."""
    current = arm.get(endpoint_id)
    properties = {k: v for k, v in (current.get("properties") or {}).items() if k not in READ_ONLY}
    properties.update(traffic=dict(traffic), mirrorTraffic=dict(mirror))
    body = {k: current[k] for k in ("location", "identity", "kind", "tags", "sku") if current.get(k) is not None}
    body["properties"] = properties
    written = arm.put(endpoint_id, body).get("properties") or properties
    return {"traffic": dict(written.get("traffic") or {}), "mirror_traffic": dict(written.get("mirrorTraffic") or {})}


def _default_arm() -> Arm:
    return ArmClient()


class AzureMlTrafficProvider(dynamic.ResourceProvider):
    """Sets an online endpoint's traffic maps; deleting clears them (the endpoint itself belongs to azure-native)."""

    def __init__(self, arm_factory: Callable[[], Arm] | None = None) -> None:
        super().__init__()
        self.arm_factory = arm_factory or _default_arm

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        if sum(news.get("traffic", {}).values()) != 100:
            failures.append(dynamic.CheckFailure("traffic", "the live traffic percents must add up to 100"))
        if sum(news.get("mirror_traffic", {}).values()) > 50:
            failures.append(dynamic.CheckFailure("mirror_traffic", "Azure ML mirrors at most 50 % of the traffic"))
        return dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        keys = ("endpoint_id", "traffic", "mirror_traffic", "endpoint_revision")
        return dynamic.DiffResult(
            changes=any(olds.get(k) != news.get(k) for k in keys),
            replaces=["endpoint_id"] if olds.get("endpoint_id") != news.get("endpoint_id") else [],
        )

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        live = apply_traffic(self.arm_factory(), props["endpoint_id"], props["traffic"], props["mirror_traffic"])
        return dynamic.CreateResult(id_=f"{props['endpoint_id']}/traffic", outs={**props, "applied": live})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        live = apply_traffic(self.arm_factory(), news["endpoint_id"], news["traffic"], news["mirror_traffic"])
        return dynamic.UpdateResult(outs={**news, "applied": live})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        try:
            apply_traffic(self.arm_factory(), props["endpoint_id"], {}, {})
        except Exception as error:  # the endpoint may already be gone with its deployments
            pulumi.log.warn(f"clearing the traffic of {props['endpoint_id']}: {error}")


class AzureMlTraffic(dynamic.Resource, module="azureml", name="EndpointTraffic"):
    """Traffic and mirror maps of one online endpoint (type `pulumi-python:dynamic/azureml:EndpointTraffic`)."""

    applied: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
        provider: AzureMlTrafficProvider | None = None,
    ) -> None:
        super().__init__(provider or AzureMlTrafficProvider(), name, {**props, "applied": None}, opts)
