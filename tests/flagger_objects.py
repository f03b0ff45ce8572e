"""What Flagger creates from each Canary, derived as its v1.36.1 source does, for tests that follow Services to pods.

- the primary Deployment (pkg/canary/deployment_controller.go, makePrimaryLabels): the target's pod template with the
  selector label (`app`) set to `<target>-primary`;
- the Services (pkg/router/kubernetes_default.go): `<target>` (apex) and `<target>-primary` select `app: <target>-primary`,
  `<target>-canary` selects `app: <target>`; each has the Canary's port under `portName` and, with `portDiscovery`, every
  other named container port (pkg/canary/util.go getPorts); labels are the Canary's `service.{apex,primary,canary}.labels`
  plus `app: <service name>`.

tests/test_flagger.py runs the real controller; this model stays in step with what it creates there.
"""

from __future__ import annotations

import copy
from typing import Any

SELECTOR = "app"


def flagger_objects(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    deployments = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in manifests if m["kind"] == "Deployment"}
    made: list[dict[str, Any]] = []
    for canary in (m for m in manifests if m["kind"] == "Canary"):
        ns, spec = canary["metadata"]["namespace"], canary["spec"]
        target = deployments[(ns, spec["targetRef"]["name"])]
        name = target["metadata"]["name"]
        primary = copy.deepcopy(target)
        primary["metadata"]["name"] = f"{name}-primary"
        primary["spec"]["selector"] = {"matchLabels": {SELECTOR: f"{name}-primary"}}
        primary["spec"]["template"]["metadata"]["labels"][SELECTOR] = f"{name}-primary"
        made.append(primary)
        service = spec["service"]
        ports = [
            {"name": service.get("portName", "http"), "port": service["port"], "targetPort": service.get("targetPort", service["port"])}
        ]
        if service.get("portDiscovery"):
            for container in target["spec"]["template"]["spec"]["containers"]:
                for port in container.get("ports", []):
                    if port.get("name") != service.get("targetPort") and port["containerPort"] != service["port"]:
                        ports.append({"name": port["name"], "port": port["containerPort"], "targetPort": port["containerPort"]})
        for suffix, role, pods in (
            ("", "apex", f"{name}-primary"),
            ("-primary", "primary", f"{name}-primary"),
            ("-canary", "canary", name),
        ):
            labels = {**service.get(role, {}).get("labels", {}), SELECTOR: f"{name}{suffix}"}
            made.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"{name}{suffix}", "namespace": ns, "labels": labels},
                    "spec": {"type": "ClusterIP", "selector": {SELECTOR: pods}, "ports": copy.deepcopy(ports)},
                }
            )
    return made
