"""Training throughput of jaylyrics against the tutorial's loop and MXNet's fused layers.

    python benchmarks/throughput.py            # the full run (about 4 minutes on 2 cores)
    python benchmarks/throughput.py --quick    # one process, fewer repeats, one vocabulary size
    python benchmarks/throughput.py --json     # ... and one JSON object on the last line

One iteration = forward, backward, clipping by the global norm, parameter update, on a batch of
N = 32 sequences of T = 35 characters, hidden size H = 256. Implementations:

  jaylyrics  `train.step`, exactly as `jaylyrics train` runs it, on the fused baseline's model
             (embedding of size H, SGD, no dropout)
  tutorial   the tutorial's loop: one-hot inputs, per-step nd.dot, per-step output, gluon's
             SoftmaxCrossEntropyLoss, clipping with a host sync per parameter, SGD
  fused      gluon.nn.Embedding + gluon.rnn.RNN/GRU/LSTM + gluon.nn.Dense, hybridized,
             gluon.Trainer (SGD) and gluon.utils.clip_global_norm
  floor      jaylyrics' step with `floor_cell` instead of the GRU or LSTM cell: not a model,
             a bound on what rewriting those cells' equations as MXNet operators can reach

Repeats are interleaved (every implementation once per round) and the median is taken, so that
a noisy neighbour slows all of them alike; and this is done in several fresh processes (the
fused layers' speed varies by about 15% from one process to the next, ours by about 5%), whose
medians are reported.

Every implementation is measured twice, in separate processes: under the MXNet settings that
`import jaylyrics` chooses (the synchronous engine, one OpenMP thread per core; see
jaylyrics/backend.py), where the ratios compare like with like, and under MXNet's own defaults
(the threaded engine, one OpenMP thread per operator), which is how a gluon user runs the fused
layers unless they change them.

Also reported: sampling latency (microseconds per generated character, batch 1), the peak
resident memory of a training run (a subprocess), the throughput of `jaylyrics launch` with
1 and 2 data-parallel workers, the time of `jaylyrics --help` and of `jaylyrics eval` of the
validation split (start-up included), and last, each of issue #4's targets, met or not. The
first line names the CPU; the FLOP bound is given at the issue's one-core rate (197 GFLOP/s, its
machine's) and at this machine's own, measured on one thread in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from jaylyrics import config, counted, model, optim, train
from jaylyrics.backend import SETTINGS, autograd, mx, nd
from jaylyrics.machine import usable_cores

N, T, H = 32, 35, 256
CTX = mx.cpu()
# The environment that makes `import jaylyrics` leave MXNet's defaults alone (backend.py).
MXNET_DEFAULTS = {"MXNET_ENGINE_TYPE": "ThreadedEnginePerDevice"}


def step_config(kind):
    """The fused baseline's model and training as a jaylyrics config: an embedding of size H,
    no dropout, no label smoothing, SGD on the summed loss, clipping at 5."""
    return config.from_dict({"model": {"type": kind, "hidden_size": H, "embed_size": H,
                                       "tie_weights": False, "dropout": 0.0, "weight_drop": 0.0,
                                       "embed_drop": 0.0,
                                       "cache_size": 0},
                             "train": {"batch_size": N, "num_steps": T, "optimizer": "sgd",
                                       "lr": 0.2, "loss": "sum", "clip": 5.0,
                                       "label_smoothing": 0.0}})


def jaylyrics_step(kind, V):
    """`train.step` on the same model as the fused baseline (`step_config`)."""
    cfg = step_config(kind)
    params = model.init_params(cfg.model, V, CTX, 0)
    opt = optim.Optimizer("sgd", 0.2)

    def run(X, Y):
        state = model.begin_state(cfg.model, N, CTX)
        train.step(params, opt, X, Y, state, cfg)
    return run


def tutorial_step(kind, V):
    """The tutorial's code for the vanilla RNN (it has no GRU/LSTM of its own)."""
    from mxnet import gluon

    rng = np.random.RandomState(0)
    shapes = [(V, H), (H, H), (H,), (H, V), (V,)]
    params = [nd.array(rng.normal(0, 0.01, s)) for s in shapes]
    for p in params:
        p.attach_grad()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def rnn(inputs, state, W_xh, W_hh, b_h, W_hy, b_y):
        H_, outputs = state, []
        for X in inputs:
            H_ = nd.tanh(nd.dot(X, W_xh) + nd.dot(H_, W_hh) + b_h)
            outputs.append(nd.dot(H_, W_hy) + b_y)
        return outputs, H_

    def run(X, Y):
        state = nd.zeros((N, H))
        with autograd.record():
            outputs, state = rnn([nd.one_hot(x, V) for x in X.T], state, *params)
            loss = loss_fn(nd.concat(*outputs, dim=0), Y.T.reshape((-1,)))
        loss.backward()
        norm = 0.0
        for p in params:                                  # a host sync per parameter
            norm += nd.sum(p.grad ** 2).asscalar()
        norm = norm ** 0.5
        if norm > 5:
            for p in params:
                p.grad[:] *= 5 / norm
        for p in params:
            p[:] = p - 0.2 * p.grad
    return run


