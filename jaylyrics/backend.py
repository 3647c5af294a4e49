"""The one module that imports MXNet: how it is imported (NumPy aliases, engine and threads),
and the choice of device.

MXNet 1.9.1 (the last release) still uses NumPy aliases that NumPy 1.24 removed (`np.bool`,
`np.object`, ...). They are restored here, before `import mxnet`, so that every NumPy < 2 works.
The engine and thread settings are chosen here too, before the import (`engine_settings`).
Everything else in jaylyrics gets MXNet from here: `from jaylyrics.backend import mx, nd`.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import re
from pathlib import Path

import numpy as np

from jaylyrics import DeviceError, JaylyricsError, counted
from jaylyrics.machine import usable_cores

_REMOVED_ALIASES = {"bool": bool, "int": int, "float": float, "complex": complex,
                    "object": object, "str": str}
for _name, _type in _REMOVED_ALIASES.items():
    if _name not in np.__dict__:      # a plain getattr would warn or raise on NumPy >= 1.20
        setattr(np, _name, _type)


ENGINES = ("NaiveEngine", "ThreadedEngine", "ThreadedEnginePerDevice")     # MXNet 1.9's


def check_environment(environ) -> None:
    """The variables MXNet reads as it loads, checked first: with OMP_NUM_THREADS=abc MXNet
    aborts the process (a C++ exception, exit 134), with MXNET_ENGINE_TYPE=Bogus it raises on
    the first operator. Raises a JaylyricsError naming the variable."""
    threads = environ.get("OMP_NUM_THREADS")
    if threads is not None and not threads.strip().isdigit():
        raise JaylyricsError(f"OMP_NUM_THREADS={threads} in the environment: expected a whole "
                             "number of threads, such as 1 (or leave it unset)")
    engine = environ.get("MXNET_ENGINE_TYPE")
    if engine is not None and engine not in ENGINES:
        raise JaylyricsError(f"MXNET_ENGINE_TYPE={engine} in the environment: expected "
                             f"{', '.join(ENGINES[:-1])} or {ENGINES[-1]} (or leave it unset)")


def engine_settings(environ, cores: int, cpu_build: bool) -> dict:
    """The MXNet settings jaylyrics runs under, given the environment: {} (MXNet's own defaults),
    or, for the CPU build in a process of its own, the synchronous engine with one OpenMP
    thread per physical core.

    Why: MXNet's defaults on the CPU are an engine thread that runs operators behind the
    Python thread, with oneDNN at one thread per operator (MXNet takes half the CPUs, counting
    hyperthreads). A training step here is hundreds of small operators plus a few big products;
    with the synchronous engine (operators run in the calling thread, no hand-over) and oneDNN on
    every core, the default config trains about 1.5x faster on 2 cores, with the same numbers
    (benchmarks/throughput.py, README). More OpenMP threads under the threaded engine are
    slower instead: its worker thread, its OpenMP team and the Python thread then fight over
    the cores. Left alone: a GPU build (its engine overlaps host and device), a process of a
    parameter-server run (DMLC_ROLE: its push/pull needs the threaded engine), and a user who
    set MXNET_ENGINE_TYPE or OMP_NUM_THREADS."""
    if not cpu_build or any(k in environ
                            for k in ("MXNET_ENGINE_TYPE", "OMP_NUM_THREADS", "DMLC_ROLE")):
        return {}
    return {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": str(max(1, cores))}


def _cpu_build(site: Path | None = None) -> bool:
    """Whether the installed MXNet is the CPU wheel `mxnet` and no CUDA wheel `mxnet-cuXXX` (both
    install the module `mxnet`; with both, the one installed last is in use, so MXNet's defaults
    are the safe choice). Read from the wheels' records in `site` (default: where the module
    `mxnet` is), without importing it."""
    if site is None:
        spec = importlib.util.find_spec("mxnet")
        if spec is None or not spec.submodule_search_locations:
            return False
        site = Path(list(spec.submodule_search_locations)[0]).parent
    wheels = {p.name.split("-")[0].lower() for p in site.glob("mxnet*.dist-info")}
    return "mxnet" in wheels and not any(w.startswith("mxnet_cu") for w in wheels)


@contextlib.contextmanager
def _quiet_stderr():
    """File descriptor 2 to /dev/null meanwhile (MXNet's C++ logging writes there directly)."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_numpy(version: str) -> None:
    """MXNet 1.9.1 cannot be imported with NumPy 2 (it reads attributes NumPy 2 removed, such as
    np.PZERO): say so, rather than show the AttributeError from deep inside `import mxnet`."""
    if int(version.split(".")[0]) >= 2:
        raise JaylyricsError(f"NumPy {version} is installed; MXNet 1.9.1 needs NumPy below 2: "
                             "pip install 'numpy<2'")


# The shared libraries MXNet's Linux wheels take from the system rather than bundle (a minimal
# image, such as python:3.11-slim, lacks them), with the packages that hold them.
SYSTEM_LIBRARIES = {"libgomp.so.1": ("libgomp1", "libgomp"),
                    "libquadmath.so.0": ("libquadmath0", "libquadmath")}


def _cannot_load(error: Exception) -> JaylyricsError:
    """A one-line error for an `import mxnet` that failed: not installed, a system library
    missing, or broken otherwise."""
    install = ("pip install mxnet==1.9.1 (the CPU build; on a GPU machine an mxnet-cuXXX build "
               "instead, see the README's GPUs section)")
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] == "mxnet":
        return JaylyricsError(f"MXNet is not installed: {install}")
    lines = str(error).strip().splitlines()
    missing = re.search(r"([\w.+-]+\.so[\d.]*): cannot open shared object file",
                        lines[-1] if lines else "")
    if missing and missing.group(1) in SYSTEM_LIBRARIES:
        debian = " ".join(names[0] for names in SYSTEM_LIBRARIES.values())
        fedora = " ".join(names[1] for names in SYSTEM_LIBRARIES.values())
        return JaylyricsError(f"MXNet cannot be loaded: the system library {missing.group(1)} is "
                              f"missing (MXNet's wheel takes it from the system): apt-get install "
                              f"{debian} (Debian, Ubuntu) or dnf install {fedora} (Fedora, RHEL)")
    if missing and missing.group(1).startswith(("libcu", "libnv", "libnccl")):
        return JaylyricsError(f"MXNet cannot be loaded: {missing.group(1)} is missing: a CUDA "
                              "build of MXNet (mxnet-cuXXX) needs NVIDIA's driver and the CUDA "
                              "version it was built for; without a GPU, install the CPU build "
                              "instead: pip uninstall mxnet-cuXXX && pip install mxnet==1.9.1")
    what = f"{type(error).__name__}: {lines[-1] if lines else ''}"
    return JaylyricsError(f"MXNet cannot be loaded ({what}): {install}")


