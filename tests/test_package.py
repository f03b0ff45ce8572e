"""The package as a consumer gets it: the wheel `make dist` builds, what it holds and declares, and the README's
example program and its test run from a fresh virtualenv where only the wheel provides ``mlops_platform``."""

from __future__ import annotations

import dataclasses
import inspect
import re
import tomllib
import typing
import zipfile
from pathlib import Path

import pulumi
import pytest

import mlops_platform

from .args_fields import field_types
from .conftest import run_tests_against_the_wheel

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_the_package_and_nothing_else(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"mlops_platform", f"mlops_platform-{mlops_platform.__version__}.dist-info"}
    for needed in (
        "mlops_platform/py.typed",
        "mlops_platform/testing.py",
        "mlops_platform/_version.py",
    ):
        assert needed in names
    packages = {str(p.parent.relative_to(ROOT / "components")) for p in (ROOT / "components").rglob("*.py")}
    in_wheel = {n.rsplit("/", 1)[0].removeprefix("mlops_platform").strip("/") or "." for n in names if n.endswith(".py")}
    assert packages == in_wheel, "every package of components/ is in pyproject.toml's packages"


def test_the_wheel_declares_name_version_licence_and_extras(wheel: Path):
    version = mlops_platform.__version__
    metadata = zipfile.ZipFile(wheel).read(f"mlops_platform-{version}.dist-info/METADATA").decode()
    assert "Name: mlops-platform\n" in metadata and f"Version: {version}\n" in metadata
    assert "License-Expression: Apache-2.0\n" in metadata
    assert {m for m in re.findall(r"Provides-Extra: (\w+)", metadata)} == {"aws", "gcp", "azure"}
    assert f"## {version}\n" in (ROOT / "CHANGELOG.md").read_text(), "CHANGELOG.md has a section for the version"


def test_the_pinned_environment_satisfies_the_declared_ranges():
    """The ranges consumers get must admit the exact versions this repository tests with."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    declared = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    for text in declared:
        requirement = Requirement(text)
        assert requirement.name.lower() in pins, f"{requirement.name} is declared but not pinned in requirements.txt"
        assert requirement.specifier.contains(pins[requirement.name.lower()], prereleases=True), (text, pins[requirement.name.lower()])


def test_the_public_api_is_what_all_lists():
    exported = mlops_platform.__all__
    assert sorted(exported) == sorted(["__version__", *mlops_platform._EXPORTS]) and len(set(exported)) == len(exported)
    for name in exported:
        assert getattr(mlops_platform, name) is not None
    with pytest.raises(AttributeError):
        _ = mlops_platform.NotAComponent


def test_no_component_takes_a_provider_but_through_opts():
    """Providers come from ``opts``, as in Pulumi's own components: no args dataclass the package exports (nor a
    dataclass one of them holds) has a field typed as a provider, and every component's constructor takes its name,
    its args and ``opts``, nothing else."""
    exported = [getattr(mlops_platform, name) for name in mlops_platform.__all__]
    todo = [obj for obj in exported if isinstance(obj, type) and dataclasses.is_dataclass(obj)]
    assert {cls.__name__ for cls in todo} >= {"GpuNodePoolArgs", "TritonDeploymentArgs", "InferenceCaptureArgs", "MlflowServerArgs"}
    offending = []
    for cls, name, named in field_types(todo):
        if isinstance(named, typing.ForwardRef):
            assert "Provider" not in named.__forward_arg__, (cls.__name__, name)
        elif isinstance(named, type) and issubclass(named, pulumi.ProviderResource):
            offending.append(f"{cls.__name__}.{name}")
    assert offending == []
    components = [obj for obj in exported if isinstance(obj, type) and issubclass(obj, pulumi.ComponentResource)]
    assert len(components) == len([name for name in mlops_platform.__all__ if name.endswith("Args")])
    for component in components:
        assert list(inspect.signature(component.__init__).parameters) == ["self", "name", "args", "opts"], component.__name__


SPECS: dict[str, set[str]] = {
    "GpuNodePoolArgs": {"GpuPoolConfig"},
    "GpuOperatorArgs": {"GpuOperatorConfig", "GpuPoolConfig"},
    "TritonDeploymentArgs": {"ModelConfig", "ImageRef"},
    "ServingGatewayArgs": {"GatewayConfig"},
    "KedaArgs": {"KedaConfig"},
    "FlaggerArgs": {"FlaggerConfig", "ImageRef"},
    "InferenceCaptureArgs": {"DriftMonitorConfig"},
    "MlflowServerArgs": {"MlflowConfig"},
    "MonitoringStackArgs": {"MonitoringConfig", "AlertingConfig"},
    "ManagedEndpointArgs": {"ManagedEndpointConfig"},
    "WorkloadIdentityArgs": set(),
    "PlatformNamespaceArgs": set(),
}
"""Per component's args, the validated models it may take: the spec of the one thing it builds (a pool, a model, the
tracking server, an installation) and small values (an image reference); never the stack's tree around it."""
STACK_ARGS = {"MlopsPlatformArgs", "ClusterAccessArgs"}
"""The two that take the stack's own sections by design: the whole platform, and how the stack reaches its cluster."""


def test_components_take_their_own_spec_never_the_stack_config_tree():
    """No component but the platform and the stack's cluster access takes the config tree (``PlatformConfig``, its
    ``cloud`` or ``cluster`` section, ``serving``...): the cloud comes as a ``CloudTarget``, the rest as the spec of what
    the component builds, each field with its documented default."""
    import pydantic

    args = sorted(name for name in mlops_platform.__all__ if name.endswith("Args"))
    assert sorted([*SPECS, *STACK_ARGS]) == args
    taken = {
        name: {
            named.__name__
            for _, _, named in field_types([getattr(mlops_platform, name)])
            if isinstance(named, type) and issubclass(named, pydantic.BaseModel)
        }
        for name in SPECS
    }
    assert {name: models - SPECS[name] for name, models in taken.items() if models - SPECS[name]} == {}
    clouds = {
        cls.__name__: named for name in SPECS for cls, field, named in field_types([getattr(mlops_platform, name)]) if field == "cloud"
    }
    assert clouds == {
        **{name: mlops_platform.CloudTarget for name in clouds if name != "GpuOperatorArgs"},
        "GpuOperatorArgs": str,  # only which cloud: its pools' wiring
    }
    assert {"GpuNodePoolArgs", "TritonDeploymentArgs", "MlflowServerArgs", "ManagedEndpointArgs", "WorkloadIdentityArgs"} <= set(clouds)


def test_a_cloud_target_is_checked_by_the_stack_cloud_sections_rules():
    """CloudTarget mirrors the stack's ``cloud`` section field for field and is checked by its model: every problem,
    each with its field, in one ValueError where the target is written."""
    from mlops_platform.config.cloud import CloudConfig

    target = mlops_platform.CloudTarget
    assert [f.name for f in dataclasses.fields(target)] == list(CloudConfig.model_fields)
    assert target.aws("eu-west-1").price_region == "eu-west-1"
    assert target.azure("3f1c2a9e-5b7d-4e2f-9a1c-0d8e7f6a5b4c", "rg", "westeurope").price_region == "westeurope"
    assert target.kubernetes("https://minio.storage.svc:9000", "store").price_region is None
    section = CloudConfig(provider="aws", region="us-east-1", account_id="123456789012")
    assert target.of(section) == target.aws("us-east-1", account_id="123456789012")
    with pytest.raises(ValueError, match="project: missing; expected a value: required when provider is 'gcp'"):
        target("gcp", region="us-central1")
    with pytest.raises(ValueError, match="project: got \"acme-ml\"; expected not set: it does not apply to provider 'aws'"):
        target("aws", region="us-east-1", project="acme-ml")
    with pytest.raises(ValueError, match='region: got "my-project"; expected a GCP region'):
        target.gcp("us-central1", "my-project")  # swapped
    with pytest.raises(ValueError, match='s3_endpoint: got "minio:9000"; expected an https:// URL'):
        target.kubernetes("minio:9000", "store")
    with pytest.raises(ValueError, match='provider: got "openstack"'):
        target("openstack")  # type: ignore[arg-type]


def readme_example(target: Path) -> list[str]:
    """Write the README's example program and test (its python blocks, each named by its first line) to ``target``."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use the components in your own program", 1)[1].split("\n## ", 1)[0]
    names = []
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        name = block.splitlines()[0].removeprefix("# ").strip()
        (target / name).write_text(block)
        names.append(name)
    return names


def test_the_readme_example_runs_from_the_installed_wheel(wheel: Path, tmp_path: Path):
    example = tmp_path / "example"
    example.mkdir()
    assert readme_example(example) == ["__main__.py", "test_program.py"]
    done = run_tests_against_the_wheel(wheel, example, tmp_path / "venv", "test_program.py")
    assert done.stdout.startswith(".")
