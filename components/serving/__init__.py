"""Model serving with NVIDIA Triton on Kubernetes: deployments, gateway, KEDA scaling, Flagger releases."""

from .deployment import ModelRoute, TritonDeployment, TritonDeploymentArgs
from .flagger import Flagger, FlaggerArgs
from .gateway import ServingGateway, ServingGatewayArgs

__all__ = ["Flagger", "FlaggerArgs", "ModelRoute", "ServingGateway", "ServingGatewayArgs", "TritonDeployment", "TritonDeploymentArgs"]
