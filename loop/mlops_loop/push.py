"""Gauges in the Prometheus text format, pushed to the Pushgateway as one group per model.

One group per model (``/metrics/job/<job>/model/<name>``), replaced on every successful run of that
model (HTTP PUT): a model that fails keeps its last figures and its last success time, so its
staleness alert fires, while the others stay current.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from dataclasses import dataclass, field


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class Gauges:
    help: dict[str, str] = field(default_factory=dict)
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, name: str, help_text: str, value: float, **labels: str) -> None:
        self.help.setdefault(name, help_text)
        self.samples.append((name, labels, float(value)))

    def text(self) -> str:
        lines: list[str] = []
        for name, help_text in self.help.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for sample, labels, value in self.samples:
                if sample != name:
                    continue
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                lines.append(f"{name}{{{inner}}} {value!r}" if inner else f"{name} {value!r}")
        return "\n".join(lines) + "\n"


def push(url: str, job: str, model: str, gauges: Gauges, timeout: float = 30.0) -> None:
    """Replace the model's group on the Pushgateway; raises on any non-2xx answer."""
    path = f"/metrics/job/{urllib.parse.quote(job, safe='')}/model/{urllib.parse.quote(model, safe='')}"
    request = urllib.request.Request(url.rstrip("/") + path, data=gauges.text().encode(), method="PUT")
    request.add_header("Content-Type", "text/plain; version=0.0.4")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status // 100 != 2:
            raise RuntimeError(f"Pushgateway answered {response.status} for {path}")
