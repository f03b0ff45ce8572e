"""The typed configuration of a platform stack (`PlatformConfig`) and its loader."""

from .errors import ConfigError, ConfigIssue
from .loader import LoadedConfig, load_platform_config, validate_platform
from .platform import PlatformConfig

__all__ = ["ConfigError", "ConfigIssue", "LoadedConfig", "PlatformConfig", "load_platform_config", "validate_platform"]
