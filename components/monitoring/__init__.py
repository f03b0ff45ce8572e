"""Monitoring: kube-prometheus-stack, SLO alert rules, scrape wiring, dashboards, the drift monitor.

Everything but ``MonitoringStack`` is a pure function of the configuration, so synth writes and
tests check exactly what the cluster receives.
"""

from .alert_catalogue import CATALOGUE
from .dashboards import dashboard_texts, dashboards
from .rules import rule_file_texts, rule_files, rule_groups
from .servicemonitors import ScrapeTarget, service_monitor_manifest, service_monitor_spec
from .spec import AlertSpec, alert_spec
from .stack import MonitoringStack, MonitoringStackArgs

__all__ = [
    "CATALOGUE",
    "AlertSpec",
    "MonitoringStack",
    "MonitoringStackArgs",
    "ScrapeTarget",
    "alert_spec",
    "dashboard_texts",
    "dashboards",
    "rule_file_texts",
    "rule_files",
    "rule_groups",
    "service_monitor_manifest",
    "service_monitor_spec",
]
