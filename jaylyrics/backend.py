"""The one module that imports MXNet, and the choice of device.

MXNet 1.9.1 (the last release) still uses NumPy aliases that NumPy 1.24 removed (`np.bool`,
`np.object`, ...). They are restored here, before `import mxnet`, so that every NumPy < 2 works.
Everything else in jaylyrics gets MXNet from here: `from jaylyrics.backend import mx, nd`.
"""

from __future__ import annotations

import numpy as np

from jaylyrics import DeviceError

_REMOVED_ALIASES = {"bool": bool, "int": int, "float": float, "complex": complex,
                    "object": object, "str": str}
for _name, _type in _REMOVED_ALIASES.items():
    if _name not in np.__dict__:      # a plain getattr would warn or raise on NumPy >= 1.20
        setattr(np, _name, _type)

import mxnet as mx  # noqa: E402  (the aliases must be in place first)
from mxnet import autograd, nd  # noqa: E402,F401


def num_gpus() -> int:
    """How many GPUs MXNet sees (0 with the CPU build). Tests replace this to fake a GPU."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:
        return 0


def device(spec: str = "auto") -> "mx.Context":
    """`auto`, `cpu`, `gpu` or `gpu:N` -> an MXNet context. `auto` takes gpu(0) when there is one."""
    spec = spec.strip().lower()
    if spec == "auto":
        return mx.gpu(0) if num_gpus() > 0 else mx.cpu()
    if spec == "cpu":
        return mx.cpu()
    kind, _, index = spec.partition(":")
    if kind == "gpu" and (index == "" or index.isdigit()):
        n, i = num_gpus(), int(index or 0)
        if n == 0:
            raise DeviceError(f"--device {spec}: MXNet sees no GPU (this is the CPU build of mxnet, or "
                              "no CUDA device is visible); use --device cpu or install an mxnet-cuXXX build")
        if i >= n:
            raise DeviceError(f"--device {spec}: MXNet sees {n} GPU(s), numbered 0 to {n - 1}")
        return mx.gpu(i)
    raise DeviceError(f"--device {spec}: expected auto, cpu, gpu or gpu:N")


def devices(spec: str = "auto") -> list:
    """Like `device`, also for several devices of one kind: `cpu:0,1` or `gpu:0,1`."""
    kind, _, indices = spec.strip().lower().partition(":")
    if "," not in indices:
        return [device(spec)]
    if kind not in ("cpu", "gpu") or not all(i.strip().isdigit() for i in indices.split(",")):
        raise DeviceError(f"--device {spec}: expected cpu:I,J,... or gpu:I,J,...")
    if kind == "cpu":
        return [mx.cpu(int(i)) for i in indices.split(",")]
    return [device(f"gpu:{i.strip()}") for i in indices.split(",")]


def describe(ctx) -> str:
    if isinstance(ctx, (list, tuple)):
        return ", ".join(describe(c) for c in ctx)
    if ctx.device_type == "gpu":
        return "GPU %d" % ctx.device_id
    return "CPU" if ctx.device_id == 0 else "CPU %d" % ctx.device_id


def seed(value: int) -> None:
    """Seed MXNet's generators (dropout masks); NumPy generators are passed around explicitly."""
    mx.random.seed(value)
