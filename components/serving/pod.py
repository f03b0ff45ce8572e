"""The Triton pod: pinned image, model sync from object storage, probes, restricted security."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from ..clouds.target import CloudTarget
from ..config.serving import ImageRef, ModelConfig
from ..identity import StoreLocation
from ..pool_wiring import PoolWiring
from ..security import restricted

HTTP, GRPC, METRICS = 8000, 8001, 8002
TRITON_UID = 1000
"""The `triton-server` user of NVIDIA's Triton images."""
GRACE_SECONDS = 60
MODEL_CACHE_GI = 50
"""Size of the emptyDir the init container copies the model version into."""
SCRATCH_GI = 1
"""Size of the `/tmp` emptyDir."""
EPHEMERAL_STORAGE = f"{MODEL_CACHE_GI + SCRATCH_GI + 1}Gi"
"""Node disk a replica requests: the disk-backed emptyDirs (the scheduler does not count their sizeLimit)
plus 1 GiB for logs; `/dev/shm` is memory and counted in the memory limit."""


def rclone_env(cloud: CloudTarget, location: StoreLocation) -> tuple[list[k8s.core.v1.EnvVarArgs], str]:
    """rclone remote `repo` configured from the environment, and the remote path of the repository.

    Credentials come from workload identity (`env_auth`): the pod holds no key. On provider
    `kubernetes` (no cloud account) they come from the existing Secret `cloud.s3_credentials_secret`.
    """
    env: dict[str, str] = {"RCLONE_CONFIG_REPO_ENV_AUTH": "true", "RCLONE_CACHE_DIR": "/tmp/rclone", "HOME": "/tmp"}
    from_secret: list[k8s.core.v1.EnvVarArgs] = []
    if cloud.provider == "kubernetes":
        env.update(RCLONE_CONFIG_REPO_TYPE="s3", RCLONE_CONFIG_REPO_PROVIDER="Other", RCLONE_CONFIG_REPO_ENDPOINT=cloud.s3_endpoint or "")
        path = f"{location.bucket}/{location.prefix}".rstrip("/")
        from_secret = [
            k8s.core.v1.EnvVarArgs(
                name=key,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=cloud.s3_credentials_secret, key=key)
                ),
            )
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        ]
    elif location.scheme == "s3":
        env.update(RCLONE_CONFIG_REPO_TYPE="s3", RCLONE_CONFIG_REPO_PROVIDER="AWS", RCLONE_CONFIG_REPO_REGION=cloud.region or "")
        path = f"{location.bucket}/{location.prefix}".rstrip("/")
    elif location.scheme == "gs":
        env.update(RCLONE_CONFIG_REPO_TYPE="google cloud storage", RCLONE_CONFIG_REPO_BUCKET_POLICY_ONLY="true")
        path = f"{location.bucket}/{location.prefix}".rstrip("/")
    else:
        env.update(RCLONE_CONFIG_REPO_TYPE="azureblob", RCLONE_CONFIG_REPO_ACCOUNT=location.bucket)
        path = f"{location.container}/{location.prefix}".rstrip("/")
    return [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in sorted(env.items())] + from_secret, path


