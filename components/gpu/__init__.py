"""GPU capacity: node pools on EKS, GKE and AKS, and in-cluster GPU enablement."""

from .operator import GpuOperator, GpuOperatorArgs
from .pool import GpuNodePool, GpuNodePoolArgs, PoolWiring

__all__ = ["GpuNodePool", "GpuNodePoolArgs", "GpuOperator", "GpuOperatorArgs", "PoolWiring"]
