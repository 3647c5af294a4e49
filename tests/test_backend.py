"""The MXNet settings jaylyrics chooses at import (engine and threads), and that they change the
speed only, not the numbers."""

import json
import os
import subprocess
import sys

import pytest

from jaylyrics import JaylyricsError, backend
from jaylyrics.backend import engine_settings
from jaylyrics.machine import cpu_quota, memory_limit, physical_cores

from conftest import ROOT, TINY, ZIP

# A command that needs MXNet (sample and eval run in NumPy): it gets as far as importing it.
TRAIN = ["train", "--config", str(TINY), "--set", f"data.corpus={ZIP}"]

MXNET_DEFAULTS = {"MXNET_ENGINE_TYPE": "ThreadedEnginePerDevice"}


def test_the_cpu_build_is_told_from_the_cuda_builds_by_the_installed_wheels(tmp_path):
    def site(*wheels):
        path = tmp_path / "-".join(wheels or ("none",))
        for wheel in wheels:
            (path / f"{wheel}-1.9.1.dist-info").mkdir(parents=True)
        path.mkdir(exist_ok=True)
        return path

    assert backend._cpu_build(site("mxnet"))
    assert not backend._cpu_build(site("mxnet_cu112"))
    assert not backend._cpu_build(site("mxnet", "mxnet_cu112"))     # which one is in use?
    assert not backend._cpu_build(site())
    assert backend._cpu_build()                                      # this machine: the CPU wheel


def test_cpu_build_in_a_process_of_its_own_gets_the_synchronous_engine_and_every_core():
    assert engine_settings({}, 2, cpu_build=True) == {"MXNET_ENGINE_TYPE": "NaiveEngine",
                                                      "OMP_NUM_THREADS": "2"}
    assert engine_settings({"PATH": "/bin"}, 8, cpu_build=True)["OMP_NUM_THREADS"] == "8"
    assert engine_settings({}, 0, cpu_build=True)["OMP_NUM_THREADS"] == "1"


def test_the_user_a_gpu_build_and_parameter_server_processes_keep_mxnets_defaults():
    assert engine_settings({"OMP_NUM_THREADS": "1"}, 2, cpu_build=True) == {}
    assert engine_settings({"MXNET_ENGINE_TYPE": "ThreadedEngine"}, 2, cpu_build=True) == {}
    assert engine_settings({"DMLC_ROLE": "worker"}, 2, cpu_build=True) == {}
    assert engine_settings({}, 2, cpu_build=False) == {}


def _fake_topology(root, core_of):
    for cpu in os.sched_getaffinity(0):
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text("0\n")
        (topology / "core_id").write_text(f"{core_of(cpu)}\n")