def fused_step(kind, V, static=True):
    """MXNet's fused layers as gluon code trains them; hybridized with static memory and shapes
    (the fastest way to run them), or, with `static` False, as `net.hybridize()` alone does."""
    from mxnet import gluon

    class Net(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.embed = gluon.nn.Embedding(V, H)
                self.rnn = {"rnn": lambda: gluon.rnn.RNN(H, activation="tanh"),
                            "gru": lambda: gluon.rnn.GRU(H),
                            "lstm": lambda: gluon.rnn.LSTM(H)}[kind]()
                self.out = gluon.nn.Dense(V, flatten=False)

        def hybrid_forward(self, F, x):
            return self.out(self.rnn(self.embed(x)))                        # (T, N, V)

    net = Net()
    net.initialize(mx.init.Normal(0.01), ctx=CTX)
    net.hybridize(static_alloc=static, static_shape=static)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.2})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    params = [p for p in net.collect_params().values()]

    def run(X, Y):
        with autograd.record():
            loss = loss_fn(net(X.T), Y.T).sum()
        loss.backward()
        grads = [p.grad(CTX) for p in params]
        gluon.utils.clip_global_norm(grads, 5.0)
        trainer.step(1)
    return run


def floor_cell(G):
    """Not a GRU or LSTM: about the least a cell written as MXNet operators does in a step. The
    recurrent product is done before a cell is called; this one adds the input projection,
    applies one activation to all G gate blocks and sums them into the new state: 5 operators,
    a reshape and a split included, where the GRU cell has 14 and the LSTM cell 12. What it
    costs bounds what any rewrite of the GRU and LSTM equations can reach (see the README)."""
    def cell(F, xw_t, hw_t, state, H):
        x = F.Activation(xw_t + hw_t, act_type="tanh")                            # (N, G*H)
        h = F.add_n(*model._gates(F, x, G, H), *state[1:])          # (N, H); lstm: + C_{t-1}
        return (h,) * len(state)
    return cell


# One floor cell per model, made once: `model.compiled` keeps a graph per cell function.
FLOOR_CELLS = {kind: floor_cell(model.GATES[kind]) for kind in ("gru", "lstm")}


def step_with_cells(cells: dict):
    """make(kind, V): jaylyrics' step with cells[kind] in place of the model's cell, for as long
    as it runs."""
    def make(kind, V):
        step = jaylyrics_step(kind, V)

        def run(X, Y):
            real, model.CELLS[kind] = model.CELLS[kind], cells[kind]
            try:
                step(X, Y)
            finally:
                model.CELLS[kind] = real
        return run
    return make


floor_step = step_with_cells(FLOOR_CELLS)


IMPLS = {"jaylyrics": jaylyrics_step, "tutorial": tutorial_step, "fused": fused_step,
         "floor": floor_step}


def measure(Vs, kinds, rounds, iters, impls=None):
    """Each implementation of `impls` (default: IMPLS) for each model and vocabulary size, timed
    in interleaved rounds of `iters` iterations; the median chars/s over the rounds."""
    rng = np.random.RandomState(0)
    runs = {}
    for V in Vs:
        X = nd.array(rng.randint(0, V, (N, T)))
        Y = nd.array(rng.randint(0, V, (N, T)))
        for impl, make in (impls or IMPLS).items():
            for kind in kinds:
                if impl == "tutorial" and kind != "rnn" or impl == "floor" and kind == "rnn":
                    continue          # the tutorial has only an rnn; the rnn cell is a floor already
                step = make(kind, V)
                step(X, Y)
                step(X, Y)                                       # warm up (allocation, hybridize)
                nd.waitall()
                runs[(impl, kind, V)] = (step, X, Y, [])
    for _ in range(rounds):
        for key, (step, X, Y, speeds) in runs.items():
            start = time.perf_counter()
            for _ in range(iters):
                step(X, Y)
            nd.waitall()
            speeds.append(iters * N * T / (time.perf_counter() - start))
    return [{"impl": impl, "model": kind, "V": V, "chars_per_s": statistics.median(s[3])}
            for (impl, kind, V), s in runs.items()]


