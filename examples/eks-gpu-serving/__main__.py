"""An existing EKS cluster: one L4 pool, a closed serving namespace, and one Triton model that Flagger releases."""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform import (
    CloudTarget,
    GpuNodePool,
    GpuNodePoolArgs,
    GpuPoolConfig,
    ModelConfig,
    PlatformNamespace,
    PlatformNamespaceArgs,
    TritonDeployment,
    TritonDeploymentArgs,
)

config = pulumi.Config()
cloud = CloudTarget.aws("us-east-1")
cluster_name = config.require("clusterName")
aws_provider = aws.Provider("aws", region=cloud.region, allowed_account_ids=[config.require("accountId")])
cluster = k8s.Provider("cluster", kubeconfig=config.require_secret("kubeconfig"))

pool = GpuNodePool(
    "inference",
    GpuNodePoolArgs(
        pool=GpuPoolConfig(name="l4", gpu_type="nvidia-l4", min_nodes=1, max_nodes=4, zones=["us-east-1a", "us-east-1b"]),
        cloud=cloud,
        cluster_name=cluster_name,
    ),
    opts=pulumi.ResourceOptions(providers=[aws_provider]),
)
namespace = PlatformNamespace(
    "serving",
    PlatformNamespaceArgs(namespace="ml-serving", kubernetes_version="1.31", gpu_quota=4),
    opts=pulumi.ResourceOptions(provider=cluster),
)
model = TritonDeployment(
    "fraud",
    TritonDeploymentArgs(
        model=ModelConfig(
            name="fraud-detector",
            version=8,
            repository_uri="s3://acme-models/triton",
            gpu_pool="l4",
            # no gateway in this example: Flagger checks a new version on its load tester's requests for 5 minutes,
            # then switches all traffic to it (blue/green); behind the platform's gateway it would shift weights
            release={"mode": "blue_green", "iterations": 5, "max_error_rate": 0.005},
            inputs=[{"name": "features", "data_type": "FP32", "dims": [64]}],
            outputs=[{"name": "fraud_probability", "data_type": "FP32", "dims": [1]}],
        ),
        namespace=namespace.namespace,  # an Output: every object of the model waits for the namespace
        cloud=cloud,
        cluster_name=cluster_name,
        pool=pool.wiring,
        # the cluster's Prometheus (Flagger's checks) and Flagger's load tester: the cluster runs Flagger and KEDA already
        prometheus_url="http://prometheus-operated.monitoring.svc:9090",
        release_prometheus_url="http://prometheus-operated.monitoring.svc:9090",
        loadtester_namespace="flagger",
    ),
    # the workload identity's IAM role uses the AWS provider, every Kubernetes object the cluster's
    opts=pulumi.ResourceOptions(providers=[aws_provider, cluster]),
)
pulumi.export("gpu_resource", pool.wiring.gpu_resource)
