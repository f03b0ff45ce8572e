"""Azure Workload Identity: a user-assigned identity federated with the service account."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
from pulumi_azure_native import authorization, containerservice, managedidentity

from .conditions import azure_prefix_condition
from .names import azure_role_assignment_name

if TYPE_CHECKING:
    from . import CloudBinding, ObjectStoreGrant, StoreLocation, WorkloadIdentityArgs

BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
"""Built-in role IDs: Storage Blob Data Reader and Storage Blob Data Contributor."""


def _issuer(profile: object) -> str:
    url = getattr(profile, "issuer_url", None)
    if not url:
        raise ValueError("the AKS cluster has no OIDC issuer: enable it (az aks update --enable-oidc-issuer --enable-workload-identity)")
    return str(url)


def bind(
    name: str, args: WorkloadIdentityArgs, locations: list[tuple[StoreLocation, ObjectStoreGrant]], opts: pulumi.ResourceOptions
) -> CloudBinding:
    """Identity, federated credential for `system:serviceaccount:<ns>:<sa>`, container-scoped roles with an ABAC
    condition on the prefix when there is one (role assignments cannot be scoped below a container)."""
    from . import CloudBinding

    cloud = args.cloud
    group = cloud.resource_group or ""
    identity = managedidentity.UserAssignedIdentity(
        f"{name}-id", resource_group_name=group, location=cloud.location, tags=args.tags, opts=opts
    )
    cluster = containerservice.get_managed_cluster_output(
        resource_group_name=group,
        resource_name=args.cluster_name,
        opts=pulumi.InvokeOutputOptions(parent=opts.parent),  # the provider the component inherits
    )
    managedidentity.FederatedIdentityCredential(
        f"{name}-federation",
        resource_group_name=group,
        resource_name_=identity.name,
        federated_identity_credential_resource_name=args.service_account,
        issuer=cluster.oidc_issuer_profile.apply(_issuer),
        subject=pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: f"system:serviceaccount:{namespace}:{args.service_account}"
        ),
        audiences=["api://AzureADTokenExchange"],
        opts=opts,
    )
    for i, (location, grant) in enumerate(locations):
        scope = grant.resource_id or (
            f"/subscriptions/{cloud.subscription_id}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/"
            f"{location.bucket}/blobServices/default/containers/{location.container}"
        )
        role = BLOB_CONTRIBUTOR if grant.write else BLOB_READER
        authorization.RoleAssignment(
            f"{name}-blob-{i}",
            # role assignment names are GUIDs: derive one so the same grant keeps its name, and another stack's differs
            role_assignment_name=azure_role_assignment_name(name, location.bucket, location.container or "", role),
            principal_id=identity.principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=f"/subscriptions/{cloud.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}",
            scope=scope,
            condition=azure_prefix_condition(location.container or "", location.prefix, grant.write) if location.prefix else None,
            condition_version="2.0" if location.prefix else None,
            opts=opts,
        )
    return CloudBinding(
        annotations={"azure.workload.identity/client-id": identity.client_id},
        pod_labels={"azure.workload.identity/use": "true"},
        identity=identity.client_id,
    )
