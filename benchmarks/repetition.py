"""How much generated lyrics repeat themselves, with the cache as configured, with the cache
weights a grid search on the validation split prefers, and without the cache, beside windows of
real lyrics of the same length (the validation split).

    python benchmarks/repetition.py                        # runs/default, about a minute
    python benchmarks/repetition.py --checkpoint runs/large --seeds 20 --json

For each setting: the share of samples that end in a loop (`sample.loops`: a piece of up to 30
characters three times over), the share of distinct 4-grams, and the share of lines that repeat
an earlier line of the same sample. Lyrics repeat lines (choruses) but do not loop; the cache
(jaylyrics/cache.py) lifts what was just written, so its weights decide how much samples repeat.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from jaylyrics import checkpoint, corpus, sample
from jaylyrics.backend import mx

PREFIXES = ("分开", "不分开", "战争中部队")
# the weights a grid search on either half of the validation split picks (see the README)
TUNED = {"cache_weight": 0.08, "cache_match_weight": 0.9}


def repetition(texts: list[str]) -> dict:
    """Loops, distinct 4-grams and repeated lines of some texts, averaged."""
    distinct, repeated = [], []
    for text in texts:
        grams = [text[i:i + 4] for i in range(len(text) - 3)]
        distinct.append(len(set(grams)) / max(len(grams), 1))
        lines = [line for line in text.split("\n") if line.strip()]
        repeated.append(1 - len(set(lines)) / max(len(lines), 1))
    return {"loops": float(np.mean([sample.loops(t) for t in texts])),
            "distinct_4grams": float(np.mean(distinct)), "repeated_lines": float(np.mean(repeated))}


def generated(ck, model_cfg, seeds: int, length: int, temperature: float) -> list[str]:
    prefixes = [p for p in PREFIXES if not ck.vocab.unknown(p)] or [ck.vocab.chars[1]]
    return ["".join(sample.generate(ck.params, model_cfg, ck.vocab, p, length, temperature,
                                    rng=np.random.RandomState(seed)))
            for p in prefixes for seed in range(seeds)]


def real_windows(ck, count: int, length: int) -> list[str]:
    """`count` windows of `length` characters at random places of the validation split."""
    data = corpus.load(checkpoint.data_config(ck))
    text = data.val or data.train
    rng = np.random.RandomState(0)
    starts = rng.randint(0, max(len(text) - length, 1), count)
    return [text[i:i + length] for i in starts]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="runs/default")
    parser.add_argument("--seeds", type=int, default=40, help="samples per prefix (default 40)")
    parser.add_argument("--length", type=int, default=200, help="characters per sample")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    ck = checkpoint.load(args.checkpoint, mx.cpu())
    model_cfg = ck.config.model
    settings = {
        f"cache as configured ({model_cfg.cache_weight:g}, {model_cfg.cache_match_weight:g})": {},
        f"grid-tuned cache ({TUNED['cache_weight']:g}, {TUNED['cache_match_weight']:g})": TUNED,
        "no cache": {"cache_size": 0},
    }
    rows = {name: repetition(generated(ck, dataclasses.replace(model_cfg, **change), args.seeds,
                                       args.length, args.temperature))
            for name, change in settings.items()}
    rows["real lyrics (validation split)"] = repetition(real_windows(ck, 300, args.length))
    print(f"{args.checkpoint}, {args.length} characters, temperature {args.temperature:g}, "
          f"{args.seeds} samples per prefix", file=sys.stderr)
    print(f"{'':34s} {'ending in a loop':>17s} {'distinct 4-grams':>17s} {'repeated lines':>15s}",
          file=sys.stderr)
    for name, r in rows.items():
        print(f"{name:34s} {r['loops']:>17.0%} {r['distinct_4grams']:>17.2f} "
              f"{r['repeated_lines']:>15.0%}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))


if __name__ == "__main__":
    main()
