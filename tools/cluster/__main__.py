"""`python -m tools.cluster up|down|status [--stack NAME]`: the local control plane (make cluster-up / cluster-down).

``up`` starts it under ``--state`` (default build/cluster), writes its kubeconfig there and, with
``--stack``, creates what that stack needs before `pulumi up` (its pools' fake nodes, its CRDs, the
namespaces it expects to exist). ``down`` stops exactly the processes ``up`` started, by PID.
The binaries come from ``tools/cluster/build.sh`` (make cluster), or ``--bin``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from .controlplane import ControlPlane, ControlPlaneError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE = ROOT / "build" / "cluster"


def built_bin() -> Path:
    """The cached control plane build; make cluster builds it."""
    done = subprocess.run([str(ROOT / "tools" / "cluster" / "build.sh"), "--cached"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(done.stderr.strip() or "the control plane is not built; run make cluster")
    return Path(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--stack", help="up: create what this stack needs (nodes, CRDs, existing namespaces)")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="state directory (default: build/cluster)")
    parser.add_argument("--bin", type=Path, help="directory of the control plane binaries (default: the cached build)")
    args = parser.parse_args(argv)
    try:
        # stopping and status read the recorded PIDs and binaries: they work even when the build is gone
        bin_dir = args.bin or (built_bin() if args.command == "up" else Path("."))
        plane = ControlPlane(bin_dir, args.state.resolve())
        if args.command == "down":
            stopped = plane.stop()
            print(f"cluster: stopped {', '.join(stopped) if stopped else 'nothing (none of its processes runs)'}")
            return 0
        if args.command == "status":
            running = plane.running()
            where = plane.server() if running and plane.kubeconfig.is_file() else "(starting)"
            print(f"cluster: {'running at ' + where if running else 'not running'} ({args.state})")
            return 0 if running else 1
        began = time.monotonic()
        seconds = plane.start()
        print(f"cluster: API server ready at {plane.server()} in {seconds:.1f}s; kubeconfig {plane.kubeconfig}")
        if args.stack:
            counts = _prepare(plane, args.stack)
            keda = ", KEDA serving the external metrics API" if counts["keda"] else ""
            print(f"cluster: stack {args.stack}: {counts['nodes']} nodes Ready, {counts['crds']} CRDs established{keda}")
        print(f"cluster: up in {time.monotonic() - began:.1f}s (stop it with make cluster-down)")
        return 0
    except ControlPlaneError as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 1


def _prepare(plane: ControlPlane, stack: str) -> dict[str, int]:
    from tools.synthesis import synthesize

    from .stack import prepare

    try:
        return prepare(plane, synthesize(stack))
    except BaseException:
        plane.stop()
        raise


if __name__ == "__main__":
    sys.exit(main())
