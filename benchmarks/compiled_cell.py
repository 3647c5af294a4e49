"""What a compiled cell would buy (issue #4): jaylyrics' training step with the GRU or LSTM cell's
element-wise work done by one C++ operator (compiled_cell.cc: forward and a hand-written
backward, built with g++ against MXNet's lib_api.h, loaded with mx.library.load), against the
real step and against MXNet's fused layers, measured alike.

    python benchmarks/compiled_cell.py            # 3 processes x 5 rounds, V = 2583 (about a minute)
    python benchmarks/compiled_cell.py --json     # ... and one JSON object on the last line

Not part of jaylyrics, whose cells are MXNet operators differentiated by MXNet autograd: this
measures the one option left for the like-for-like targets, for whoever decides whether a cell
with its own backward is acceptable. Needs g++ and the lib_api.h that MXNet's wheel ships.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

if not __package__:                   # run as a script: python benchmarks/compiled_cell.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks.throughput as bench  # noqa: E402
from jaylyrics.backend import mx  # noqa: E402

SOURCE = Path(__file__).with_name("compiled_cell.cc")
_loaded = False


def build() -> Path:
    """The compiled library, built once per version of the source and of MXNet's header, in the
    temp directory, where it replaces the libraries built from earlier versions."""
    mx_dir = Path(mx.__file__).parent
    header = mx_dir / "include" / "mxnet" / "lib_api.h"
    compiler = shutil.which("g++")
    if compiler is None or not header.exists():
        raise RuntimeError(f"needs g++ and {header}")
    digest = hashlib.sha256(SOURCE.read_bytes() + header.read_bytes()).hexdigest()[:16]
    library = Path(tempfile.gettempdir()) / f"jaylyrics-compiled-cell-{digest}.so"
    if not library.exists():
        work = Path(tempfile.mkdtemp())
        try:
            objects = []
            for source in (SOURCE, mx_dir / "src" / "lib_api.cc"):
                # -ffast-math only to compile (vectorised expf): linked, it would turn on
                # flush-to-zero for the whole process that loads the library
                objects.append(work / f"{source.stem}.o")
                subprocess.run([compiler, "-c", "-fPIC", "-std=c++11", "-O3", "-march=native",
                                "-ffast-math", "-fopenmp-simd", f"-I{header.parent}",
                                f"-I{header.parent.parent}", str(source), "-o", str(objects[-1])],
                               check=True, capture_output=True)
            subprocess.run([compiler, "-shared", *map(str, objects), "-o", str(work / "lib.so")],
                           check=True, capture_output=True)
            (work / "lib.so").replace(library)
        finally:
            shutil.rmtree(work)
        for older in library.parent.glob("jaylyrics-compiled-cell-*.so"):
            if older != library:
                older.unlink(missing_ok=True)
    return library


def load() -> None:
    """Register the compiled operators with MXNet (once per process)."""
    global _loaded
    if not _loaded:
        mx.library.load(str(build()), verbose=False)
        _loaded = True


def gru_cell(F, xw_t, hw_t, state, H):
    return (F.compiled_gru_cell(xw_t, hw_t, state[0]),)


def lstm_cell(F, xw_t, hw_t, state, H):
    h, c = F.compiled_lstm_cell(xw_t, hw_t, state[1])
    return (h, c)


COMPILED_CELLS = {"gru": gru_cell, "lstm": lstm_cell}


IMPLS = {"jaylyrics": bench.jaylyrics_step, "fused": bench.fused_step,
         "compiled": bench.step_with_cells(COMPILED_CELLS)}


def measure(Vs, rounds, iters):
    """`throughput.measure` (interleaved rounds, medians) over these three implementations."""
    load()
    return bench.measure(Vs, ["gru", "lstm"], rounds, iters, impls=IMPLS)


def main():
    args = bench.side_arguments(__doc__.splitlines()[0], measure)
    build()                                            # once, before the processes load it
    jaylyrics_settings = bench.settings_environments()[:1]
    median = {(r["impl"], r["model"]): r["chars_per_s"]
              for r in bench.medians_in_processes(__file__, args.processes, jaylyrics_settings)}
    print(f"V=2583, chars/s under the MXNet settings jaylyrics chooses, median of "
          f"{args.processes} processes x 5 rounds", file=sys.stderr)
    print(f"{'model':>5} {'jaylyrics':>10} {'compiled':>9} {'fused':>9} {'compiled vs ours':>17} "
          f"{'ours vs fused':>14} {'compiled vs fused':>18}", file=sys.stderr)
    ratios = {}
    for kind in ("gru", "lstm"):
        ours, compiled, fused = (median[(i, kind)] for i in ("jaylyrics", "compiled", "fused"))
        ratios.update({f"{kind}_compiled_vs_ours": compiled / ours,
                       f"{kind}_vs_fused": ours / fused,
                       f"{kind}_compiled_vs_fused": compiled / fused})
        print(f"{kind:>5} {ours:>10,.0f} {compiled:>9,.0f} {fused:>9,.0f} {compiled / ours:>16.2f}x "
              f"{ours / fused:>13.2f}x {compiled / fused:>17.2f}x", file=sys.stderr)
    if args.json:
        print(json.dumps({"chars_per_s": {f"{i}_{k}": v for (i, k), v in median.items()},
                          "ratios": ratios}))


if __name__ == "__main__":
    main()
