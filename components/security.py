"""Security contexts of the Pod Security Standards' restricted profile, for every workload the platform runs."""

from __future__ import annotations

import pulumi_kubernetes as k8s


def restricted(read_only: bool = True) -> k8s.core.v1.SecurityContextArgs:
    """The container security context of the restricted profile (read-only root filesystem unless asked)."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=read_only,
        run_as_non_root=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_pod(uid: int) -> k8s.core.v1.PodSecurityContextArgs:
    """The pod security context of the restricted profile, running as ``uid`` (user, group and volume group)."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )
