"""Generated platforms for the benchmarks, and the power-law fit their timings are read with."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from typing import Any

from mlops_platform.config.gpu import GpuPoolConfig
from mlops_platform.config.serving import ModelConfig

from .synthesis import PROJECT, StackConfig, read_stack_file

SCALING_SIZES = (10, 100, 500)
BASE_STACK = "dev"
RUNS = 3
"""Repetitions of each fresh-process timing; the median is reported."""


def fit_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): b in ``seconds = a * size^b``.

    Log-log keeps every size equally weighted, so the largest run does not drown the others.
    """
    if len(sizes) != len(seconds) or len(set(sizes)) < 2:
        raise ValueError("need at least two distinct sizes, each with one time")
    if min(sizes) <= 0 or min(seconds) <= 0:
        raise ValueError("sizes and times must be positive to take logarithms")
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def generated_config(models: int, base: str = BASE_STACK) -> StackConfig:
    """The base stack's config with ``models`` generated models, valid for the config checks.

    The models use the base stack's first GPU pool (one GPU, one replica each), and that pool's
    max_nodes is raised to fit what they may hold at once (``ModelConfig.gpus_needed``: full scale and
    a rollout's surge pod), so the GPU quota grows with the models as a real stack's would. Without a
    pool in the base stack the models run on CPU.
    """
    stack = read_stack_file(base)
    values = dict(stack.values)
    pools = json.loads(values.get(f"{PROJECT}:gpu_pools", "[]"))
    cloud = json.loads(values[f"{PROJECT}:cloud"])
    scheme = {"aws": "s3://", "gcp": "gs://", "azure": "as://acmemlmodels/", "kubernetes": "s3://"}[cloud["provider"]]
    model: dict[str, Any] = {
        "version": 1,
        "repository_uri": f"{scheme}acme-ml-models-bench/triton",
        "replicas": {"min": 1, "max": 1},
        "inputs": [{"name": "features", "data_type": "FP32", "dims": [16]}],
        "outputs": [{"name": "score", "data_type": "FP32", "dims": [1]}],
    }
    if pools:
        pool = pools[0]
        per_node = GpuPoolConfig.model_validate(pool).schedulable_gpus_per_node
        needed = models * ModelConfig.model_validate({"name": "m", **model, "gpu_pool": pool["name"], "gpus_per_replica": 1}).gpus_needed()
        pool["max_nodes"] = max(pool["max_nodes"], math.ceil(needed / per_node))
        model.update(gpu_pool=pool["name"], gpus_per_replica=1)
    else:
        model.update(gpus_per_replica=0)
    values[f"{PROJECT}:gpu_pools"] = json.dumps(pools)
    values[f"{PROJECT}:models"] = json.dumps([{"name": f"model-{i:04d}", **model} for i in range(models)])
    return StackConfig(values=values, secret_keys=list(stack.secret_keys))
