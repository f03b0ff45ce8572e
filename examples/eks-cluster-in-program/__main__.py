"""An EKS cluster made in the same program: its Outputs (name, endpoint) feed the GPU pool and a workload identity."""

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform import (
    CloudTarget,
    GpuNodePool,
    GpuNodePoolArgs,
    GpuPoolConfig,
    ObjectStoreGrant,
    WorkloadIdentity,
    WorkloadIdentityArgs,
)

config = pulumi.Config()
cloud = CloudTarget.aws("us-east-1")
provider = aws.Provider("aws", region=cloud.region, allowed_account_ids=[config.require("accountId")])
role = aws.iam.Role(
    "cluster",
    assume_role_policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}',
    opts=pulumi.ResourceOptions(provider=provider),
)
cluster = aws.eks.Cluster(
    "ml",
    role_arn=role.arn,
    vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=config.require_object("subnetIds")),
    opts=pulumi.ResourceOptions(provider=provider),
)


def kubeconfig(args: list[str]) -> str:
    """A kubeconfig for the new cluster: its endpoint and CA, tokens from `aws eks get-token` (no stored secret)."""
    endpoint, ca, name = args
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name],
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
    )


cluster_k8s = k8s.Provider(
    "ml", kubeconfig=pulumi.Output.all(cluster.endpoint, cluster.certificate_authority.data, cluster.name).apply(kubeconfig)
)
pool = GpuNodePool(
    "inference",
    GpuNodePoolArgs(pool=GpuPoolConfig(name="t4", gpu_type="nvidia-t4", max_nodes=3), cloud=cloud, cluster_name=cluster.name),
    opts=pulumi.ResourceOptions(providers=[provider]),
)
reader = WorkloadIdentity(
    "models",
    WorkloadIdentityArgs(
        namespace="ml-serving",
        service_account="model-reader",
        cloud=cloud,
        cluster_name=cluster.name,
        grants=[ObjectStoreGrant("s3://acme-models/triton")],
    ),
    opts=pulumi.ResourceOptions(providers=[provider, cluster_k8s]),
)
pulumi.export("cluster", cluster.name)
