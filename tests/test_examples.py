"""Every example under examples/ is a project of its own (Pulumi.yaml, README, requirements naming the package's
extra, a test) and its test passes from a fresh virtualenv that has only the wheel of this checkout installed.

The Kubernetes-only example goes further: pip installs the wheel into a fresh virtualenv as a user would (its
dependencies resolved from the package index, pinned by constraints.txt), and the real engine (`make engine`)
runs `pulumi preview` of it against the local control plane (`make cluster`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.cluster.controlplane import ControlPlane
from tools.cluster.release_scenario import wait_established
from tools.crd_schemas import crd_documents

from .conftest import run_tests_against_the_wheel
from .realengine import describe, require_engine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/Pulumi.yaml"))
EXTRA = {"eks-gpu-serving": "aws", "gke-gpu-mlflow": "gcp", "eks-cluster-in-program": "aws", "kubernetes-serving": None}
"""Each example's extra of the package; None: the core package alone (Kubernetes objects only)."""
CLUSTER_BIN = os.environ.get("MLOPS_CLUSTER_BIN", "")


def test_the_examples_are_there():
    assert sorted(p.name for p in EXAMPLES) == sorted(EXTRA)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_is_a_project(example: Path):
    project = yaml.safe_load((example / "Pulumi.yaml").read_text())
    assert project["name"] == example.name and project["runtime"]["name"] == "python"
    extra = EXTRA[example.name]
    requirement = f"mlops-platform[{extra}]" if extra else "mlops-platform"
    assert requirement in (example / "requirements.txt").read_text().split()
    readme = (example / "README.md").read_text()
    assert readme.startswith("# Example: ") and "pytest test_example.py" in readme


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_passes_its_tests_from_the_wheel(example: Path, wheel: Path, tmp_path: Path):
    done = run_tests_against_the_wheel(wheel, example, tmp_path / "venv", "test_example.py")
    assert done.stdout.count(".") >= 1 and "F" not in done.stdout.split("[")[0]


def pip_install(venv: Path, *requirements: str) -> None:
    """A fresh virtualenv with ``requirements`` installed as a user installs them: pip resolves every dependency from the
    package index (its cache first), at the versions this repository pins (constraints.txt)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    args = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), *requirements]
    installed = subprocess.run(args, capture_output=True, text=True, check=False)
    assert installed.returncode == 0, installed.stderr[-3000:]


def test_the_eks_example_passes_from_a_pip_install_of_the_aws_extra(wheel: Path, tmp_path: Path):
    """`pip install '<wheel>[aws]'` into a fresh virtualenv brings everything the example needs: its tests pass there with
    nothing of this repository on the path."""
    venv = tmp_path / "venv"
    pip_install(venv, f"{wheel}[aws]", "pytest")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=ROOT / "examples" / "eks-gpu-serving",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mlops_platform, pulumi_aws; print(mlops_platform.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout


def test_the_kubernetes_example_installed_by_pip_previews_with_the_real_engine(wheel: Path, tmp_path: Path):
    """`pip install <wheel>` into the example's own virtualenv, then `pulumi preview` of it with the real engine against
    the local control plane (which holds the KEDA and Flagger CRDs a cluster running them has): every object is to be
    created, none fails the API server's dry run."""
    engine = Path(require_engine())
    if not CLUSTER_BIN or not (Path(CLUSTER_BIN) / "kube-apiserver").is_file():
        if os.environ.get("MLOPS_REQUIRE_CLUSTER") == "1":
            pytest.fail(f"MLOPS_REQUIRE_CLUSTER=1 but no control plane at MLOPS_CLUSTER_BIN={CLUSTER_BIN!r}; run make cluster")
        pytest.skip("the control plane is not built (make cluster)")
    project = shutil.copytree(ROOT / "examples" / "kubernetes-serving", tmp_path / "kubernetes-serving")
    pip_install(project / "venv", str(wheel))
    plane = ControlPlane(Path(CLUSTER_BIN), tmp_path / "cluster")
    plane.start()
    try:
        crds = crd_documents({("keda.sh", "ScaledObject"), ("flagger.app", "Canary"), ("flagger.app", "MetricTemplate")})
        plane.apply(crds)
        wait_established(plane, [c["metadata"]["name"] for c in crds])
        home = tmp_path / "home"
        env = {
            "PATH": f"{engine}:/usr/bin:/bin",
            "HOME": str(home),
            "PULUMI_HOME": str(home / ".pulumi"),
            "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": "example",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
        }
        (tmp_path / "state").mkdir()
        version = subprocess.run(
            [str(project / "venv" / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('pulumi_kubernetes'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

        def pulumi(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(engine / "pulumi"), *args], cwd=project, env=env, input=stdin, capture_output=True, text=True, timeout=600, check=False
            )

        steps = [
            pulumi("plugin", "install", "resource", "kubernetes", version, "--file", str(engine / "pulumi-resource-kubernetes")),
            pulumi("stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive"),
            pulumi("config", "set", "--secret", "kubeconfig", stdin=plane.kubeconfig.read_text()),
        ]
        for step in steps:
            assert step.returncode == 0, describe(step)
        preview = pulumi("preview", "--non-interactive", "--diff")
        assert preview.returncode == 0, describe(preview)
        kinds = ("apps/v1:Deployment", "flagger.app/v1beta1:Canary", "keda.sh/v1alpha1:ScaledObject", "core/v1:Namespace")
        for kind in kinds:
            assert f"kubernetes:{kind}" in preview.stdout, describe(preview)
    finally:
        plane.stop()
