"""No cloud identity: the pods read an S3-compatible store with keys from an existing Secret.

Provider `kubernetes` has no cloud account to federate with, so the binding adds nothing to the
service account; `components.serving.pod.rclone_env` mounts the keys of `cloud.s3_credentials_secret`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

if TYPE_CHECKING:
    from . import CloudBinding, ObjectStoreGrant, StoreLocation, WorkloadIdentityArgs


def bind(
    name: str, args: WorkloadIdentityArgs, locations: list[tuple[StoreLocation, ObjectStoreGrant]], opts: pulumi.ResourceOptions
) -> CloudBinding:
    """The identity is the service account itself (`<namespace>/<name>`); no cloud resource is created."""
    from . import CloudBinding

    identity = pulumi.Output.from_input(args.namespace).apply(lambda ns: f"{ns}/{args.service_account}")
    return CloudBinding(annotations={}, pod_labels={}, identity=identity)
