"""GKE Workload Identity: a Google service account the Kubernetes one may impersonate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_gcp as gcp

from .conditions import gcs_prefix_expression
from .names import gcp_account_id

if TYPE_CHECKING:
    from . import CloudBinding, ObjectStoreGrant, StoreLocation, WorkloadIdentityArgs


def bind(
    name: str, args: WorkloadIdentityArgs, locations: list[tuple[StoreLocation, ObjectStoreGrant]], opts: pulumi.ResourceOptions
) -> CloudBinding:
    """Service account, object roles on each bucket (conditioned on the prefix, when there is one), and the
    workloadIdentityUser binding for `<ns>/<sa>`."""
    from . import CloudBinding

    project = args.cloud.project or ""
    account = gcp.serviceaccount.Account(
        f"{name}-gsa",
        account_id=pulumi.Output.from_input(args.cluster_name).apply(lambda cluster: gcp_account_id("wi", args.service_account, cluster)),
        display_name=f"Workload identity of {args.service_account}",
        project=project,
        opts=opts,
    )
    member = account.email.apply(lambda email: f"serviceAccount:{email}")
    for i, (location, grant) in enumerate(locations):
        gcp.storage.BucketIAMMember(
            f"{name}-bucket-{i}",
            bucket=location.bucket,
            role="roles/storage.objectUser" if grant.write else "roles/storage.objectViewer",
            member=member,
            condition=gcp.storage.BucketIAMMemberConditionArgs(
                title=f"prefix {location.prefix}"[:100],
                description="Objects under this prefix and listings of it only",
                expression=gcs_prefix_expression(location.bucket, location.prefix),
            )
            if location.prefix
            else None,
            opts=opts,
        )
    gcp.serviceaccount.IAMMember(
        f"{name}-wi-user",
        service_account_id=account.name,
        role="roles/iam.workloadIdentityUser",
        member=pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: f"serviceAccount:{project}.svc.id.goog[{namespace}/{args.service_account}]"
        ),
        opts=opts,
    )
    return CloudBinding(annotations={"iam.gke.io/gcp-service-account": account.email}, pod_labels={}, identity=account.email)
