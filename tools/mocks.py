"""Pulumi mocks that record every registration, for offline synthesis and tests.

Uses Pulumi's documented unit-test mechanism (``pulumi.runtime.set_mocks``) with a
``MockMonitor`` subclass, because only the monitor sees each resource's parent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc as _rpc

SECRET_SIG = _rpc._special_secret_sig
REDACTED = "[secret]"

MOCK_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()
MOCK_KUBECONFIG = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mock", "cluster": {"server": "https://mock.invalid", "certificate-authority-data": MOCK_CA}}],
        "contexts": [{"name": "mock", "context": {"cluster": "mock", "user": "mock"}}],
        "current-context": "mock",
        "users": [{"name": "mock", "user": {"token": "mock"}}],
    },
    sort_keys=True,
)


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


def _invoke_results(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """Realistic results of the cloud look-ups the program makes."""
    if token == "aws:eks/getCluster:getCluster":
        name = args["name"]
        return {
            "name": name,
            "arn": f"arn:aws:eks:us-east-1:123456789012:cluster/{name}",
            "endpoint": f"https://{_digest(name).upper()}.gr7.us-east-1.eks.amazonaws.com",
            "certificateAuthorities": [{"data": MOCK_CA}],
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.us-east-1.amazonaws.com/id/{_digest(name).upper()}"}]}],
            "vpcConfig": {"subnetIds": [f"subnet-{_digest(name, az)}" for az in ("a", "b", "c")], "vpcId": f"vpc-{_digest(name)}"},
            "version": "1.31",
            "status": "ACTIVE",
        }
    if token == "aws:ec2/getSubnets:getSubnets":
        values = [json.dumps(f, sort_keys=True) for f in args.get("filters", [])]
        return {"id": "us-east-1", "ids": [f"subnet-{_digest(*values, zone)}" for zone in ("a", "b")]}
    if token == "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider":
        host = str(args["url"]).removeprefix("https://")
        return {"arn": f"arn:aws:iam::123456789012:oidc-provider/{host}", "url": host}
    if token == "azure-native:containerservice:getManagedCluster":
        return {
            "name": args["resourceName"],
            "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://eastus2.oic.prod-aks.azure.com/{_digest(args['resourceName'])}/"},
        }
    if token == "gcp:container/getCluster:getCluster":
        return {"name": args["name"], "endpoint": "203.0.113.10", "masterAuths": [{"clusterCaCertificate": MOCK_CA}]}
    if token == "azure-native:containerservice:listManagedClusterUserCredentials":
        return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(MOCK_KUBECONFIG.encode()).decode()}]}
    raise NotImplementedError(f"no mock result for invoke {token}; add one to tools/mocks.py")


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Provider-computed outputs the program reads, shaped as the real provider returns them."""
    if typ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::123456789012:role/{inputs.get('name') or name}"}
    if typ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1, "arn": f"arn:aws:ec2:us-east-1:123456789012:launch-template/lt-{_digest(name)}"}
    if typ == "azure-native:managedidentity:UserAssignedIdentity":
        return {
            "clientId": f"00000000-0000-4000-8000-{_digest(name)}0000",
            "principalId": f"11111111-0000-4000-8000-{_digest(name)}0000",
            "name": name,
        }
    if typ == "gcp:serviceaccount/account:Account":
        return {"email": f"{inputs['accountId']}@{inputs.get('project') or 'project'}.iam.gserviceaccount.com"}
    return {}


class PlatformMocks(pulumi.runtime.Mocks):
    """Returns inputs as outputs, plus the computed fields the program reads (names, IDs)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            outputs = {"name": args.inputs.get("name"), "outputs": {"kubeconfig": MOCK_KUBECONFIG}, "secretOutputNames": ["kubeconfig"]}
        elif args.custom and not args.typ.startswith(("kubernetes:", "pulumi:providers:")) and "name" not in outputs:
            outputs["name"] = f"{args.name}-{_digest(args.typ, args.name)}"
        outputs.update(_computed(args.typ, args.name, args.inputs))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return _invoke_results(args.token, args.args), []


def redact(value: Any) -> Any:
    """Replace every secret-wrapped value with ``[secret]``."""
    if isinstance(value, dict):
        if value.get(_rpc._special_sig_key) == SECRET_SIG:
            return REDACTED
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class RecordingMonitor(_mocks.MockMonitor):
    """A mock monitor that keeps each registration: type, name, parent, provider, options, inputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: list[dict[str, Any]] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        self.records.append(
            {
                "urn": response.urn,
                "operation": "register",
                "type": request.type,
                "name": request.name,
                "parent": request.parent or None,
                "custom": bool(request.custom),
                "provider": request.provider.rsplit("::", 1)[0] if request.provider else None,
                "protect": bool(request.protect),
                "ignore_changes": sorted(request.ignoreChanges),
                "inputs": redact(_rpc.deserialize_properties(request.object, keep_unknowns=True)),
            }
        )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().ReadResource(request)
        self.records.append(
            {
                "urn": response.urn,
                "operation": "read",
                "type": request.type,
                "name": request.name,
                "parent": request.parent or None,
                "custom": True,
                "provider": request.provider.rsplit("::", 1)[0] if request.provider else None,
                "protect": False,
                "ignore_changes": [],
                "inputs": {"id": request.id, **redact(_rpc.deserialize_properties(request.properties, keep_unknowns=True))},
            }
        )
        return response