def _interruptible_server(environ) -> None:
    """A scheduler or server of a parameter-server run started by hand (`DMLC_ROLE=server python
    -c "import jaylyrics.backend"`, README) serves inside `import mxnet` until the workers
    finish, where Python's Ctrl-C handler never runs: Ctrl-C then ends it, as SIGTERM does
    (unless SIGINT is ignored, as a shell script's background jobs have it)."""
    import signal

    if environ.get("DMLC_ROLE") in ("server", "scheduler") and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        except ValueError:                   # (imported in a thread: not the server itself)
            pass


# Set for the import only (OpenMP reads its variables when MXNet loads it; the engine is made
# during the import or by the first operator, run here), then taken out again, so that processes
# started from this one (workers of `jaylyrics launch`, the benchmark's) choose for themselves.
# MXNet's "start using engine" line, which the engine prints when it is made, is not the user's
# concern.
check_environment(os.environ)
check_numpy(np.__version__)
_interruptible_server(os.environ)
SETTINGS = engine_settings(os.environ, usable_cores(), _cpu_build())
os.environ.update(SETTINGS)
try:
    with _quiet_stderr() if SETTINGS else contextlib.nullcontext():
        import mxnet as mx  # noqa: E402  (the aliases and settings must be in place first)
        from mxnet import autograd, nd  # noqa: E402,F401
        nd.zeros((1,)).wait_to_read()
except (ImportError, OSError, AttributeError) as e:    # (what a missing or broken MXNet raises)
    raise _cannot_load(e) from None
finally:
    for _key in SETTINGS:
        del os.environ[_key]


@contextlib.contextmanager
def threads(n: int):
    """MXNet's operators run with `n` OpenMP threads meanwhile, then with jaylyrics' choice again;
    nothing changes where jaylyrics chose no thread count (a user's OMP_NUM_THREADS, a GPU
    build). The synchronous engine runs every operator in this thread, so the setting, which is
    this thread's, reaches all of them."""
    if not SETTINGS:
        yield
        return
    _set_threads(n)
    try:
        yield
    finally:
        _set_threads(int(SETTINGS["OMP_NUM_THREADS"]))


