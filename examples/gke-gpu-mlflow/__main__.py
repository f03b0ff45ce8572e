"""An existing GKE cluster: one L4 pool and an MLflow tracking server (Cloud SQL, GCS, workload identity)."""

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from mlops_platform import (
    CloudTarget,
    GpuNodePool,
    GpuNodePoolArgs,
    GpuPoolConfig,
    MlflowConfig,
    MlflowServer,
    MlflowServerArgs,
    PlatformNamespace,
    PlatformNamespaceArgs,
)

config = pulumi.Config()
cloud = CloudTarget.gcp(project=config.require("project"), region="us-central1")
cluster_name = config.require("clusterName")
google = gcp.Provider("gcp", project=cloud.project, region=cloud.region)
cluster = k8s.Provider("cluster", kubeconfig=config.require_secret("kubeconfig"))

pool = GpuNodePool(
    "training",
    GpuNodePoolArgs(
        pool=GpuPoolConfig(name="l4", gpu_type="nvidia-l4", max_nodes=2, capacity="spot"),
        cloud=cloud,
        cluster_name=cluster_name,
    ),
    opts=pulumi.ResourceOptions(providers=[google]),
)
tracking = PlatformNamespace(
    "tracking",
    PlatformNamespaceArgs(namespace="mlflow", kubernetes_version="1.31"),
    opts=pulumi.ResourceOptions(provider=cluster),
)
mlflow = MlflowServer(
    "mlflow",
    MlflowServerArgs(
        config=MlflowConfig(auth={"mode": "none"}, database={"size": "small"}),
        cloud=cloud,
        cluster_name=cluster_name,
        namespace="mlflow",
    ),
    opts=pulumi.ResourceOptions(providers=[google, cluster], depends_on=[tracking]),
)
pulumi.export("tracking_uri", mlflow.tracking_uri)
pulumi.export("artifacts", mlflow.artifact_destination)
