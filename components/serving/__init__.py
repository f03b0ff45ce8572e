"""Model serving with NVIDIA Triton on Kubernetes: deployments, gateway, KEDA scaling, Flagger releases."""

from .deployment import TritonDeployment, TritonDeploymentArgs
from .flagger import Flagger, FlaggerArgs
from .gateway import ServingGateway, ServingGatewayArgs

__all__ = ["Flagger", "FlaggerArgs", "ServingGateway", "ServingGatewayArgs", "TritonDeployment", "TritonDeploymentArgs"]
