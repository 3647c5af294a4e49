"""Which fused baseline (issue #4): MXNet's fused layers hybridized with static memory and
shapes, as benchmarks/throughput.py runs them, against the same layers as most gluon code writes
them (`net.hybridize()` alone), and jaylyrics, under jaylyrics' MXNet settings and under MXNet's
defaults.

    python benchmarks/gluon_baseline.py           # 3 processes x 5 rounds, V = 2583 (about 1.5 minutes)
    python benchmarks/gluon_baseline.py --json    # ... and one JSON object on the last line

For whoever decides what "the fused layers" of #4's targets are: the fastest way to run them,
or the way a gluon user runs them.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

if not __package__:                   # run as a script: python benchmarks/gluon_baseline.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks.throughput as bench  # noqa: E402

IMPLS = {"jaylyrics": bench.jaylyrics_step, "fused": bench.fused_step,
         "fused_plain": functools.partial(bench.fused_step, static=False)}


def measure(Vs, rounds, iters):
    """`throughput.measure` (interleaved rounds, medians) over these three implementations."""
    return bench.measure(Vs, ["gru", "lstm"], rounds, iters, impls=IMPLS)


def main():
    args = bench.side_arguments(__doc__.splitlines()[0], measure)
    environments = bench.settings_environments()
    median = {(r["settings"], r["impl"], r["model"]): r["chars_per_s"]
              for r in bench.medians_in_processes(__file__, args.processes, environments)}
    print(f"V=2583, chars/s, median of {args.processes} processes x 5 rounds; fused: hybridized "
          "with static_alloc and static_shape (as throughput.py runs it), plain: net.hybridize()",
          file=sys.stderr)
    print(f"{'settings':<15} {'model':>5} {'jaylyrics':>10} {'fused':>9} {'plain':>9} "
          f"{'vs fused':>9} {'vs plain':>9}", file=sys.stderr)
    ratios = {}
    for settings, _ in environments:
        for kind in ("gru", "lstm"):
            ours, fused, plain = (median[(settings, i, kind)] for i in IMPLS)
            ratios.update({f"{kind}_vs_fused_{settings}": ours / fused,
                           f"{kind}_vs_plain_{settings}": ours / plain})
            print(f"{settings:<15} {kind:>5} {ours:>10,.0f} {fused:>9,.0f} {plain:>9,.0f} "
                  f"{ours / fused:>8.2f}x {ours / plain:>8.2f}x", file=sys.stderr)
    for kind in ("gru", "lstm"):
        ours = median[("jaylyrics", "jaylyrics", kind)]
        plain = median[("mxnet_defaults", "fused_plain", kind)]
        ratios[f"{kind}_as_run_vs_plain_at_defaults"] = ours / plain
        print(f"{kind}: jaylyrics as it runs against the plain fused layers at MXNet's defaults: "
              f"{ours / plain:.2f}x", file=sys.stderr)
    if args.json:
        print(json.dumps({"chars_per_s": {"_".join(k): v for k, v in median.items()},
                          "ratios": ratios}))


if __name__ == "__main__":
    main()
