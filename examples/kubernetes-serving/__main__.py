"""Any Kubernetes cluster, no cloud account: a closed namespace and one CPU Triton model that Flagger releases.

The models are read from an S3-compatible store (e.g. MinIO) with the credentials in an existing Secret
`model-store-credentials` in the namespace; the cluster runs Flagger (with its load tester in `flagger`), KEDA and
the Prometheus that scrapes Triton.
"""

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform import CloudTarget, ModelConfig, PlatformNamespace, PlatformNamespaceArgs, TritonDeployment, TritonDeploymentArgs

config = pulumi.Config()
cloud = CloudTarget.kubernetes(
    s3_endpoint=config.get("storeEndpoint") or "https://minio.storage.svc:9000",
    s3_credentials_secret="model-store-credentials",
)
cluster = k8s.Provider("cluster", kubeconfig=config.require_secret("kubeconfig"))
prometheus = "http://prometheus-operated.monitoring.svc:9090"

namespace = PlatformNamespace(
    "serving",
    PlatformNamespaceArgs(namespace="ml-serving", kubernetes_version="1.34"),
    opts=pulumi.ResourceOptions(provider=cluster),
)
model = TritonDeployment(
    "ranker",
    TritonDeploymentArgs(
        model=ModelConfig(
            name="ranker",
            version=3,
            repository_uri="s3://models/triton",
            gpus_per_replica=0,
            cpu="2",
            memory="4Gi",
            replicas={"min": 1, "max": 4},
            # no gateway in this example: Flagger checks a new version on its load tester's requests, then switches
            release={"mode": "blue_green", "iterations": 5},
            inputs=[{"name": "features", "data_type": "FP32", "dims": [32]}],
            outputs=[{"name": "score", "data_type": "FP32", "dims": [1]}],
        ),
        namespace=namespace.namespace,  # an Output: every object of the model waits for the namespace
        cloud=cloud,
        cluster_name="on-premises",
        prometheus_url=prometheus,
        release_prometheus_url=prometheus,
        loadtester_namespace="flagger",
    ),
    opts=pulumi.ResourceOptions(provider=cluster),  # no cloud: the Kubernetes provider alone
)
pulumi.export("namespace", namespace.namespace)