def _set_threads(n: int) -> None:
    mx.base.check_call(mx.base._LIB.MXSetNumOMPThreads(ctypes.c_int(n)))


def busy_hint(contexts: list, load: float | None = None) -> str | None:
    """A line for the user when jaylyrics chose its thread settings, trains on the CPU, and the
    machine is already busy (1-minute load average at 3/4 of its CPUs or more), most likely
    with another training: processes that each expect the cores to themselves slow each other
    down badly. The load average counts every CPU of the machine, also those this process may
    not use (`taskset`, a container's share of a bigger host): measured against the threads
    alone, the load of the other CPUs made a note here."""
    if not (SETTINGS and _any_cpu(contexts)):
        return None
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:                          # not available on this system
            return None
    cpus = max(os.cpu_count() or 1, int(SETTINGS["OMP_NUM_THREADS"]))
    if load < 0.75 * cpus:
        return None
    return (f"note: this machine is busy (load {load:.1f} on {counted(cpus, 'CPU')}); when "
            "running several trainings at once, start each with OMP_NUM_THREADS=1 (see the "
            "README)")


def num_gpus() -> int:
    """How many GPUs MXNet sees (0 with the CPU build). Tests replace this to fake a GPU."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:
        return 0


def device(spec: str = "auto") -> "mx.Context":
    """`auto`, `cpu`, `gpu` or `gpu:N` -> an MXNet context. `auto` takes gpu(0) when there is
    one."""
    spec = spec.strip().lower()
    if spec == "auto":
        return mx.gpu(0) if num_gpus() > 0 else mx.cpu()
    if spec == "cpu":
        return mx.cpu()
    kind, _, index = spec.partition(":")
    if kind == "gpu" and (index == "" or index.isdigit()):
        n, i = num_gpus(), int(index or 0)
        if n == 0:
            raise DeviceError(f"--device {spec}: MXNet sees no GPU (this is the CPU build of "
                              "mxnet, or no CUDA device is visible); use --device cpu or install "
                              "an mxnet-cuXXX build")
        if i >= n:
            raise DeviceError(f"--device {spec}: MXNet sees {counted(n, 'GPU')}, numbered 0 to "
                              f"{n - 1}")
        return mx.gpu(i)
    raise DeviceError(f"--device {spec}: expected auto, cpu, gpu or gpu:N")


def devices(spec: str = "auto") -> list:
    """Like `device`, also for several devices of one kind: `cpu:0,1` or `gpu:0,1`."""
    kind, _, indices = spec.strip().lower().partition(":")
    if "," not in indices:
        return [device(spec)]
    if kind not in ("cpu", "gpu") or not all(i.strip().isdigit() for i in indices.split(",")):
        raise DeviceError(f"--device {spec}: expected cpu:I,J,... or gpu:I,J,...")
    numbers = [int(i) for i in indices.split(",")]
    twice = [i for i in dict.fromkeys(numbers) if numbers.count(i) > 1]
    if twice:                      # two replicas on one device: twice the work, no more speed
        raise DeviceError(f"--device {spec}: {kind}:{twice[0]} is given twice; list each device "
                          "once")
    if kind == "cpu":
        return [mx.cpu(i) for i in numbers]
    return [device(f"gpu:{i}") for i in numbers]


def describe(ctx) -> str:
    """`CPU`, `GPU 1`, ...; with the thread count when jaylyrics chose MXNet's settings."""
    contexts = ctx if isinstance(ctx, (list, tuple)) else [ctx]
    text = ", ".join(_name(c) for c in contexts)
    if SETTINGS and _any_cpu(contexts):
        text += f" ({counted(int(SETTINGS['OMP_NUM_THREADS']), 'thread')})"
    return text


def _any_cpu(contexts) -> bool:
    return any(c.device_type == "cpu" for c in contexts)


def _name(ctx) -> str:
    if ctx.device_type == "gpu":
        return "GPU %d" % ctx.device_id
    return "CPU" if ctx.device_id == 0 else "CPU %d" % ctx.device_id


def seed(value: int) -> None:
    """Seed MXNet's generators (dropout masks); NumPy generators are passed around explicitly."""
    mx.random.seed(value)