def test_threads_go_to_physical_cores_not_hyperthreads(tmp_path):
    cpus = os.sched_getaffinity(0)
    _fake_topology(tmp_path / "paired", lambda cpu: cpu // 2)            # two threads per core
    assert physical_cores(str(tmp_path / "paired")) == len({cpu // 2 for cpu in cpus})
    _fake_topology(tmp_path / "single", lambda cpu: cpu)
    assert physical_cores(str(tmp_path / "single")) == len(cpus)
    assert physical_cores(str(tmp_path / "missing")) == len(cpus)      # unreadable: count CPUs


def test_a_containers_cpu_quota_caps_the_threads(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")                     # 1.5 CPUs -> 2 threads
    assert cpu_quota(str(v2)) == 2
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(str(v2)) is None
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_quota(str(tmp_path / "v1")) == 1
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cpu_quota(str(tmp_path / "v1")) is None
    assert cpu_quota(str(tmp_path / "none")) is None


def test_a_containers_memory_limit_is_read(tmp_path):
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("2147483648\n")
    assert memory_limit(str(v2)) == 2 * 2**30
    (v2 / "memory.max").write_text("max\n")
    assert memory_limit(str(v2)) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("536870912\n")
    assert memory_limit(str(tmp_path / "v1")) == 2**29
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")   # v1's "no limit"
    assert memory_limit(str(tmp_path / "v1")) is None
    (v1 / "memory.limit_in_bytes").write_text("garbage\n")
    assert memory_limit(str(tmp_path / "v1")) is None
    assert memory_limit(str(tmp_path / "none")) is None


def test_limits_set_on_this_process_s_own_cgroup_are_read_there(tmp_path):
    """On a host without cgroup namespaces the limits sit in the process's own cgroup, which
    /proc/self/cgroup names, or in one above it (a systemd unit's CPUQuota= and MemoryMax=, a
    Slurm job's): they were read at the root only, where there are none. The lowest wins."""
    def tree(files, proc):
        root = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        root.mkdir()
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        (root / "proc").write_text(proc)
        return str(root), str(root / "proc")
    v2 = tree({"system.slice/train.service/memory.max": "1073741824\n",
               "system.slice/memory.max": "max\n",
               "system.slice/train.service/cpu.max": "100000 100000\n",
               "system.slice/cpu.max": "300000 100000\n"},
              "0::/system.slice/train.service\n")
    assert memory_limit(*v2) == 2**30 and cpu_quota(*v2) == 1
    v1 = tree({"memory/slurm/uid_1/job_7/memory.limit_in_bytes": str(4 * 2**30),
               "memory/slurm/memory.limit_in_bytes": "9223372036854771712",
               "cpu/slurm/uid_1/job_7/cpu.cfs_quota_us": "200000",
               "cpu/slurm/uid_1/job_7/cpu.cfs_period_us": "100000"},
              "4:memory:/slurm/uid_1/job_7\n2:cpu,cpuacct:/slurm/uid_1/job_7\n0::/\n")
    assert memory_limit(*v1) == 4 * 2**30 and cpu_quota(*v1) == 2
    # a container: its own cgroup is the root it sees, whatever /proc says of the host's
    inside = tree({"memory.max": "536870912\n", "cpu.max": "150000 100000\n"},
                  "0::/docker/0123abcd\n")
    assert memory_limit(*inside) == 2**29 and cpu_quota(*inside) == 2
    assert memory_limit(*tree({}, "0::/user.slice\n")) is None


def _python(code, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("MXNET_ENGINE_TYPE", "OMP_NUM_THREADS", "DMLC_ROLE")}
    return subprocess.run([sys.executable, "-c", code], env=dict(base, **env), cwd=ROOT,
                          capture_output=True, text=True, check=True)


def test_import_applies_the_settings_quietly_and_does_not_pass_them_to_child_processes():
    out = _python("import os, json, jaylyrics.backend as b; "
                  "print(json.dumps([b.SETTINGS, {k: os.environ.get(k) for k in b.SETTINGS}]))")
    settings, left_in_environ = json.loads(out.stdout.splitlines()[-1])
    assert settings["MXNET_ENGINE_TYPE"] == "NaiveEngine"
    assert left_in_environ == {"MXNET_ENGINE_TYPE": None, "OMP_NUM_THREADS": None}
    assert "engine" not in out.stderr                  # MXNet's "start using engine" note
    out = _python("import jaylyrics.backend as b; print(b.SETTINGS)", OMP_NUM_THREADS="1")
    assert out.stdout.splitlines()[-1] == "{}"


TRAIN_A_LITTLE = """
import json
from jaylyrics import config, model, optim, train
from jaylyrics.backend import SETTINGS, mx, nd
import numpy as np
cfg = config.from_dict({"model": {"type": "gru", "hidden_size": 256, "embed_size": 64,
                                  "tie_weights": False, "dropout": 0.0, "cache_size": 0},
                        "train": {"batch_size": 32, "num_steps": 10, "optimizer": "adam"}})
params = model.init_params(cfg.model, 1000, mx.cpu(), 0)
opt = optim.Optimizer("adam", 0.01)
rng = np.random.RandomState(0)
state = model.begin_state(cfg.model, 32, mx.cpu())
for _ in range(5):
    X, Y = (nd.array(rng.randint(0, 1000, (32, 10))) for _ in range(2))
    state, nll, norm = train.step(params, opt, X, Y, model.detach(state), cfg)
print(json.dumps({"settings": SETTINGS,
                  "params": {n: p.asnumpy().ravel()[::97].tolist() for n, p in params.items()}}))
"""


def test_the_engine_settings_give_the_same_numbers_as_mxnets_defaults():
    tuned = json.loads(_python(TRAIN_A_LITTLE).stdout.splitlines()[-1])
    default = json.loads(_python(TRAIN_A_LITTLE, **MXNET_DEFAULTS).stdout.splitlines()[-1])
    assert tuned["settings"]["MXNET_ENGINE_TYPE"] == "NaiveEngine" and default["settings"] == {}
    assert tuned["params"].keys() == default["params"].keys()
    for name, values in tuned["params"].items():
        assert values == default["params"][name], name          # bit for bit


def test_the_device_line_says_how_many_threads_jaylyrics_chose(monkeypatch):
    monkeypatch.setattr(backend, "SETTINGS", {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "4"})
    assert backend.describe(backend.mx.cpu()) == "CPU (4 threads)"
    assert backend.describe([backend.mx.cpu(0), backend.mx.cpu(1)]) == "CPU, CPU 1 (4 threads)"
    assert backend.describe(backend.mx.gpu(1)) == "GPU 1"
    monkeypatch.setattr(backend, "SETTINGS", {"OMP_NUM_THREADS": "1"})       # (taskset -c 0)
    assert backend.describe(backend.mx.cpu()) == "CPU (1 thread)"
    monkeypatch.setattr(backend, "SETTINGS", {})
    assert backend.describe(backend.mx.cpu()) == "CPU"


def test_a_busy_machine_gets_a_hint_about_several_trainings(monkeypatch):
    monkeypatch.setattr(backend, "SETTINGS", {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "2"})
    monkeypatch.setattr(backend.os, "cpu_count", lambda: 2)
    cpu = [backend.mx.cpu()]
    assert backend.busy_hint(cpu, load=1.9) == (
        "note: this machine is busy (load 1.9 on 2 CPUs); when running several trainings at "
        "once, start each with OMP_NUM_THREADS=1 (see the README)")
    assert backend.busy_hint(cpu, load=0.3) is None
    # allowed 1 of the 2 CPUs (taskset -c 0), or 2 of a host's 64 (a container): the load
    # average counts them all, so the other CPUs' load is no sign that these are busy
    monkeypatch.setattr(backend, "SETTINGS", {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "1"})
    assert backend.busy_hint(cpu, load=0.8) is None
    assert "(load 1.6 on 2 CPUs)" in backend.busy_hint(cpu, load=1.6)
    monkeypatch.setattr(backend, "SETTINGS", {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "2"})
    monkeypatch.setattr(backend.os, "cpu_count", lambda: 64)
    assert backend.busy_hint(cpu, load=3.0) is None
    assert "(load 50.0 on 64 CPUs)" in backend.busy_hint(cpu, load=50.0)
    assert backend.busy_hint([backend.mx.gpu(0)], load=5.0) is None   # threads don't matter there
    monkeypatch.setattr(backend, "SETTINGS", {})            # the user chose: no advice
    assert backend.busy_hint(cpu, load=5.0) is None


def test_threads_sets_and_restores_only_what_jaylyrics_chose(monkeypatch):
    import pytest

    calls = []
    monkeypatch.setattr(backend, "_set_threads", calls.append)
    monkeypatch.setattr(backend, "SETTINGS", {"MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "2"})
    with pytest.raises(KeyboardInterrupt):
        with backend.threads(1):
            assert calls == [1]
            raise KeyboardInterrupt
    assert calls == [1, 2]
    monkeypatch.setattr(backend, "SETTINGS", {})          # the user's OMP_NUM_THREADS, a GPU build
    with backend.threads(1):
        pass
    assert calls == [1, 2]


def test_evaluation_with_one_thread_gives_the_same_numbers(monkeypatch):
    import contextlib

    import numpy as np

    from jaylyrics import config, model, train
    from jaylyrics.backend import mx

    cfg = config.from_dict({"model": {"type": "gru", "hidden_size": 64, "embed_size": 16,
                                      "tie_weights": False}})
    params = model.init_params(cfg.model, 300, mx.cpu(), 0)
    ids = np.random.RandomState(0).randint(0, 300, 500)
    one_thread = train.model_nll(params, ids, cfg.model, mx.cpu())
    monkeypatch.setattr(train, "threads", lambda n: contextlib.nullcontext())
    assert np.array_equal(one_thread, train.model_nll(params, ids, cfg.model, mx.cpu()))


def test_mxnet_variables_are_checked_before_mxnet_loads(tmp_path):
    """OMP_NUM_THREADS=abc made MXNet abort the process (exit 134, a C++ exception on stderr);
    MXNET_ENGINE_TYPE=Bogus raised an MXNetError traceback. Both are one line now."""
    for good in ({}, {"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": " 2 "},
                 {"MXNET_ENGINE_TYPE": "ThreadedEnginePerDevice"}):
        backend.check_environment(good)
    for bad, message in (({"OMP_NUM_THREADS": "abc"}, "OMP_NUM_THREADS=abc in the environment: "
                                                      "expected a whole number of threads"),
                         ({"OMP_NUM_THREADS": "4,2"}, "OMP_NUM_THREADS=4,2"),
                         ({"MXNET_ENGINE_TYPE": "Bogus"}, "MXNET_ENGINE_TYPE=Bogus in the "
                          "environment: expected NaiveEngine, ThreadedEngine or "
                          "ThreadedEnginePerDevice")):
        with pytest.raises(JaylyricsError, match=message):
            backend.check_environment(bad)
    env = dict(os.environ, OMP_NUM_THREADS="abc")
    result = subprocess.run([sys.executable, "-m", "jaylyrics", *TRAIN], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: OMP_NUM_THREADS=abc in the environment: expected a whole number of threads, such "
        "as 1 (or leave it unset)"]


@pytest.mark.parametrize("setup, message", [
    ("import sys; sys.modules['mxnet'] = None",                      # as if not installed
     "Error: MXNet is not installed: pip install mxnet==1.9.1 (the CPU build; on a GPU machine "
     "an mxnet-cuXXX build instead, see the README's GPUs section)"),
    ("import numpy; numpy.__version__ = '2.1.0'",                    # what MXNet 1.9.1 cannot use
     "Error: NumPy 2.1.0 is installed; MXNet 1.9.1 needs NumPy below 2: pip install 'numpy<2'"),
])
def test_a_missing_or_unusable_mxnet_is_one_line(tmp_path, setup, message):
    """Without MXNet, or with NumPy 2 (where `import mxnet` fails deep inside with an
    AttributeError), the commands that need MXNet say what to install; `sample` needs none."""
    code = (f"{setup}\nimport sys\nfrom jaylyrics.cli.app import main\n"
            f"sys.argv = ['jaylyrics', *{TRAIN!r}]\nmain()")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]


@pytest.mark.parametrize("raised, message", [
    # what `import mxnet` says on a minimal image (python:3.11-slim, a fresh Ubuntu): the wheel
    # takes libgomp and libquadmath from the system
    ("OSError('libgomp.so.1: cannot open shared object file: No such file or directory')",
     "Error: MXNet cannot be loaded: the system library libgomp.so.1 is missing (MXNet's wheel "
     "takes it from the system): apt-get install libgomp1 libquadmath0 (Debian, Ubuntu) or dnf "
     "install libgomp libquadmath (Fedora, RHEL)"),
    ("OSError('libquadmath.so.0: cannot open shared object file: No such file')",
     "Error: MXNet cannot be loaded: the system library libquadmath.so.0 is missing (MXNet's "
     "wheel takes it from the system): apt-get install libgomp1 libquadmath0 (Debian, Ubuntu) or "
     "dnf install libgomp libquadmath (Fedora, RHEL)"),
    # a CUDA build on a machine without NVIDIA's driver
    ("OSError('libcuda.so.1: cannot open shared object file: No such file or directory')",
     "Error: MXNet cannot be loaded: libcuda.so.1 is missing: a CUDA build of MXNet (mxnet-cuXXX) "
     "needs NVIDIA's driver and the CUDA version it was built for; without a GPU, install the CPU "
     "build instead: pip uninstall mxnet-cuXXX && pip install mxnet==1.9.1"),
    ("OSError('libfoo.so.3: cannot open shared object file: No such file')",
     "Error: MXNet cannot be loaded (OSError: libfoo.so.3: cannot open shared object file: No "
     "such file): pip install mxnet==1.9.1 (the CPU build; on a GPU machine an mxnet-cuXXX build "
     "instead, see the README's GPUs section)"),
])
def test_a_broken_mxnet_install_is_one_line(tmp_path, raised, message):
    """An `import mxnet` that fails for another reason is named, with what to install where
    that is known (a system library, the CUDA build on a machine without CUDA)."""
    fake = tmp_path / "site" / "mxnet"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f"raise {raised}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake.parent), str(ROOT)]))
    result = subprocess.run([sys.executable, "-m", "jaylyrics", *TRAIN], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]
