"""The traffic and mirror-traffic maps of an Azure ML online endpoint, applied after its deployments exist.

ARM rejects an endpoint whose `traffic` names a deployment that does not exist yet, and deployments can only be
created inside an existing endpoint; azure-native has no separate traffic resource and refuses to create a resource
that already exists. So the `OnlineEndpoint` is created without traffic (and ignores it), its deployments follow,
and this dynamic resource then sets the traffic maps. It re-applies whenever the endpoint's declared settings change
(`endpoint_revision`), since a PUT of the endpoint by azure-native may reset the maps.

ARM has no traffic-only operation: the endpoint's PATCH takes tags and identity alone (`PartialMinimalTrackedResource
WithIdentity` in Microsoft's ML REST specification), so `az ml online-endpoint update --traffic` and azure-ai-ml
both GET the endpoint and PUT it back. This resource does the same with three guards: the PUT body is the endpoint
exactly as read (only the maps and read-only fields differ, no re-modelling of properties), it is conditional on the
read's ETag (`If-Match`: a concurrent change, such as azure-native's own update, makes ARM answer 412 and the read
and write are repeated, at most ``CONFLICT_ATTEMPTS`` times), and it runs after azure-native's endpoint update in the
same deployment (a dependency). The calls go through Microsoft's ARM SDK core (``azure-mgmt-core``, the pipeline of
every generated management client): challenge authentication with ``azure-identity``, retries on 408/429/5xx that
honour ``Retry-After``, and ``ARMPolling`` of the long-running PUT (Azure-AsyncOperation, Location or
provisioningState). ``azure-mgmt-machinelearningservices`` on PyPI (1.0.x) has no online-endpoint operations, and
azure-ai-ml would add about 45 packages (OpenTelemetry instrumentations among them) to the program's environment.
Tests inject a fake with the same two methods, and run the real ``ArmClient`` against a local HTTPS ARM.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pulumi
import pulumi.dynamic as dynamic

API_VERSION = "2024-10-01"
"""Microsoft.MachineLearningServices REST API version of the GET/PUT (generally available)."""
ARM = "https://management.azure.com"
ARM_SCOPE = f"{ARM}/.default"
READ_ONLY = ("provisioningState", "scoringUri", "swaggerUri")
CONFLICT_ATTEMPTS = 3


class Arm(Protocol):
    def get(self, resource_id: str) -> dict[str, Any]: ...

    def put(self, resource_id: str, body: Mapping[str, Any], etag: str | None) -> dict[str, Any]: ...


class ConflictError(RuntimeError):
    """ARM refused a conditional write: the resource changed since it was read (HTTP 412)."""


class ArmClient:
    """GET and long-running PUT of one ARM resource through azure-mgmt-core's pipeline."""

    def __init__(
        self,
        credential: Any = None,
        *,
        base_url: str = ARM,
        timeout_seconds: float = 1800,
        poll_seconds: float = 10,
        retry_backoff_factor: float = 0.8,
        transport: Any = None,
    ) -> None:
        from azure.core.pipeline.policies import (
            ContentDecodePolicy,
            CustomHookPolicy,
            HeadersPolicy,
            NetworkTraceLoggingPolicy,
            ProxyPolicy,
            RedirectPolicy,
            RequestIdPolicy,
            RetryPolicy,
            UserAgentPolicy,
        )
        from azure.mgmt.core import ARMPipelineClient
        from azure.mgmt.core.policies import (
            ARMAutoResourceProviderRegistrationPolicy,
            ARMChallengeAuthenticationPolicy,
            ARMHttpLoggingPolicy,
        )

        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        policies = [
            RequestIdPolicy(),
            HeadersPolicy(),
            UserAgentPolicy(sdk_moniker="mlops-platform"),
            ProxyPolicy(),
            ContentDecodePolicy(),
            ARMAutoResourceProviderRegistrationPolicy(),
            RedirectPolicy(),
            RetryPolicy(retry_backoff_factor=retry_backoff_factor),  # 408, 429, 5xx; Retry-After first
            ARMChallengeAuthenticationPolicy(credential, ARM_SCOPE),
            CustomHookPolicy(),
            NetworkTraceLoggingPolicy(),
            ARMHttpLoggingPolicy(),
        ]
        self.base_url = base_url
        self.client: Any = ARMPipelineClient(base_url=base_url, policies=policies, **({"transport": transport} if transport else {}))
        self.timeout = timeout_seconds
        self.poll = poll_seconds

    def _url(self, resource_id: str) -> str:
        return f"{self.base_url}{resource_id}"

    def get(self, resource_id: str) -> dict[str, Any]:
        """The resource's ARM JSON, with its ETag under ``etag`` when ARM sent one (header or body)."""
        from azure.core.rest import HttpRequest

        response = self.client.send_request(HttpRequest("GET", self._url(resource_id), params={"api-version": API_VERSION}))
        response.raise_for_status()
        body = dict(response.json())
        etag = response.headers.get("ETag") or body.get("etag")
        return {**body, "etag": etag} if etag else body

    def put(self, resource_id: str, body: Mapping[str, Any], etag: str | None) -> dict[str, Any]:
        """PUT ``body`` (conditional on ``etag``) and wait for the operation; returns the resource as ARM then reports it."""
        from azure.core.exceptions import HttpResponseError
        from azure.core.polling import LROPoller
        from azure.core.rest import HttpRequest
        from azure.mgmt.core.polling.arm_polling import ARMPolling

        headers = {"If-Match": etag} if etag else {}
        request = HttpRequest("PUT", self._url(resource_id), params={"api-version": API_VERSION}, json=dict(body), headers=headers)
        initial = self.client.send_request(request, _return_pipeline_response=True)
        status = initial.http_response.status_code
        if status == 412:
            raise ConflictError(f"{resource_id} changed since it was read (HTTP 412)")
        if status not in (200, 201, 202):
            raise HttpResponseError(response=initial.http_response)

        def deserialize(pipeline_response: Any) -> dict[str, Any]:
            return dict(pipeline_response.http_response.json() or {})

        poller: LROPoller[dict[str, Any]] = LROPoller(self.client, initial, deserialize, ARMPolling(self.poll))
        result = poller.result(timeout=self.timeout)
        if not poller.done():
            raise TimeoutError(f"updating {resource_id}: not done after {self.timeout:.0f} s")
        return result or {}


def apply_traffic(arm: Arm, endpoint_id: str, traffic: Mapping[str, int], mirror: Mapping[str, int]) -> dict[str, Any]:
    """Write the traffic maps into the endpoint as just read, conditionally; returns the maps ARM reports."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        current = arm.get(endpoint_id)
        properties = {k: v for k, v in (current.get("properties") or {}).items() if k not in READ_ONLY}
        properties.update(traffic=dict(traffic), mirrorTraffic=dict(mirror))
        body = {k: current[k] for k in ("location", "identity", "kind", "tags", "sku") if current.get(k) is not None}
        body["properties"] = properties
        try:
            written = arm.put(endpoint_id, body, current.get("etag")).get("properties") or properties
        except ConflictError:
            if attempt == CONFLICT_ATTEMPTS:
                raise
            continue
        return {"traffic": dict(written.get("traffic") or {}), "mirror_traffic": dict(written.get("mirrorTraffic") or {})}
    raise AssertionError("unreachable")


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
