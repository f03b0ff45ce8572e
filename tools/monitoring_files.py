"""What synth writes for monitoring: `prometheus/*.yaml` rule files and `grafana/*.json` dashboards."""

from __future__ import annotations

from pathlib import Path

from mlops_platform.config.platform import PlatformConfig
from mlops_platform.monitoring.dashboards import dashboard_texts
from mlops_platform.monitoring.rules import rule_file_texts
from mlops_platform.monitoring.spec import alert_spec


def monitoring_files(cfg: PlatformConfig) -> dict[str, str]:
    """Relative path -> text of every monitoring file of a stack (none when monitoring is disabled)."""
    if not cfg.monitoring.enabled:
        return {}
    spec = alert_spec(cfg)
    files = {f"prometheus/{name}": text for name, text in rule_file_texts(spec).items()}
    files.update({f"grafana/{name}": text for name, text in dashboard_texts(spec).items()})
    return files


def write_monitoring(cfg: PlatformConfig, out: Path) -> list[Path]:
    """Write the stack's rule files and dashboards under ``out`` (build/synth/<stack>/); returns the paths."""
    written = []
    for relative, text in monitoring_files(cfg).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
