"""The retraining trigger: Alertmanager's drift and quality alerts become one retraining run per model and window.

Alertmanager posts its webhook (version 4) to ``POST /alerts``. For each firing alert of category
``drift`` or ``quality`` with a ``model`` label, the trigger

1. reads the model's last trigger (``<record_uri>/<model>/latest.json``) and does nothing when it is
   younger than ``window_minutes`` (deduplicated: counted and logged);
2. dispatches the retraining workflow through GitHub's ``workflow_dispatch`` API with inputs
   ``model``, ``version``, ``alert`` and ``figures`` (the alerts' values and labels, JSON);
3. writes the record of what triggered it (``<record_uri>/<model>/<time>.json``: alerts, figures,
   the dispatch answer) and moves ``latest.json``.

A failed dispatch answers 502, so Alertmanager retries, and records nothing; a permanent refusal
(GitHub 4xx other than 429) is logged and counted, not retried. Alerts for models outside ``models``
are ignored. Settings: the JSON
document in ``RETRAIN_CONFIG``; the GitHub token is read from ``github.token_file``.
Endpoints: ``POST /alerts``, ``GET /healthz``, ``GET /metrics``.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import store
from .service import ServiceHandler, serve, settings_from_env

LOG = logging.getLogger("retrain-trigger")
CATEGORIES = ("drift", "quality")


@dataclass(frozen=True)
class GitHubDispatch:
    repository: str
    workflow: str
    ref: str = "main"
    token_file: str = "/var/run/secrets/retraining/token"
    api_url: str = "https://api.github.com"


@dataclass(frozen=True)
class RetrainSettings:
    record_uri: str
    github: GitHubDispatch
    window_minutes: int = 1440
    models: tuple[str, ...] = ()
    """The models the platform scores; alerts naming any other model are ignored. Default: any model."""
    port: int = 8080
    host: str = "0.0.0.0"

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> RetrainSettings:
        return cls(**{**document, "github": GitHubDispatch(**document["github"]), "models": tuple(document.get("models", ()))})


def figures_of(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """What the alerts measured: per alert name, its value and distinguishing labels."""
    out: dict[str, Any] = {}
    for alert in alerts:
        labels = alert.get("labels", {})
        entry = {k: v for k, v in labels.items() if k in ("feature_set", "metric", "check")}
        entry["value"] = alert.get("annotations", {}).get("value")
        entry["since"] = alert.get("startsAt")
        out.setdefault(labels.get("alertname", "?"), []).append(entry)
    return out


class Trigger:
    def __init__(self, settings: RetrainSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str], int] = {}
        self.last: dict[str, datetime] = {}
        """Dispatches of this process: dedup holds even when writing the record failed."""

    def _count(self, outcome: str, model: str) -> None:
        self.counts[(outcome, model)] = self.counts.get((outcome, model), 0) + 1

    def handle(self, payload: dict[str, Any], now: datetime | None = None) -> list[str]:
        """Dispatch what the payload warrants; the models triggered. Raises when a dispatch fails."""
        by_model: dict[str, list[dict[str, Any]]] = {}
        for alert in payload.get("alerts", []):
            labels = alert.get("labels", {})
            if alert.get("status") != "firing" or labels.get("category") not in CATEGORIES or not labels.get("model"):
                continue
            if self.settings.models and labels["model"] not in self.settings.models:
                LOG.warning("ignoring an alert for unknown model %r", labels["model"])
                continue
            by_model.setdefault(labels["model"], []).append(alert)
        triggered = []
        with self.lock:  # one decision at a time: two webhooks for one model cannot both dispatch
            for model, alerts in sorted(by_model.items()):
                if self._trigger(model, alerts, now or datetime.now(tz=UTC)):
                    triggered.append(model)
        return triggered

    def _trigger(self, model: str, alerts: list[dict[str, Any]], now: datetime) -> bool:
        records = store.open_location(self.settings.record_uri).child(model)
        latest = records.child("latest.json")
        window = timedelta(minutes=self.settings.window_minutes)
        last = self.last.get(model)
        if last is None and store.exists(latest):
            last = datetime.fromisoformat(json.loads(store.read_bytes(latest))["time"])
        if last is not None and now - last < window:
            names = ", ".join(sorted({a["labels"]["alertname"] for a in alerts}))
            LOG.info("%s: deduplicated (%s), last trigger %s", model, names, last.isoformat())
            self._count("deduplicated", model)
            return False
        first = alerts[0]["labels"]
        figures = figures_of(alerts)
        inputs = {
            "model": model,
            "version": str(first.get("version", "")),
            "alert": ",".join(sorted(figures)),
            "figures": json.dumps(figures, sort_keys=True, separators=(",", ":")),
        }
        try:
            status = self._dispatch(inputs)
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500 and error.code != 429:
                # a permanent refusal (token, workflow or inputs): a retry would fail the same way
                LOG.error("%s: GitHub refused the dispatch (%d): %s", model, error.code, error.read()[:500])
                self._count("refused", model)
                return False
            self._count("failed", model)
            raise
        except Exception:
            self._count("failed", model)
            raise
        self.last[model] = now
        record = {"time": now.isoformat(), "model": model, "inputs": inputs, "alerts": alerts, "dispatch_status": status}
        text = json.dumps(record, indent=1, sort_keys=True).encode()
        try:
            store.write_bytes(records.child(f"{now:%Y%m%dT%H%M%S%f}Z.json"), text)
            store.write_bytes(latest, text)
        except Exception as error:  # dispatched: a retry must not dispatch again, so answer success
            LOG.error("%s: retraining dispatched but its record was not written: %s", model, error)
            self._count("unrecorded", model)
        LOG.info("%s: retraining dispatched (%s) with %s", model, inputs["alert"], inputs["figures"])
        self._count("dispatched", model)
        return True

    def _dispatch(self, inputs: dict[str, str]) -> int:
        github = self.settings.github
        url = f"{github.api_url.rstrip('/')}/repos/{github.repository}/actions/workflows/{github.workflow}/dispatches"
        with open(github.token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
        request = urllib.request.Request(url, data=json.dumps({"ref": github.ref, "inputs": inputs}).encode(), method="POST")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)

    def metrics(self) -> str:
        lines = [
            "# HELP mlops_retraining_triggers_total Retraining decisions by outcome.",
            "# TYPE mlops_retraining_triggers_total counter",
        ]
        with self.lock:
            lines += [f'mlops_retraining_triggers_total{{model="{m}",outcome="{o}"}} {v}' for (o, m), v in sorted(self.counts.items())]
        return "\n".join(lines) + "\n"


def handler(trigger: Trigger) -> type[ServiceHandler]:
    class Handler(ServiceHandler):
        reply_type = "text/plain; version=0.0.4"

        def metrics(self) -> str:
            return trigger.metrics()

        def do_POST(self) -> None:  # noqa: N802 - http.server calls do_<METHOD>
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/alerts":
                self.reply(404)
                return
            try:
                payload = json.loads(body)
            except ValueError:
                self.reply(400, b"not JSON\n")
                return
            try:
                triggered = trigger.handle(payload)
            except Exception as error:  # the store or GitHub is unreachable: Alertmanager retries
                LOG.error("dispatch failed, Alertmanager will retry: %s: %s", type(error).__name__, error)
                self.reply(502, f"{error}\n".encode())
                return
            self.reply(200, (json.dumps({"triggered": triggered}) + "\n").encode())

    return Handler


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s retrain-trigger %(levelname)s %(message)s", stream=sys.stderr)
    settings = settings_from_env("RETRAIN_CONFIG", RetrainSettings.from_json, LOG)
    if settings is None:
        return 2
    LOG.info(
        "dispatching %s of %s, one per model per %d minutes", settings.github.workflow, settings.github.repository, settings.window_minutes
    )
    serve(settings.host, settings.port, handler(Trigger(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
