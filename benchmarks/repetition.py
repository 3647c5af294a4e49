"""How generated lyrics read, by cache and by sampling setting: how much they repeat themselves
and how much they stray from the words of the training text, beside windows of real lyrics of
the same length (the validation split).

    python benchmarks/repetition.py                        # runs/default, about a minute
    python benchmarks/repetition.py --checkpoint runs/large --seeds 20 --json
    python benchmarks/repetition.py --checkpoint runs/default --checkpoint runs/large   # ensemble

For each setting: the share of samples that end in a loop (`sample.loops`: a piece of up to 30
characters three times over), the share of distinct 4-grams, the share of lines that repeat an
earlier line of the same sample, the share of adjacent character pairs (within a line) that the
training text never has, and the mean line length. Lyrics repeat lines (choruses) but do not
loop; the cache (jaylyrics/cache.py) lifts what was just written, so its weights decide how much
samples repeat. Pairs the training text never has are new words in real lyrics (about half of
the validation split's pairs: the songs differ) and mostly nonsense in a sample: a low share
reads better, as long as the sample does not loop. The first table varies the cache at one
temperature, the second the sampling options with the cache as configured and without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from jaylyrics import JaylyricsError, checkpoint, corpus, sample

PREFIXES = ("分开", "不分开", "战争中部队")
# the weights a grid search on either half of the validation split picks (see the README)
TUNED = {"cache_weight": 0.08, "cache_match_weight": 0.9}
# (temperature, top-p, without the cache) for the second table
SAMPLING = [(0.6, 1.0, False), (0.7, 1.0, False), (0.8, 1.0, False), (1.0, 1.0, False),
            (1.0, 0.9, False), (0.6, 1.0, True), (0.7, 1.0, True), (0.8, 1.0, True)]


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


def pairs(text: str) -> list[str]:
    """The adjacent character pairs of a text within its words and lines (no space or break)."""
    return [text[i:i + 2] for i in range(len(text) - 1) if not set(text[i:i + 2]) & {" ", "\n"}]


def strangeness(texts: list[str], known_pairs: set) -> dict:
    """The share of the texts' character pairs outside `known_pairs` (the training text's), and
    the mean length of their non-empty lines, averaged over the texts."""
    unseen, length = [], []
    for text in texts:
        found = pairs(text)
        unseen.append(np.mean([p not in known_pairs for p in found]) if found else 0.0)
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        length.append(np.mean([len(line) for line in lines]) if lines else 0.0)
    return {"unseen_pairs": float(np.mean(unseen)), "line_length": float(np.mean(length))}


def generated(ck, model_cfg, seeds: int, length: int, temperature: float,
              top_p: float = 1.0, others: tuple = ()) -> list[str]:
    """Samples of the checkpoint `ck`'s network with `model_cfg` (its own, or with another
    cache), or of its ensemble with `others` ((params, model_cfg) of more networks)."""
    prefixes = [p for p in PREFIXES if not ck.vocab.unknown(p)] or [ck.vocab.chars[1]]
    return ["".join(sample.generate(ck.params, model_cfg, ck.vocab, p, length, temperature,
                                    top_p=top_p, rng=np.random.RandomState(seed),
                                    others=others))
            for p in prefixes for seed in range(seeds)]


def real_windows(text: str, count: int, length: int) -> list[str]:
    """`count` windows of `length` characters at random places of `text`."""
    rng = np.random.RandomState(0)
    starts = rng.randint(0, max(len(text) - length, 1), count)
    return [text[i:i + length] for i in starts]


def _table(title: str, rows: dict) -> None:
    print(f"{title:34s} {'ending in a loop':>17s} {'distinct 4-grams':>17s} {'repeated lines':>15s}"
          f" {'unseen pairs':>13s} {'line length':>12s}", file=sys.stderr)
    for name, r in rows.items():
        print(f"{name:34s} {r['loops']:>17.0%} {r['distinct_4grams']:>17.2f} "
              f"{r['repeated_lines']:>15.0%} {r['unseen_pairs']:>13.0%} {r['line_length']:>12.1f}",
              file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append",
                        help="a run directory or checkpoint (default runs/default); given more "
                             "than once, their ensemble, as `jaylyrics sample` reads it")
    parser.add_argument("--seeds", type=int, default=40, help="samples per prefix (default 40)")
    parser.add_argument("--length", type=int, default=200, help="characters per sample")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="the first table's temperature (default 0.8)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    for name, value, least in (("--seeds", args.seeds, 1), ("--length", args.length, 10)):
        if value < least:                       # else empty or meaningless tables
            parser.error(f"{name} {value}: expected at least {least}")
    if not args.temperature > 0:
        parser.error(f"--temperature {args.temperature}: expected a value > 0")
    try:
        nets = checkpoint.load_networks(args.checkpoint or ["runs/default"], no_cache=False)
        ck, others = nets.ck, nets.others              # NumPy weights, as `sample` runs them
        data = corpus.load(checkpoint.data_config(ck))
    except JaylyricsError as e:
        parser.error(str(e))
    known = set(pairs(data.train))
    model_cfg = ck.config.model
    no_cache = dataclasses.replace(model_cfg, cache_size=0)

    def measured(texts):
        return {**repetition(texts), **strangeness(texts, known)}

    settings = {
        f"cache as configured ({model_cfg.cache_weight:g}, {model_cfg.cache_match_weight:g})": {},
        f"grid-tuned cache ({TUNED['cache_weight']:g}, {TUNED['cache_match_weight']:g})": TUNED,
        "no cache": {"cache_size": 0},
    }
    by_cache = {name: measured(generated(ck, dataclasses.replace(model_cfg, **change),
                                         args.seeds, args.length, args.temperature,
                                         others=others))
                for name, change in settings.items()}
    real = measured(real_windows(data.val or data.train, 300, args.length))
    by_cache["real lyrics (validation split)"] = real
    by_sampling = {}
    for temperature, top_p, without in SAMPLING:
        name = f"temperature {temperature:g}" + (f", top-p {top_p:g}" if top_p < 1 else "") + \
            (", no cache" if without else "")
        by_sampling[name] = measured(generated(ck, no_cache if without else model_cfg, args.seeds,
                                               args.length, temperature, top_p, others))
    by_sampling["real lyrics (validation split)"] = real
    print(f"{nets.name()}, {args.length} characters, {args.seeds} samples per prefix",
          file=sys.stderr)
    _table(f"by cache, temperature {args.temperature:g}", by_cache)
    _table("by sampling option", by_sampling)
    if args.json:
        print(json.dumps({"by_cache": by_cache, "by_sampling": by_sampling}, ensure_ascii=False))


if __name__ == "__main__":
    main()
