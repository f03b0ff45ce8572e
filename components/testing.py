"""Pulumi mocks for unit tests of programs that use the components: ``mlops_platform.testing``.

``PlatformMocks`` answers every resource and invoke the components make the way the real providers shape
them (IDs, ARNs, endpoints, generated passwords), so component code that reads outputs runs offline;
``RecordingMonitor`` records each registration (type, name, parent, provider, inputs with secrets redacted)
because only the monitor sees a resource's parent. Use them with Pulumi's documented mechanism::

    import pulumi
    from mlops_platform.testing import PlatformMocks, RecordingMonitor

    mocks = PlatformMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="my-platform", stack="test", monitor=monitor)

    @pulumi.runtime.test
    def build():
        ...  # declare the components under test

    build()
    namespaces = [r for r in monitor.records if r["type"] == "kubernetes:core/v1:Namespace"]

``PlatformMocks(preview=True)`` answers as a preview does: every computed output unknown. The README's
"Use the components in your own program" section has a complete example, run by tests/test_package.py.
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
            "vpcConfig": {
                "subnetIds": [f"subnet-{_digest(name, az)}" for az in ("a", "b", "c")],
                "vpcId": f"vpc-{_digest(name)}",
                "clusterSecurityGroupId": f"sg-{_digest(name, 'cluster')}",  # mlflow: source of the database's security group
            },
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
        return {
            "name": args["name"],
            "endpoint": "203.0.113.10",
            "masterAuths": [{"clusterCaCertificate": MOCK_CA}],
            "network": f"projects/{args.get('project') or 'project'}/global/networks/ml-vpc",  # mlflow: Cloud SQL private network
        }
    if token == "azure-native:containerservice:listManagedClusterUserCredentials":
        return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(MOCK_KUBECONFIG.encode()).decode()}]}
    # --- managed endpoints (components/endpoints) ---
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/deployer", "userId": "AIDAMOCK", "id": "123456789012"}
    raise NotImplementedError(f"no mock result for invoke {token}; add one to mlops_platform/testing.py (components/testing.py)")


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
    # --- managed endpoints (components/endpoints) ---
    if typ == "aws:kms/key:Key":
        return {"arn": f"arn:aws:kms:us-east-1:123456789012:key/{_digest(name)}-0000-4000-8000-000000000000", "keyId": _digest(name)}
    if typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{name}-{_digest(typ, name)}"
        return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        return {"arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}-{_digest(typ, name)}"}
    if typ == "gcp:vertex/aiEndpoint:AiEndpoint":
        return {"dedicatedEndpointDns": f"{inputs.get('name')}.{inputs.get('region')}-123456789012.prediction.vertexai.goog"}
    if typ == "azure-native:machinelearningservices:OnlineEndpoint":
        return {"name": inputs["endpointName"]}
    if typ == "azure-native:machinelearningservices:OnlineDeployment":
        return {"name": inputs["deploymentName"]}
    # --- MLflow tracking server (components/mlflow) ---
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": mock_password(name)}
    if typ == "aws:eks/cluster:Cluster":  # a cluster made in the program: auto-named as the provider does
        cluster = inputs.get("name") or f"{name}-{_digest(typ, name)}"
        return {
            "name": cluster,
            "arn": f"arn:aws:eks:us-east-1:123456789012:cluster/{cluster}",
            "endpoint": f"https://{_digest(cluster).upper()}.gr7.us-east-1.eks.amazonaws.com",
            "certificateAuthority": {"data": MOCK_CA},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.us-east-1.amazonaws.com/id/{_digest(cluster, 'oidc').upper()}"}]}],
        }
    if typ == "aws:rds/instance:Instance":
        address = f"{name}-{_digest(typ, name)}.c{_digest(name)}.us-east-1.rds.amazonaws.com"
        return {"address": address, "endpoint": f"{address}:5432", "arn": f"arn:aws:rds:us-east-1:123456789012:db:{name}"}
    if typ == "gcp:sql/databaseInstance:DatabaseInstance":
        instance = inputs.get("name") or f"{name}-{_digest(typ, name)}"
        # Cloud SQL lists the instance's current CA and, during a rotation, the upcoming one.
        cas = [f"-----BEGIN CERTIFICATE-----\nmock-ca-{i}-{_digest(typ, name)}\n-----END CERTIFICATE-----\n" for i in (1, 2)]
        return {
            "privateIpAddress": "10.20.0.5",
            "connectionName": f"{inputs.get('project')}:{inputs.get('region')}:{instance}",
            "serverCaCerts": [{"cert": ca, "commonName": f"CN=Google Cloud SQL Server CA {i}"} for i, ca in enumerate(cas)],
        }
    if typ == "azure-native:dbforpostgresql:Server":
        return {"fullyQualifiedDomainName": f"{inputs.get('serverName') or f'{name}-{_digest(typ, name)}'}.postgres.database.azure.com"}
    if typ == "azure-native:storage:StorageAccount":
        return {"name": inputs["accountName"]}
    return {}


def mock_password(name: str) -> str:
    """What a mocked RandomPassword named ``name`` generates (MLflow tests assert it appears in no record)."""
    return f"MockPw{hashlib.sha256(name.encode()).hexdigest()[:26]}"


class PlatformMocks(pulumi.runtime.Mocks):
    """Returns inputs as outputs, plus the computed fields the program reads (names, IDs).

    With ``preview`` it answers as the engine does for a resource a preview would create: its inputs
    only, so every computed output (an ARN, a generated name, the ID) is unknown to the program.
    Look-ups (invokes) and stack references are read during a preview too, so they still answer.
    """

    def __init__(self, preview: bool = False) -> None:
        super().__init__()
        self.preview = preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            outputs = {"name": args.inputs.get("name"), "outputs": {"kubeconfig": MOCK_KUBECONFIG}, "secretOutputNames": ["kubeconfig"]}
        elif self.preview:
            return None, outputs
        elif args.custom and not args.typ.startswith(("kubernetes:", "pulumi:providers:")) and "name" not in outputs:
            outputs["name"] = f"{args.name}-{_digest(args.typ, args.name)}"
        outputs.update(_computed(args.typ, args.name, args.inputs))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return _invoke_results(args.token, args.args), []


UNKNOWN = "[unknown]"
"""How a record shows a value the program could not know yet (preview mode)."""


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_rpc._special_sig_key) == SECRET_SIG


def redact(value: Any) -> Any:
    """Replace every secret-wrapped value with ``[secret]`` and every unknown one with ``[unknown]``.

    A secret map of strings (a Kubernetes Secret's ``data`` / ``stringData``) keeps its keys, each value
    ``[secret]``, so the manifest still validates against the Secret schema.
    """
    if isinstance(value, dict):
        if _is_secret(value):
            inner = value.get("value")
            inner_map: dict[str, Any] = inner if isinstance(inner, dict) and not _is_secret(inner) else {}
            if inner_map and all(isinstance(v, str) or _is_secret(v) for v in inner_map.values()):
                return dict.fromkeys(inner_map, REDACTED)
            return REDACTED
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN
    return value


def alias_urn(alias: Any, request: Any, urn: str) -> str:
    """The URN an alias names: given as a URN, or as a spec whose missing parts are the resource's own."""
    if alias.urn:
        return str(alias.urn)
    spec = alias.spec
    stack = spec.stack or urn.split("::")[0].split(":")[-1]
    project = spec.project or urn.split("::")[1]
    parent = spec.parentUrn if spec.WhichOneof("parent") == "parentUrn" else (None if spec.noParent else request.parent)
    kind = spec.type or request.type
    if parent and "::pulumi:pulumi:Stack::" not in parent:
        kind = f"{parent.split('::')[2]}${kind}"
    return f"urn:pulumi:{stack}::{project}::{kind}::{spec.name or request.name}"


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
                "dependencies": sorted(request.dependencies),
                "aliases": sorted({*request.aliasURNs, *(alias_urn(alias, request, response.urn) for alias in request.aliases)}),
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