def pod_spec(
    model: ModelConfig,
    version: int,
    triton_image: ImageRef,
    sync_image: ImageRef,
    cloud: CloudTarget,
    service_account: Any,
    config_map: str,
    pool: PoolWiring | None,
    spread_required: bool,
    selector: dict[str, str],
) -> k8s.core.v1.PodSpecArgs:
    """One Triton replica of ``triton_image`` that loads exactly ``version`` of ``model``, copied by ``sync_image``."""
    location = StoreLocation.parse(model.repository_uri)
    env, remote = rclone_env(cloud, location)
    model_dir = f"/models/{model.name}"
    resources: dict[str, str] = {"cpu": model.cpu, "memory": model.memory, "ephemeral-storage": EPHEMERAL_STORAGE}
    if model.gpus_per_replica:
        resources[pool.gpu_resource if pool else "nvidia.com/gpu"] = str(model.gpus_per_replica)
    sync = k8s.core.v1.ContainerArgs(
        name="fetch-model",
        image=sync_image.reference,
        args=["copy", "--checksum", f"repo:{remote}/{model.name}/{version}", f"{model_dir}/{version}"],
        env=env,
        resources=k8s.core.v1.ResourceRequirementsArgs(requests={"cpu": "250m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "512Mi"}),
        security_context=restricted(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="models", mount_path="/models"),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
    )
    triton = k8s.core.v1.ContainerArgs(
        name="triton",
        image=triton_image.reference,
        command=["tritonserver"],
        args=[
            "--model-repository=/models",
            "--model-control-mode=explicit",
            f"--load-model={model.name}",
            # the served config is exactly the generated config.pbtxt (Triton 2.51 deprecates --strict-model-config)
            "--disable-auto-complete-config",
            "--exit-on-error=true",
            f"--http-port={HTTP}",
            f"--grpc-port={GRPC}",
            f"--metrics-port={METRICS}",
            "--allow-metrics=true",
            f"--allow-gpu-metrics={'true' if model.gpus_per_replica else 'false'}",
            "--metrics-config=summary_latencies=true",
            f"--exit-timeout-secs={GRACE_SECONDS - 15}",
        ],
        ports=[
            k8s.core.v1.ContainerPortArgs(name="http", container_port=HTTP),
            k8s.core.v1.ContainerPortArgs(name="grpc", container_port=GRPC),
            k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS),
        ],
        resources=k8s.core.v1.ResourceRequirementsArgs(requests=resources, limits=resources),
        startup_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/v2/health/ready", port="http"),
            period_seconds=10,
            failure_threshold=max(3, model.load_timeout_seconds // 10),
        ),
        liveness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/v2/health/live", port="http"), period_seconds=10, failure_threshold=3
        ),
        readiness_probe=k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path="/v2/health/ready", port="http"), period_seconds=5, failure_threshold=2
        ),
        lifecycle=k8s.core.v1.LifecycleArgs(
            # keep serving while the endpoint is removed from load balancers, then drain
            pre_stop=k8s.core.v1.LifecycleHandlerArgs(exec_=k8s.core.v1.ExecActionArgs(command=["sleep", "10"]))
        ),
        security_context=restricted(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="models", mount_path="/models", read_only=True),
            k8s.core.v1.VolumeMountArgs(
                name="model-config", mount_path=f"{model_dir}/config.pbtxt", sub_path="config.pbtxt", read_only=True
            ),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name="shm", mount_path="/dev/shm"),
        ],
    )
    spread = [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="topology.kubernetes.io/zone",
            when_unsatisfiable="DoNotSchedule" if spread_required else "ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        ),
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="kubernetes.io/hostname",
            when_unsatisfiable="ScheduleAnyway",
            label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        ),
    ]
    return k8s.core.v1.PodSpecArgs(
        service_account_name=service_account,
        automount_service_account_token=False,
        termination_grace_period_seconds=GRACE_SECONDS,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=TRITON_UID,
            run_as_group=TRITON_UID,
            fs_group=TRITON_UID,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        init_containers=[sync],
        containers=[triton],
        node_selector=pool.node_selector if pool else None,
        tolerations=[
            k8s.core.v1.TolerationArgs(key=t["key"], operator=t["operator"], value=t["value"], effect=t["effect"]) for t in pool.tolerations
        ]
        if pool
        else None,
        topology_spread_constraints=spread,
        volumes=[
            k8s.core.v1.VolumeArgs(name="models", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=f"{MODEL_CACHE_GI}Gi")),
            k8s.core.v1.VolumeArgs(name="model-config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map)),
            k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=f"{SCRATCH_GI}Gi")),
            k8s.core.v1.VolumeArgs(name="shm", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Gi")),
        ],
    )
