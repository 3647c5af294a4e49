"""How generated lyrics read, by cache and by sampling setting: how much they repeat themselves
and how much they stray from the words of the training text, beside windows of real lyrics of
the same length (the validation split).

    python benchmarks/repetition.py                        # runs/default, about a minute
    python benchmarks/repetition.py --checkpoint runs/large --seeds 20 --json
    python benchmarks/repetition.py --checkpoint runs/default --checkpoint runs/large   # ensemble

For each setting: the share of samples that end in a loop (`sample.loops`: a piece of up to 30
characters three times over), the share of distinct 4-grams, the share of lines that repeat an
earlier line of the same sample, the share of adjacent character pairs (within a line) that the
training text never has, the share of 8-grams copied from the training text, how many distinct
characters each 1,000 of the samples use, and the mean line length. Lyrics repeat lines
(choruses) but do not loop; the cache (jaylyrics/cache.py) lifts what was just written, so its
weights decide how much samples repeat. Pairs the training text never has are new words in real
lyrics (about half of the validation split's pairs: the songs differ) and mostly nonsense in a
sample: a low share reads better, as long as the sample does not loop, does not copy the
training text, and does not say the same few things with a few hundred characters (the last two
measures keep the first honest). The first table varies the cache at one temperature, the
second the sampling options with the cache as configured and without it. The third writes
greedily from each of the most frequent characters alone (`sample --prefix 你`): how often the
next character repeats the prefix (你你你: what the unigram cache of one character did before
model.cache_prior), beside how often one of those characters is followed by itself in real
lyrics (天天, 慢慢). The fourth writes long samples (ten times --length, from half as many seeds):
the cache reads its own output, so a run of one character can feed itself (霍霍霍霍霍...); it
counts the samples with a run of RUN or more of one character and the longest run, beside the
longest in the real text (training split).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import re
import sys

import numpy as np

from jaylyrics import JaylyricsError, checkpoint, corpus, sample

PREFIXES = ("分开", "不分开", "战争中部队")
# the weights a grid search on either half of the validation split picks (see the README)
TUNED = {"cache_weight": 0.08, "cache_match_weight": 0.9}
# (temperature (0: greedy), top-p, top-k, without the cache, no-repeat n-gram size) for the
# second table
SAMPLING = [(0.0, 1.0, 0, False, 0), (0.0, 1.0, 0, False, 3), (0.0, 1.0, 0, False, 4),
            (0.0, 1.0, 0, False, 6),
            (0.6, 1.0, 0, False, 0), (0.7, 1.0, 0, False, 0), (0.8, 1.0, 0, False, 0),
            (1.0, 1.0, 0, False, 0), (1.0, 0.9, 0, False, 0), (0.7, 1.0, 0, False, 4),
            (0.6, 1.0, 0, True, 0), (0.7, 1.0, 0, True, 0), (0.8, 1.0, 0, True, 0),
            (1.0, 1.0, 5, True, 0)]
ONE_CHARACTER = 300  # the most frequent characters of the training text, each a prefix alone
COPIED = 8          # the length of the pieces looked up in the training text
BLOCK = 1000        # characters per block when counting the distinct characters used
RUN = 10            # a run of this many of one character (spaces aside) in a long sample


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


def grams(text: str, n: int) -> list[str]:
    """The n-character pieces of a text, overlapping (line breaks and spaces included)."""
    return [text[i:i + n] for i in range(len(text) - n + 1)]


def strangeness(texts: list[str], known_pairs: set, known_grams: set) -> dict:
    """The share of the texts' character pairs outside `known_pairs` (the training text's), the
    share of their `COPIED`-grams inside `known_grams` (the training text's), and the mean
    length of their non-empty lines, averaged over the texts."""
    unseen, copied, length = [], [], []
    for text in texts:
        found = pairs(text)
        unseen.append(np.mean([p not in known_pairs for p in found]) if found else 0.0)
        pieces = grams(text, COPIED)
        copied.append(np.mean([g in known_grams for g in pieces]) if pieces else 0.0)
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        length.append(np.mean([len(line) for line in lines]) if lines else 0.0)
    return {"unseen_pairs": float(np.mean(unseen)), "copied": float(np.mean(copied)),
            "line_length": float(np.mean(length))}


def characters_used(texts: list[str], block: int = BLOCK) -> float:
    """How many distinct characters the texts use in each `block` of them, spaces and line
    breaks aside: the texts are joined and cut into blocks, and the counts averaged over the
    blocks (one block, shorter, when the texts are shorter than one). Real lyrics use several
    hundred in 1,000; a sampler that keeps to the likeliest characters uses far fewer."""
    joined = "".join(texts).replace(" ", "").replace("\n", "")
    blocks = [joined[i:i + block] for i in range(0, max(len(joined) - block, 0) + 1, block)]
    return float(np.mean([len(set(b)) for b in blocks]))


def generated(ck, model_cfg, seeds: int, length: int, temperature: float,
              top_p: float = 1.0, top_k: int = 0, others: tuple = (),
              no_repeat: int = 0, prefixes: tuple = PREFIXES) -> list[str]:
    """Samples of the checkpoint `ck`'s network with `model_cfg` (its own, or with another
    cache), or of its ensemble with `others` ((params, model_cfg) of more networks), from each
    of `prefixes` the model can read; greedy (temperature 0) writes one per prefix, whatever
    the seed."""
    prefixes = [p for p in prefixes if not ck.vocab.unknown(p)] or [ck.vocab.chars[1]]
    return ["".join(sample.generate(ck.params, model_cfg, ck.vocab, p, length, temperature,
                                    top_k=top_k, top_p=top_p, rng=np.random.RandomState(seed),
                                    others=others, no_repeat=no_repeat))
            for p in prefixes for seed in range(seeds if temperature else 1)]


def one_character(ck, settings: dict, train: str, real: str, count: int = ONE_CHARACTER,
                  length: int = 20, others: tuple = ()) -> dict:
    """Greedy samples of `length` characters from each of the `count` most frequent characters
    of `train` alone, for each (name -> (model config, no-repeat n-gram size)) of `settings`:
    the share whose first character repeats the prefix and the share that end in a loop; and
    for `real` text, the share of those characters' occurrences followed by the same
    character."""
    chars = [c for c, _ in collections.Counter(c for c in train if not c.isspace())
             .most_common(count) if not ck.vocab.unknown(c)]
    rows = {}
    for name, (model_cfg, no_repeat) in settings.items():
        texts = ["".join(sample.generate(ck.params, model_cfg, ck.vocab, c, length, others=others,
                                         no_repeat=no_repeat))
                 for c in chars]
        rows[name] = {"repeats_prefix": float(np.mean([t[:1] == c for c, t in zip(chars, texts)])),
                      "loops": float(np.mean([sample.loops(c + t) for c, t in zip(chars, texts)]))}
    chosen = set(chars)
    doubled = [a == b for a, b in zip(real, real[1:]) if a in chosen]
    rows["real lyrics (validation split)"] = {"repeats_prefix": float(np.mean(doubled or [0])),
                                              "loops": None}
    return rows


def longest_run(text: str) -> int:
    """The longest run of one character in `text`, spaces and line breaks aside (0 if none)."""
    return max((len(m.group(0)) for m in re.finditer(r"(\S)\1*", text)), default=0)


def long_runs(ck, settings: dict, seeds: int, length: int, temperature: float, real: str,
              others: tuple = ()) -> dict:
    """Samples of `length` characters from `seeds` seeds, for each (name -> (model config,
    no-repeat n-gram size)) of `settings`: the share with a run of `RUN` or more of one
    character, the longest run, the share ending in a loop and the distinct 4-grams; and the
    longest run in the `real` text."""
    rows = {}
    for name, (model_cfg, no_repeat) in settings.items():
        texts = generated(ck, model_cfg, seeds, length, temperature, others=others,
                          no_repeat=no_repeat, prefixes=PREFIXES[:1])
        runs = [longest_run(t) for t in texts]
        rows[name] = {"with_run": float(np.mean([r >= RUN for r in runs])),
                      "longest_run": max(runs), **repetition(texts)}
    rows["real lyrics (training split)"] = {"with_run": None, "longest_run": longest_run(real),
                                            "loops": None, "distinct_4grams": None}
    return rows


def real_windows(text: str, count: int, length: int) -> list[str]:
    """`count` windows of `length` characters at random places of `text`."""
    rng = np.random.RandomState(0)
    starts = rng.randint(0, max(len(text) - length, 1), count)
    return [text[i:i + length] for i in starts]


COLUMNS = [("loops", "ending in a loop", "{:.0%}"), ("distinct_4grams", "distinct 4-grams", "{:.2f}"),
           ("repeated_lines", "repeated lines", "{:.0%}"), ("unseen_pairs", "unseen pairs", "{:.0%}"),
           ("copied", f"copied {COPIED}-grams", "{:.0%}"),
           ("characters", f"characters per {BLOCK:,}", "{:.0f}"), ("line_length", "line length", "{:.1f}")]


def _table(title: str, rows: dict) -> None:
    print(f"{title:37s}" + "".join(f"  {head}" for _, head, _ in COLUMNS), file=sys.stderr)
    for name, r in rows.items():
        print(f"{name:37s}" + "".join(f"  {form.format(r[key]):>{len(head)}s}"
                                      for key, head, form in COLUMNS), file=sys.stderr)


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
    known, known_grams = set(pairs(data.train)), set(grams(data.train, COPIED))
    model_cfg = ck.config.model
    no_cache = dataclasses.replace(model_cfg, cache_size=0)

    def measured(texts):
        return {**repetition(texts), **strangeness(texts, known, known_grams),
                "characters": characters_used(texts)}

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
    for temperature, top_p, top_k, without, no_repeat in SAMPLING:
        name = (f"temperature {temperature:g}" if temperature else "greedy") + \
            (f", top-p {top_p:g}" if top_p < 1 else "") + (f", top-k {top_k}" if top_k else "") + \
            (f", no-repeat {no_repeat}" if no_repeat else "") + (", no cache" if without else "")
        by_sampling[name] = measured(generated(ck, no_cache if without else model_cfg, args.seeds,
                                               args.length, temperature, top_p,
                                               min(top_k, len(ck.vocab)), others, no_repeat))
    by_sampling["real lyrics (validation split)"] = real
    greedy = one_character(ck, {
        f"cache as configured (prior {model_cfg.cache_prior:g})": (model_cfg, 0),
        "cache without the prior (0)": (dataclasses.replace(model_cfg, cache_prior=0.0), 0),
        "no cache": (no_cache, 0),
        "cache as configured, no-repeat 4": (model_cfg, 4)},
        data.train, data.val or data.train, others=others)
    long_seeds, long_length = max(args.seeds // 2, 1), 10 * args.length
    long = long_runs(ck, {"cache as configured": (model_cfg, 0), "no cache": (no_cache, 0),
                          "cache as configured, no-repeat 4": (model_cfg, 4)},
                     long_seeds, long_length, args.temperature, data.train, others)
    print(f"{nets.name()}, {args.length} characters, {args.seeds} samples per prefix",
          file=sys.stderr)
    _table(f"by cache, temperature {args.temperature:g}", by_cache)
    _table("by sampling option", by_sampling)
    print(f"{'greedy, each of ' + str(ONE_CHARACTER) + ' characters alone':37s}  repeats the "
          "prefix  ending in a loop", file=sys.stderr)
    for name, r in greedy.items():
        loops = "-" if r["loops"] is None else f"{r['loops']:.0%}"
        print(f"{name:37s}  {r['repeats_prefix']:>18.0%}  {loops:>16s}", file=sys.stderr)
    title = f"{long_seeds} samples of {long_length:,} characters, temperature {args.temperature:g}"
    print(f"{title:47s}  with a run of {RUN}+  longest run  ending in a loop  distinct 4-grams",
          file=sys.stderr)
    for name, r in long.items():
        cells = ["-" if r[key] is None else form.format(r[key])
                 for key, form in (("with_run", "{:.0%}"), ("longest_run", "{}"),
                                   ("loops", "{:.0%}"), ("distinct_4grams", "{:.2f}"))]
        print(f"{name:47s}  {cells[0]:>16s}  {cells[1]:>11s}  {cells[2]:>16s}  {cells[3]:>16s}",
              file=sys.stderr)
    if args.json:
        print(json.dumps({"by_cache": by_cache, "by_sampling": by_sampling,
                          "one_character": greedy, "long_samples": long}, ensure_ascii=False))


if __name__ == "__main__":
    main()