def side_arguments(description: str, measure_one):
    """The command line of the side benchmarks (compiled_cell.py, gluon_baseline.py): how many
    fresh processes, and --json. Each of those processes runs the script with the hidden
    --measure-only, which prints `measure_one([2583], 5, 5)` as JSON and exits here."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--processes", type=int, default=3, help="fresh processes (default 3)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.processes < 1:                             # (else medians of nothing)
        parser.error(f"--processes {args.processes}: expected at least 1")
    if args.measure_only:
        print(json.dumps({"settings": SETTINGS, "results": measure_one([2583], 5, 5)}))
        sys.exit(0)
    return args


def settings_environments() -> list[tuple[str, dict]]:
    """The two settings every implementation is measured under, as the environment of a fresh
    process: jaylyrics' (this process's own) and MXNet's defaults (the threaded engine, and no
    OMP_NUM_THREADS, which would count as the user's choice)."""
    defaults = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    defaults.update(MXNET_DEFAULTS)
    return [("jaylyrics", dict(os.environ)), ("mxnet_defaults", defaults)]


def medians_in_processes(script: str, processes: int, environments, flags=()) -> list[dict]:
    """Run `script --measure-only` (which prints {"settings", "results"}) in `processes` fresh
    processes under each of `environments` ((settings, env) pairs, alternately), then for each
    implementation, model, V and settings the median chars/s over the processes. A process
    meant for MXNet's defaults that reports settings of jaylyrics' is an error: its numbers
    would compare nothing."""
    speeds: dict = {}
    for _ in range(processes):
        for settings, env in environments:
            out = subprocess.run([sys.executable, os.path.abspath(script), "--measure-only", *flags],
                                 check=True, capture_output=True, text=True, env=env).stdout
            measured = json.loads(out.splitlines()[-1])
            if settings == "mxnet_defaults" and measured["settings"]:
                raise RuntimeError(f"meant to run under MXNet's defaults, ran under {measured['settings']}")
            for r in measured["results"]:
                speeds.setdefault((r["impl"], r["model"], r["V"], settings), []).append(r["chars_per_s"])
    return [{"impl": impl, "model": kind, "V": V, "settings": settings,
             "chars_per_s": statistics.median(s)}
            for (impl, kind, V, settings), s in speeds.items()]


def measure_in_processes(processes: int, quick: bool, smoke: bool = False) -> list[dict]:
    """`measure` in fresh processes, under jaylyrics' MXNet settings and under MXNet's defaults
    (`medians_in_processes`). `smoke`: a tiny vocabulary and one iteration, to test this
    function, not to measure."""
    return medians_in_processes(__file__, processes, settings_environments(),
                                ["--quick"] * quick + ["--smoke"] * smoke)


def sampling_latency(V, kind="gru", chars=300, repeats=5):
    """Microseconds per generated character, the median of `repeats` samples of `chars` (one
    sample of 300 moved by a tenth from run to run)."""
    from jaylyrics import sample
    from jaylyrics.corpus import Vocab

    cfg = config.from_dict({"model": {"type": kind, "hidden_size": H}})
    vocab = Vocab("".join(chr(0x4E00 + i) for i in range(V)))
    params = model.init_params(cfg.model, V, CTX, 0)
    list(sample.generate(params, cfg.model, vocab, vocab.chars[:2], 20))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        list(sample.generate(params, cfg.model, vocab, vocab.chars[:2], chars))
        times.append((time.perf_counter() - start) / chars * 1e6)
    return statistics.median(times)


