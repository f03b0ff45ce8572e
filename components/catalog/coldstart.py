"""How long a model that scaled to zero takes to serve again, per cloud: the phases of a cold start.

A model at zero replicas on a pool at zero nodes needs, before its first answer: a GPU node provisioned
and Ready (drivers and device plugin included), the Triton image pulled onto it, and the model
downloaded and loaded. Every figure is the upper end of what its source reports, read 2026-12-06; none
was measured here (no cloud account). The clouds document speed-ups ("minutes to seconds") more often
than absolute times, so several figures come from maintainers' answers and issue threads: each row says
where. The model load is the model's own ``load_timeout_seconds``, the bound the platform already enforces.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_ON = "2026-12-06"


@dataclass(frozen=True)
class ColdStartPhase:
    """One phase of a cold start on one cloud, in seconds, with where the figure comes from."""

    cloud: str
    phase: str
    seconds: int
    source: str
    """URL of the figure."""
    basis: str
    """What the source says, in short."""


PHASES: tuple[ColdStartPhase, ...] = (
    ColdStartPhase(
        "aws",
        "GPU node Ready",
        120,
        "https://aws.amazon.com/blogs/containers/eliminate-kubernetes-node-scaling-lag-with-pod-priority-and-over-provisioning/",
        "1-2 minutes to add new nodes (Karpenter's maintainers see 30-40 s to Ready, github.com/aws/karpenter-provider-aws "
        "issue 6165); the EKS accelerated AMI ships the NVIDIA driver",
    ),
    ColdStartPhase(
        "aws",
        "Triton image pull",
        360,
        "https://aws.amazon.com/blogs/machine-learning/reducing-container-cold-start-times-using-soci-index-on-dlami-and-dlc/",
        "standard pulls of 15-20 GB images take 4-6 minutes per instance (Triton's -py3 image is about 15.5 GB unpacked, "
        "triton-inference-server/server issue 7474); SOCI parallel pull cuts it",
    ),
    ColdStartPhase(
        "gcp",
        "GPU node Ready",
        540,
        "https://github.com/codalab/codalab-worksheets/issues/4042",
        "a GKE GPU VM came up in 4.5 minutes and its NVIDIA driver daemonset finished 4.5 minutes later; fast-starting nodes "
        "(docs.cloud.google.com/kubernetes-engine/docs/concepts/fast-starting-nodes) start up to 4x faster, best effort",
    ),
    ColdStartPhase(
        "gcp",
        "Triton image pull",
        360,
        "https://aws.amazon.com/blogs/machine-learning/reducing-container-cold-start-times-using-soci-index-on-dlami-and-dlc/",
        "the same 4-6 minutes for a 15-20 GB image without streaming; GKE image streaming brings it to seconds "
        "(cloud.google.com/blog/products/containers-kubernetes/introducing-container-image-streaming-in-gke)",
    ),
    ColdStartPhase(
        "azure",
        "GPU node Ready",
        660,
        "https://learn.microsoft.com/en-us/answers/a/12767836",
        "10-11 minutes observed before a new A100 node is Ready after the autoscaler scales out, 5-10 minutes expected "
        "(also techcommunity.microsoft.com, leveraging low-priority pods for rapid scaling in AKS)",
    ),
    ColdStartPhase(
        "azure",
        "Triton image pull",
        360,
        "https://aws.amazon.com/blogs/machine-learning/reducing-container-cold-start-times-using-soci-index-on-dlami-and-dlc/",
        "the same 4-6 minutes for a 15-20 GB image; AKS artifact streaming (learn.microsoft.com/en-us/azure/aks/"
        "artifact-streaming) takes images under 10 GB from minutes to seconds",
    ),
)

MODEL_LOAD_SOURCE = "https://github.com/triton-inference-server/server/issues/6014"
"""Triton load times vary from seconds (TensorRT plans) to over 12 minutes (ONNX with TensorRT optimisation)."""


def cold_start_seconds(cloud: str, load_timeout_seconds: int) -> int | None:
    """The worst-case wait from zero replicas on zero nodes to a serving model, or None where no figures exist
    (provider `kubernetes`: the cluster's own nodes, whose provisioning the stack does not control)."""
    phases = [p.seconds for p in PHASES if p.cloud == cloud]
    return sum(phases) + load_timeout_seconds if phases else None
