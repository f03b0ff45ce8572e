"""Model serving with NVIDIA Triton on Kubernetes: deployments, gateway, canary rollback."""

from .deployment import TritonDeployment, TritonDeploymentArgs
from .gateway import ServingGateway, ServingGatewayArgs
from .rollback import CanaryRollback, CanaryRollbackArgs

__all__ = ["CanaryRollback", "CanaryRollbackArgs", "ServingGateway", "ServingGatewayArgs", "TritonDeployment", "TritonDeploymentArgs"]