def last_line_of(code: str, env: dict | None = None) -> str:
    """The last line that Python `code` prints, run in a fresh process from the project root
    with `env` added to the environment (what a process reads once, as it loads: thread counts)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=root,
                         text=True, env=dict(os.environ, **(env or {}))).stdout
    return out.splitlines()[-1]


def sampling_latency_apart(V, env: dict, chars=300, repeats=5) -> float:
    """`sampling_latency` in a fresh process with `env` added to its environment: NumPy's
    OpenBLAS reads OPENBLAS_NUM_THREADS once, as it loads."""
    code = (f"import sys; sys.argv=['x']; import benchmarks.throughput as b; "
            f"print(b.sampling_latency({V}, chars={chars}, repeats={repeats}))")
    return float(last_line_of(code, env))


def peak_rss_mb(V, kind="gru", iters=20, impl="jaylyrics"):
    """Peak resident memory of a process that trains `iters` iterations of `impl`, as that
    process reports it (RUSAGE_CHILDREN would be the largest of all children so far, such as
    the measuring processes that hold every implementation at once)."""
    code = (f"import sys; sys.argv=['x']; import benchmarks.throughput as b; from jaylyrics.backend import nd; "
            f"import numpy as np, resource; s=b.IMPLS[{impl!r}]({kind!r}, {V}); r=np.random.RandomState(0); "
            f"X=nd.array(r.randint(0,{V},({N},{T}))); [s(X, X) for _ in range({iters})]; nd.waitall(); "
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    return int(last_line_of(code)) / 1024


def flop_bound(gflops: float, V: int) -> float:
    """Characters per second that `gflops` of matrix products allow for the vanilla RNN: 6·H·V +
    6·H² FLOPs a character (forward and backward of the output layer and of the recurrence)."""
    return gflops * 1e9 / (6 * H * V + 6 * H * H)


def sgemm_gflops_here(V: int, repeats: int = 20) -> float:
    """GFLOP/s of the output layer's product as training runs it (`FullyConnected`, oneDNN):
    the (N·T, H) states by the (V, H) weight; the median of `repeats`."""
    rng = np.random.RandomState(0)
    X = nd.array(rng.normal(size=(N * T, H)), ctx=CTX)
    W = nd.array(rng.normal(size=(V, H)), ctx=CTX)
    nd.FullyConnected(X, W, num_hidden=V, no_bias=True).wait_to_read()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        nd.FullyConnected(X, W, num_hidden=V, no_bias=True).wait_to_read()
        seconds.append(time.perf_counter() - start)
    return 2 * N * T * H * V / statistics.median(seconds) / 1e9


def one_core_sgemm_gflops(V: int) -> float:
    """`sgemm_gflops_here` in a fresh process with one OpenMP thread: this machine's one-core
    rate, which the issue's FLOP bound takes as 197 GFLOP/s (its machine's)."""
    code = (f"import sys; sys.argv=['x']; import benchmarks.throughput as b; "
            f"print(b.sgemm_gflops_here({V}))")
    return float(last_line_of(code, {"OMP_NUM_THREADS": "1"}))


def cpu_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name as Linux gives it, with how many CPUs this process may use (the
    numbers above are this machine's: the issue's come from another CPU)."""
    name = platform.processor() or platform.machine()
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            name = next((line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name") and ":" in line), name)
    except OSError:
        pass
    return f"{name or 'an unknown CPU'}, {counted(usable_cores(), 'CPU')}"


def command_seconds(args: list[str], repeats: int = 5) -> float:
    """Median wall-clock seconds of the `jaylyrics` command with `args`, start-up included, run
    from the project root as a user runs it (the console script beside this Python, if there
    is one)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(os.path.dirname(sys.executable), "jaylyrics")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "jaylyrics"]
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command + args, check=True, capture_output=True, cwd=root)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def eval_seconds(repeats: int = 5) -> float:
    """`jaylyrics eval` of the shipped corpus's validation split with the default model (its
    speed does not depend on the weights: a checkpoint of freshly initialised ones)."""
    import tempfile
    from pathlib import Path

    from jaylyrics import checkpoint, corpus

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = config.from_dict({"data": {"corpus": f"{root}/data/jaychou_lyrics.txt.zip"}})
    data = corpus.load(cfg.data)
    with tempfile.TemporaryDirectory() as tmp:
        params = model.init_params(cfg.model, len(data.vocab), CTX, 0)
        checkpoint.save(Path(tmp), "best", params, cfg, data.vocab, epoch=1, metrics={})
        return command_seconds(["eval", "--checkpoint", tmp, "-q"], repeats)


def distributed_chars_per_s(workers: int, epochs: int = 2) -> float:
    """Training throughput of `jaylyrics launch -n workers` (all workers together): rank 0's
    chars/s of the last epoch (from metrics.csv) times the number of workers."""
    import csv
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "jaylyrics", "launch", "-n", str(workers), "--",
                        "train", "--set", f"data.corpus={root}/data/jaychou_lyrics.txt.zip",
                        "--set", "data.max_chars=20000", "--set", f"train.epochs={epochs}",
                        "--set", "train.sample_every=0", "--set", f"train.batch_size={32 // workers}",
                        "--set", "train.out_dir=run"], cwd=tmp, check=True, capture_output=True)
        with open(os.path.join(tmp, "run", "metrics.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
    return float(rows[-1]["chars_per_s"]) * workers


# Issue #4's targets at V = 2583: (the key in `ratios`, or sampling; what it is; how the value
# must compare with the target).
TARGETS = [("rnn_vs_tutorial_V2583", "rnn vs the tutorial's loop", ">=", 6.0),
           ("rnn_vs_fused_V2583", "rnn vs fused", ">=", 1.15),
           ("gru_vs_fused_V2583", "gru vs fused", ">=", 1.0),
           ("lstm_vs_fused_V2583", "lstm vs fused", ">=", 1.0),
           ("rnn_fraction_of_flop_bound_V2583", "rnn's fraction of the FLOP bound", ">=", 0.5),
           ("sample_us_per_char", "sampling, us per character", "<=", 300.0),
           ("help_s", "jaylyrics --help, s", "<=", 0.3),
           ("eval_s", "jaylyrics eval of the val split, s", "<=", 3.0)]


def targets(ratios: dict, measured: dict) -> dict:
    """Each of issue #4's targets that this run measured (in `ratios`, or `measured`: sampling
    and command times), with its value and whether it is met."""
    values = dict(ratios, **measured)
    return {key: {"what": what, "value": values[key], "op": op, "target": target,
                  "met": values[key] >= target if op == ">=" else values[key] <= target}
            for key, what, op, target in TARGETS if key in values}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, V = 2583 only")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--processes", type=int, help="fresh processes to measure training in "
                        "(default 3, 1 with --quick); each one's median, then their median")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.processes is not None and args.processes < 1:        # 0 meant the default, -1 none
        parser.error(f"--processes {args.processes}: expected at least 1")
    Vs = [2583] if args.quick else [2583, 1447]
    rounds, iters = (3, 3) if args.quick else (5, 5)
    if args.smoke:
        Vs, rounds, iters = [40], 1, 1
    if args.measure_only:                         # one process of measure_in_processes
        print(json.dumps({"settings": SETTINGS,
                          "results": measure(Vs, ["rnn", "gru", "lstm"], rounds, iters)}))
        return
    processes = args.processes if args.processes is not None else (1 if args.quick else 3)
    results = measure_in_processes(processes, args.quick)
    speed = {(r["impl"], r["model"], r["V"], r["settings"]): r["chars_per_s"] for r in results}

    where = f"{processes} process{'es' if processes > 1 else ''} x {rounds} rounds"
    chosen = ", ".join(f"{k}={v}" for k, v in SETTINGS.items()) or "none: MXNet's defaults or yours"
    cpu = cpu_name()
    print(f"on {cpu}; under the MXNet settings jaylyrics chooses ({chosen}) | under MXNet's "
          f"defaults; chars/s, median of {where}", file=sys.stderr)
    print(f"{'V':>5} {'model':>5} {'jaylyrics':>10} {'tutorial':>9} {'fused':>9} "
          f"{'vs tutorial':>11} {'vs fused':>9} | {'jaylyrics':>10} {'fused':>9} {'vs fused':>9}"
          f" | jaylyrics vs fused at MXNet's defaults", file=sys.stderr)
    ratios = {}
    bound = {V: flop_bound(197, V) for V in Vs}           # the FLOP bound, one core
    gflops = one_core_sgemm_gflops(max(Vs))
    own = {V: flop_bound(gflops, V) for V in Vs}          # this machine's
    for V in Vs:
        floors = []
        for kind in ["rnn", "gru", "lstm"]:
            ours, tut, fused, floor = (speed.get((i, kind, V, "jaylyrics"))
                                       for i in ("jaylyrics", "tutorial", "fused", "floor"))
            ours_d, fused_d = (speed[(i, kind, V, "mxnet_defaults")] for i in ("jaylyrics", "fused"))
            ratios[f"{kind}_vs_fused_V{V}"] = ours / fused
            ratios[f"{kind}_vs_fused_at_mxnet_defaults_V{V}"] = ours / fused_d
            if tut:
                ratios[f"{kind}_vs_tutorial_V{V}"] = ours / tut
            tut_speed, tut_ratio = (f"{tut:,.0f}", f"{ours / tut:.2f}x") if tut else ("-", "-")
            line = f"{V:>5} {kind:>5} {ours:>10,.0f} {tut_speed:>9} {fused:>9,.0f} " \
                   f"{tut_ratio:>11} {ours / fused:>8.2f}x | {ours_d:>10,.0f} {fused_d:>9,.0f} " \
                   f"{ours_d / fused_d:>8.2f}x | {ours / fused_d:.2f}x"   # the tutorial: only rnn
            print(line, file=sys.stderr)
            if floor:                                               # gru and lstm
                ratios[f"{kind}_floor_vs_fused_V{V}"] = floor / fused
                floors.append(f"{kind} {floor:,.0f} chars/s, {floor / fused:.2f}x fused (the real "
                              f"cell {ours / floor:.2f}x of it)")
        print("      floor: a 5-operator cell that is not a GRU or LSTM, in jaylyrics' step, run "
              "alike: " + "; ".join(floors), file=sys.stderr)
        ratios[f"rnn_fraction_of_flop_bound_V{V}"] = speed[("jaylyrics", "rnn", V, "jaylyrics")] / bound[V]
        print(f"      FLOP bound (one core) at V={V}: {bound[V]:,.0f} chars/s; jaylyrics rnn reaches "
              f"{ratios[f'rnn_fraction_of_flop_bound_V{V}']:.2f} of it, fused rnn "
              f"{speed[('fused', 'rnn', V, 'jaylyrics')] / bound[V]:.2f} (at MXNet's defaults: "
              f"{speed[('jaylyrics', 'rnn', V, 'mxnet_defaults')] / bound[V]:.2f} and "
              f"{speed[('fused', 'rnn', V, 'mxnet_defaults')] / bound[V]:.2f})", file=sys.stderr)
        ratios[f"rnn_fraction_of_measured_bound_V{V}"] = speed[("jaylyrics", "rnn", V, "jaylyrics")] / own[V]
        print(f"      at this machine's own one-core rate ({gflops:.0f} GFLOP/s, the output layer's "
              f"product on one thread): {own[V]:,.0f} chars/s; jaylyrics rnn "
              f"{ratios[f'rnn_fraction_of_measured_bound_V{V}']:.2f} of it, fused rnn "
              f"{speed[('fused', 'rnn', V, 'jaylyrics')] / own[V]:.2f}", file=sys.stderr)
    dist = [{"workers": n, "chars_per_s": distributed_chars_per_s(n)} for n in (1, 2)]
    print("data-parallel (launch, dist_sync, gru 256, global batch 32): " + ", ".join(
        f"{counted(d['workers'], 'worker')} {d['chars_per_s']:,.0f} chars/s" for d in dist) +
        f" ({dist[1]['chars_per_s'] / dist[0]['chars_per_s']:.2f}x; the workers, server and "
        "scheduler share this machine's cores)", file=sys.stderr)
    us = sampling_latency(2583)
    us_one = sampling_latency_apart(2583, {"OPENBLAS_NUM_THREADS": "1"})
    rss, rss_fused = peak_rss_mb(2583), peak_rss_mb(2583, impl="fused")
    print(f"sampling: {us:,.0f} us per character (gru, H={H}, V=2583, batch 1; median of 5 "
          f"samples of 300); {us_one:,.0f} us with NumPy's OpenBLAS on one thread, as when "
          "another process keeps the second core busy", file=sys.stderr)
    print(f"peak memory of a training process (gru, V=2583): {rss:,.0f} MB "
          f"(the fused layers: {rss_fused:,.0f} MB)", file=sys.stderr)
    seconds = {"help_s": command_seconds(["--help"]), "eval_s": eval_seconds()}
    print(f"start-up: jaylyrics --help {seconds['help_s']:.2f} s; jaylyrics eval of the val split "
          f"(default model, V=2583) {seconds['eval_s']:.2f} s (medians of 5, start-up included)",
          file=sys.stderr)
    met = targets(ratios, {"sample_us_per_char": us, **seconds})
    print("issue #4's targets (V = 2583): " + "; ".join(
        f"{t['what']} {t['value']:,.2f} ({t['op']} {t['target']:g}) "
        f"{'met' if t['met'] else 'NOT met'}" for t in met.values()), file=sys.stderr)
    if args.json:
        print(json.dumps({"train": results, "ratios": ratios, "sample_us_per_char": us,
                          "sample_us_per_char_one_blas_thread": us_one,
                          "peak_rss_mb": rss, "peak_rss_mb_fused": rss_fused,
                          "distributed": dist, **seconds, "targets": met, "cpu": cpu,
                          "sgemm_gflops_one_core": gflops}))


if __name__ == "__main__":
    main()
