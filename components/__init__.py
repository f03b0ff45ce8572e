"""mlops-platform: Pulumi components for an ML platform on AWS, GCP and Azure.

Compose them in your own Pulumi program::

    import pulumi
    from mlops_platform import GpuNodePool, GpuNodePoolArgs

Every component takes its args and ``pulumi.ResourceOptions`` (providers come from ``opts``); docs/components.md
lists each one's args, defaults and outputs. A component with cloud resources takes a ``CloudTarget``
(``CloudTarget.aws("us-east-1")``); a pool, a model, an MLflow server and a managed endpoint are each described by
a validated spec (``GpuPoolConfig``, ``ModelConfig``, ``MlflowConfig``, ``ManagedEndpointConfig``), the model a
stack file's entry is read into. ``mlops_platform.testing`` has the mocks to unit-test a program that
uses them. Names are imported on first use, so importing the package loads no component (and no cloud SDK) until
asked: a program on one cloud never imports another cloud's SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS: dict[str, str] = {
    "MlopsPlatform": "platform",
    "MlopsPlatformArgs": "platform",
    "ClusterAccess": "cluster",
    "ClusterAccessArgs": "cluster",
    "PlatformNamespace": "namespace",
    "PlatformNamespaceArgs": "namespace",
    "GpuNodePool": "gpu.pool",
    "GpuNodePoolArgs": "gpu.pool",
    "GpuOperator": "gpu.operator",
    "GpuOperatorArgs": "gpu.operator",
    "TritonDeployment": "serving.deployment",
    "TritonDeploymentArgs": "serving.deployment",
    "ModelRoute": "serving.deployment",
    "ServingGateway": "serving.gateway",
    "ServingGatewayArgs": "serving.gateway",
    "Keda": "serving.keda",
    "KedaArgs": "serving.keda",
    "InferenceCapture": "serving.capture",
    "InferenceCaptureArgs": "serving.capture",
    "Flagger": "serving.flagger",
    "FlaggerArgs": "serving.flagger",
    "MlflowServer": "mlflow.server",
    "MlflowServerArgs": "mlflow.server",
    "MonitoringStack": "monitoring.stack",
    "MonitoringStackArgs": "monitoring.stack",
    "ManagedEndpoint": "endpoints.endpoint",
    "ManagedEndpointArgs": "endpoints.endpoint",
    "WorkloadIdentity": "identity",
    "WorkloadIdentityArgs": "identity",
    "ObjectStoreGrant": "identity",
    "CloudTarget": "clouds.target",
    "GpuPoolConfig": "config.gpu",
    "ModelConfig": "config.serving",
    "MlflowConfig": "config.mlflow",
    "ManagedEndpointConfig": "config.endpoints",
    "PlatformConfig": "config.platform",
    "ConfigError": "config.errors",
    "load_platform_config": "config",
    "validate_platform": "config",
}
"""Public name to the module (under this package) that defines it."""

__all__ = [
    "CloudTarget",
    "ClusterAccess",
    "ClusterAccessArgs",
    "ConfigError",
    "Flagger",
    "FlaggerArgs",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "GpuOperator",
    "GpuOperatorArgs",
    "GpuPoolConfig",
    "InferenceCapture",
    "InferenceCaptureArgs",
    "Keda",
    "KedaArgs",
    "ManagedEndpoint",
    "ManagedEndpointArgs",
    "ManagedEndpointConfig",
    "MlflowConfig",
    "MlflowServer",
    "MlflowServerArgs",
    "MlopsPlatform",
    "MlopsPlatformArgs",
    "ModelConfig",
    "ModelRoute",
    "MonitoringStack",
    "MonitoringStackArgs",
    "ObjectStoreGrant",
    "PlatformConfig",
    "PlatformNamespace",
    "PlatformNamespaceArgs",
    "ServingGateway",
    "ServingGatewayArgs",
    "TritonDeployment",
    "TritonDeploymentArgs",
    "WorkloadIdentity",
    "WorkloadIdentityArgs",
    "__version__",
    "load_platform_config",
    "validate_platform",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports on first use
    from .clouds.target import CloudTarget
    from .cluster import ClusterAccess, ClusterAccessArgs
    from .config import load_platform_config, validate_platform
    from .config.endpoints import ManagedEndpointConfig
    from .config.errors import ConfigError
    from .config.gpu import GpuPoolConfig
    from .config.mlflow import MlflowConfig
    from .config.platform import PlatformConfig
    from .config.serving import ModelConfig
    from .endpoints.endpoint import ManagedEndpoint, ManagedEndpointArgs
    from .gpu.operator import GpuOperator, GpuOperatorArgs
    from .gpu.pool import GpuNodePool, GpuNodePoolArgs
    from .identity import ObjectStoreGrant, WorkloadIdentity, WorkloadIdentityArgs
    from .mlflow.server import MlflowServer, MlflowServerArgs
    from .monitoring.stack import MonitoringStack, MonitoringStackArgs
    from .namespace import PlatformNamespace, PlatformNamespaceArgs
    from .platform import MlopsPlatform, MlopsPlatformArgs
    from .serving.capture import InferenceCapture, InferenceCaptureArgs
    from .serving.deployment import ModelRoute, TritonDeployment, TritonDeploymentArgs
    from .serving.flagger import Flagger, FlaggerArgs
    from .serving.gateway import ServingGateway, ServingGatewayArgs
    from .serving.keda import Keda, KedaArgs
