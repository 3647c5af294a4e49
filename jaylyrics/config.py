"""Configuration: YAML files and KEY=VALUE overrides into frozen dataclasses (reading the
file itself, and its syntax errors, is `yaml_file.py`).

The defaults live here and only here (`configs/default.yaml` writes the same values out; a test
keeps the two equal). Every key is checked by its dotted name (`train.lr`): unknown sections and
keys are rejected with the closest known name, values must have the right type and range.
Errors are `ConfigError`s that name the file or `--set`, the key and what was expected.

This module does not import MXNet, so configuration mistakes are reported instantly.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jaylyrics import ConfigError, yaml_file


MAX_SAMPLE_LENGTH = 1_000_000      # characters: train.sample_length, and sample --length
MAX_SEED = 2**32 - 1               # NumPy's RandomState: train.seed, and sample --seed


def _f(default, help: str, **rules):
    """A dataclass field with its help text and validation rules (min, max, choices, ...;
    several: what to do instead, said when a path is given as a list)."""
    if isinstance(default, list):
        return field(default_factory=lambda: tuple(default), metadata=dict(help=help, **rules))
    return field(default=default, metadata=dict(help=help, **rules))


@dataclass(frozen=True)
class DataConfig:
    corpus: str = _f("data/jaychou_lyrics.txt.zip",
                     "a UTF-8 .txt (or .lrc) file, also compressed (.gz, .bz2, .xz), or a .zip, "
                     "tar or directory of them (joined in path order); relative to the working "
                     "directory", path=True,
                     several="put the files in one directory, or a zip, and give that")
    max_chars: int = _f(0, "use only the first N characters (0: all)", min=0)
    keep_newlines: bool = _f(True, "keep line breaks as characters (false: replace them by spaces)")
    val_fraction: float = _f(0.1, "fraction of lines (the last ones) held out for validation",
                             min=0.0, below=1.0)
    encoding: str = _f("utf-8", "how to read corpus files that are not UTF-8 (those that are "
                       "are read as UTF-8): utf-8 refuses them; gbk (gb2312, gb18030) or big5 for "
                       "files saved by Chinese Windows or lyric sites, cp1252 for Western ones "
                       "(English, French, ...) saved by Windows",
                       choices=("utf-8", "gbk", "gb2312", "gb18030", "big5", "cp1252"))
    lrc_in_txt: bool = _f(True, "read a .txt file most of whose lines are timed ([01:23.45]), an "
                          "LRC download saved as text, as an .lrc file: its lyrics without the "
                          "tags and credits (false: as it is)")


@dataclass(frozen=True)
class ModelConfig:
    type: str = _f("gru", "the recurrent cell", choices=("rnn", "gru", "lstm"))
    hidden_size: int = _f(256, "H, the size of the hidden state", min=1)
    num_layers: int = _f(1, "stacked recurrent layers", min=1)
    embed_size: int = _f(256, "input embedding size (0: one-hot input, as in the tutorial)", min=0)
    dropout: float = _f(0.6, "dropout on the embedding, between layers and before the output",
                        min=0.0, below=1.0)
    weight_drop: float = _f(0.4, "dropout on the recurrent weights W_hh: one mask per batch, "
                            "shared by all its time steps (DropConnect)", min=0.0, below=1.0)
    embed_drop: float = _f(0.1, "drop whole characters from the input embedding, one mask per "
                           "batch (AWD-LSTM's embedding dropout)", min=0.0, below=1.0)
    tie_weights: bool = _f(True, "share the input embedding with the output layer "
                           "(needs embed_size == hidden_size)")
    cache_size: int = _f(1000, "the cache looks at the last N characters read (0: no cache)", min=0)
    cache_weight: float = _f(0.05, "weight of the unigram cache in the mixture", min=0.0, below=1.0)
    cache_order: int = _f(3, "context length of the match cache", min=1, max=100)
    cache_match_weight: float = _f(0.6, "weight of the match cache (when its context occurred)",
                                   min=0.0, below=1.0)
    cache_prior: float = _f(20.0, "the unigram cache's weight grows with the characters it holds, "
                            "n, as n / (n + this): after a short prefix it counts little",
                            min=0.0)
    init_std: float = _f(0.1, "standard deviation of the normal initialisation of weights",
                         min_exclusive=0.0)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = _f(40, "passes over the training split", min=1)
    batch_size: int = _f(32, "N, sequences per batch", min=1)
    num_steps: int = _f(35, "T, characters per sequence (truncated backpropagation length)", min=1)
    optimizer: str = _f("adam", "update rule", choices=("sgd", "adam"))
    lr: float = _f(0.002, "learning rate", min_exclusive=0.0)
    loss: str = _f("mean", "how a batch's per-character losses are reduced before the gradient "
                   "(the tutorial sums them)", choices=("sum", "mean"))
    weight_decay: float = _f(0.0, "L2 penalty on every parameter", min=0.0)
    label_smoothing: float = _f(0.15, "mix this much of the uniform distribution into the targets",
                                min=0.0, below=1.0)
    lr_decay: float = _f(0.5, "multiply the learning rate by this when val perplexity has not "
                         "improved for lr_patience epochs (1: never)", min_exclusive=0.0, max=1.0)
    lr_patience: int = _f(2, "epochs without improvement before the learning rate decays", min=1)
    patience: int = _f(6, "stop after this many epochs without improvement (0: never)", min=0)
    min_improvement: float = _f(0.0, "for patience and lr_patience, an epoch improves only if "
                                "it lowers the score by at least this fraction (0.002: 0.2%) "
                                "since the last epoch that did; the best checkpoint still takes "
                                "any improvement", min=0.0, below=1.0)
    clip: float = _f(1.0, "clip the global gradient norm to this (0: no clipping)", min=0.0)
    sampler: str = _f("consecutive", "how batches are drawn: random (state reset per batch) or "
                      "consecutive (state carried between batches)",
                      choices=("random", "consecutive"))
    hidden_state: str = _f("auto", "the hidden state at each batch: reset (to zeros), carry (from "
                           "the batch before, cut from its graph), or auto (reset with the "
                           "random sampler, carry with the consecutive one)",
                           choices=("auto", "reset", "carry"))
    state_reset: float = _f(0.0, "where the state is carried: the chance that a sequence starts "
                            "a batch from zeros instead, so that the network learns to start "
                            "from nothing, as sample and eval do (0: never)", min=0.0, max=1.0)
    seed: int = _f(0, "seed for initialisation, batches and dropout", min=0, max=MAX_SEED)
    out_dir: str = _f("runs/default", "the run directory: checkpoints, config and metrics",
                      path=True)
    save_every: int = _f(0, "inside an epoch, also save a resumable checkpoint (last.json) every "
                         "N batches, for long epochs (0: only at the end of each epoch)", min=0)
    init_from: str = _f("", "start from the weights of this run directory or checkpoint, "
                        "its network and vocabulary (fine-tuning; empty: from scratch)",
                        empty=True, path=True)
    prefixes: tuple = _f(["分开", "不分开", "战争中部队"], "prefixes to sample from during training",
                         item=str)
    sample_every: int = _f(5, "sample the prefixes every N epochs (0: never)", min=0)
    sample_length: int = _f(100, "characters generated for each prefix", min=1,
                            max=MAX_SAMPLE_LENGTH)
    sample_temperature: float = _f(0.0, "temperature of those samples (0: greedy, as the tutorial; "
                                   "around 0.8 they loop less)", min=0.0)
    sample_no_repeat_ngram_size: int = _f(0, "in those samples, no piece of N characters twice, "
                                          "as sample --no-repeat-ngram-size N (0: off; 4: "
                                          "greedy samples without loops)", min=0)

    @property
    def carries_state(self) -> bool:
        """Whether a batch starts from the state its rows ended the batch before with (cut from
        its graph), rather than from zeros: hidden_state carry, or auto with the consecutive
        sampler (the tutorial pairs a random window with zeros, a consecutive one with the
        state its row ended with)."""
        return self.hidden_state == "carry" or (self.hidden_state == "auto"
                                                and self.sampler == "consecutive")


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def fields() -> dict[str, dataclasses.Field]:
    """Every dotted key, in order (`data.corpus`, ..., `train.sample_no_repeat_ngram_size`),
    with its field: default, help text and rules in its metadata."""
    return {f"{s}.{f.name}": f for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


def all_keys() -> list[str]:
    """Every dotted key, in order: `data.corpus`, ..., `train.sample_no_repeat_ngram_size`."""
    return list(fields())


def load(path: str | Path | None = None, overrides: tuple[str, ...] | list[str] = ()) -> Config:
    """Read a YAML config (or the defaults when `path` is None) and apply KEY=VALUE overrides."""
    raw: dict[str, dict[str, Any]] = {}
    if path is not None:
        raw = read_yaml(Path(path))
        _check_shape(raw, str(path))
    keys = _merge(raw, overrides)
    return from_dict(raw, source=str(path) if path is not None else "defaults", override_keys=keys)


def override(cfg: Config, overrides, allowed: str | tuple[str, ...] = "") -> Config:
    """`cfg` with KEY=VALUE overrides applied (only keys starting with `allowed`, or with one
    of them, if given: `train.` for every train key, `data.corpus` for that key alone)."""
    allowed = (allowed,) if isinstance(allowed, str) else tuple(allowed)
    for item in overrides:
        key = parse_override(item)[0]
        if not key.startswith(allowed):
            names = " and ".join(f"{a}* keys" if a.endswith((".", "_")) else a for a in allowed)
            raise ConfigError(f"--set {item}: only {names} can change here")
    raw = to_dict(cfg)
    keys = _merge(raw, overrides)
    return from_dict(raw, source="config", override_keys=keys)


def _merge(raw: dict, overrides) -> set[str]:
    """Write KEY=VALUE overrides into nested dicts; return the keys they set."""
    keys = set()
    for item in overrides:
        key, value = parse_override(item)
        section, name = key.split(".", 1)
        raw.setdefault(section, {})[name] = value
        keys.add(key)
    return keys


def read_yaml(path: Path) -> Any:
    """A YAML config file as a dict (`yaml_file.read`: its errors expect these sections)."""
    return yaml_file.read(path, tuple(SECTIONS))


def parse_override(item: str) -> tuple[str, Any]:
    """`train.lr=0.5` -> ("train.lr", 0.5): the value is typed as YAML types it, except that
    a path or a prefix stays text (train.out_dir=2024 is the directory 2024)."""
    if "=" not in item:
        raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. --set train.lr=0.5")
    key, text = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item}: no key before '='; expected KEY=VALUE, e.g. --set "
                          "train.lr=0.5")
    if key not in all_keys():
        raise ConfigError(f"--set {item}: unknown key '{key}'{_suggest(key, all_keys())}")
    section, _, name = key.partition(".")
    kind = _kind(next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == name))
    is_list = kind is tuple                                        # train.prefixes
    # A path or a prefix is text, whatever YAML would make of it (2024, yes, 1e3): its base
    # loader reads every scalar as a string; numbers and flags are typed as YAML types them.
    textual = kind in (str, tuple)
    try:                                     # (nothing after = is YAML's `key:`, except in text)
        value = yaml.load(text, Loader=yaml.BaseLoader if textual else yaml_file.NumberLoader) \
            if text.strip() else "" if textual else None
    except yaml.YAMLError as e:
        if is_list:
            raise ConfigError(f"--set {item}: not a YAML list ({str(e).splitlines()[0]}); "
                              f"write {key}=[a, b] or {key}=a") from None
        value = text
    if textual and not is_list and not isinstance(value, str):
        value = text.strip()                       # a path that YAML reads as a mapping: a: b
    return key, value


def _suggest(name: str, candidates) -> str:
    """The hint for an unknown `name`: '; did you mean X?' for the closest candidate, else the
    candidates. A dotted name of a known section (train.lrr) is matched within that section,
    after the same key in another section (train.hidden_size: model.hidden_size); a key without
    its section (epochs) is given it."""
    candidates = list(candidates)
    section, dot, key = name.partition(".")
    same = [c.partition(".")[2] for c in candidates if dot and c.startswith(section + ".")]
    if same:
        elsewhere = [c for c in candidates if c.partition(".")[2] == key]
        close = [f"{section}.{c}" for c in difflib.get_close_matches(key, same, n=1, cutoff=0.5)]
        if elsewhere or close:
            return f"; did you mean '{(elsewhere or close)[0]}'?"
        return f" ({section}'s keys: {', '.join(same)})"
    close = ([c for c in candidates if c.partition(".")[2] == name]         # epochs: train.epochs
             or difflib.get_close_matches(name, candidates, n=1, cutoff=0.5))
    if close:
        return f"; did you mean '{close[0]}'?"
    if all("." in c for c in candidates):
        return f" (keys are SECTION.KEY, with the sections {', '.join(SECTIONS)})"
    return f" (known: {', '.join(candidates)})"


def _check_shape(raw: dict, source: str) -> None:
    for section, values in raw.items():
        if section not in SECTIONS:
            name = str(section)
            if name.startswith("\u3000"):
                hint = (" (it starts with a full-width space, U+3000: YAML indents with ASCII "
                        "spaces)")
            else:                       # a key out of its section: epochs for train's
                owner = [k.partition(".")[0] for k in all_keys() if k.endswith("." + name)]
                hint = (f": {name} is a key of {owner[0]}, to be indented under '{owner[0]}:'"
                        if owner else _suggest(name, SECTIONS))
            raise ConfigError(f"{source}: unknown section {section!r}{hint}")
        if values is None:
            raw[section] = {}
            continue
        if not isinstance(values, dict):
            hint = ""
            if isinstance(values, str) and "：" in values:
                hint = f" ({values!r}: the colon is full-width; YAML needs ':' and a space)"
            elif isinstance(values, list) and all(isinstance(v, dict) for v in values):
                hint = (" (its lines start with '- ', which makes a list: leave the dashes "
                        f"out, the keys indented under '{section}:')")
            raise ConfigError(f"{source}: section '{section}' must be a mapping of keys to "
                              f"values{hint}")
        names = [f.name for f in dataclasses.fields(SECTIONS[section])]
        for key in values:
            if key not in names:
                dotted = f"{section}.{key}"
                raise ConfigError(f"{source}: unknown key '{dotted}'{_suggest(dotted, all_keys())}")


# Keys added after runs were first saved, with the value that behaves as if the key did not
# exist: a saved config without one (an older checkpoint's sidecar) means this value, whatever
# today's default is, so an older run resumes as it would have.
ADDED_KEYS = {"model.weight_drop": 0.0, "model.embed_drop": 0.0, "train.sample_temperature": 0.0,
              "train.init_from": "", "train.min_improvement": 0.0, "data.encoding": "utf-8",
              "train.sample_no_repeat_ngram_size": 0, "train.state_reset": 0.0,
              "data.lrc_in_txt": False}


def from_saved(raw: dict, source: str) -> Config:
    """The config of a saved run (a checkpoint sidecar's), keys added since as in ADDED_KEYS."""
    if isinstance(raw, dict):
        raw = {section: dict(values) if isinstance(values, dict) else values
               for section, values in raw.items()}
        for key, value in ADDED_KEYS.items():
            section, name = key.split(".")
            if isinstance(raw.get(section), dict):
                raw[section].setdefault(name, value)
    return from_dict(raw, source)


def from_dict(raw: dict, source: str = "config", override_keys=frozenset()) -> Config:
    """Build a validated Config from nested dicts (a YAML file, a checkpoint sidecar)."""
    _check_shape(raw, source)
    sections: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in raw.get(section, {}):
                key = f"{section}.{f.name}"
                where = "--set" if key in override_keys else source
                values[f.name] = _coerce(raw[section][f.name], f, key, where)
        sections[section] = cls(**values)
    m, t = sections["model"], sections["train"]

    def named_by(*keys):                  # a rule about several keys: who set one of them
        return "--set" if any(k in override_keys for k in keys) else source

    if m.cache_weight + m.cache_match_weight >= 1:
        who = named_by("model.cache_weight", "model.cache_match_weight")
        raise ConfigError(f"{who}: model.cache_weight + model.cache_match_weight must be below 1 "
                          f"(got {m.cache_weight} + {m.cache_match_weight})")
    if m.tie_weights and m.embed_size != m.hidden_size:
        who = named_by("model.tie_weights", "model.embed_size", "model.hidden_size")
        raise ConfigError(f"{who}: model.tie_weights needs model.embed_size == model.hidden_size "
                          f"(got {m.embed_size} and {m.hidden_size}): set model.embed_size to "
                          f"{m.hidden_size} too, or model.tie_weights to false")
    if t.state_reset and not t.carries_state:
        who = named_by("train.state_reset", "train.hidden_state", "train.sampler")
        raise ConfigError(f"{who}: train.state_reset {t.state_reset} resets a carried state, but "
                          f"every batch starts from zeros here (train.sampler {t.sampler}, "
                          f"train.hidden_state {t.hidden_state}): set train.state_reset to 0, "
                          "or train.hidden_state to carry")
    return Config(**sections)


def _kind(f: dataclasses.Field) -> type:
    """The type of a field's values: its default's, or tuple for a list (train.prefixes)."""
    return type(f.default) if f.default is not dataclasses.MISSING else tuple


def _yaml_hint(value: Any, kind: type) -> str:
    """For a number that YAML read as text (written in quotes), to leave the quotes out; for
    text that YAML read as a number or a flag (out_dir: 2024, prefixes: [yes]), to quote it;
    empty for anything else."""
    scalars = value if isinstance(value, list) else [value]
    if kind in (str, tuple) and any(isinstance(v, (bool, int, float)) for v in scalars):
        return " (YAML did not read it as text: put it in quotes)"
    if not isinstance(value, str) or kind not in (int, float):
        return ""
    written = _written_number(value.strip())
    if written and (kind is float or "." not in written):
        return f" (write {written})"
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):                       # nan, inf: not a setting's value
        return ""
    if kind is int and not number.is_integer():
        return ""
    return " (a number in quotes is text to YAML: leave the quotes out)"


def _written_number(text: str) -> str | None:
    """A number written as people write one, as YAML writes it: 10% -> 0.1, 10,000 -> 10000,
    10k -> 10000, 5万 -> 50000; None for anything else."""
    scale = {"%": 0.01, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "万": 1e4}.get(text[-1:], 1)
    digits = text[:-1].strip() if scale != 1 else text
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?|[0-9]{1,3}(?:,[0-9]{3})+", digits):
        return None
    if scale == 1 and "," not in digits:
        return None                                     # a plain number in quotes: not here
    number = float(digits.replace(",", "")) * scale
    return f"{number:.10g}" if number % 1 else str(int(number))


_OFF = {"none", "null", "off", "no", "false", "never", "disabled", "disable", "inf", "infinity"}


def _off_hint(value: Any, kind: type, help: str) -> str:
    """For a number setting given as none, off, false or null (YAML reads `off` and `no` as
    false) where 0 means off, as its `help` says (train.clip, train.patience, ...): say so."""
    zero = re.search(r"\(0: ([^;)]*)", help)
    off = value is None or value is False or (isinstance(value, str) and value.lower() in _OFF)
    return f" (0: {zero[1]})" if zero and off and kind in (int, float) else ""


def _flow(value: list | dict) -> str:
    """A list or a mapping as YAML writes it on one line ([分开, ''], {a: 1}), as the user did."""
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True,
                          width=math.inf).strip()


def _coerce(value: Any, f: dataclasses.Field, key: str, where: str) -> Any:
    """Check one value against its field's type and rules; return it in canonical form."""
    rules = f.metadata
    kind = _kind(f)

    def bad(expected: str, hint: str = "") -> ConfigError:
        got = (f"the string {value!r}" if isinstance(value, str) else "no value" if value is None
               else shown(value) if isinstance(value, bool) else _flow(value)
               if isinstance(value, (list, dict)) else f"the date {value}"
               if isinstance(value, datetime.date) else repr(value))    # (tagged !!timestamp)
        hint = (hint or _yaml_hint(value, kind) or _off_hint(value, kind, rules.get("help", ""))
                or (" (to YAML, yes/no and on/off are true/false too)"
                    if isinstance(value, bool) else ""))
        return ConfigError(f"{where}: {key}: expected {expected}, got {got}{hint}")

    if kind is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
                value = int(value)
            else:
                raise bad("a whole number")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        value = float(value)
        if not math.isfinite(value):
            raise bad("a finite number")
    elif kind is str:
        if value is None and rules.get("empty"):
            value = ""                                          # YAML's `key:` with no value
        if not isinstance(value, str) or not (value or rules.get("empty")):
            several = (f" (one path: {rules['several']})"      # (what to do with a list)
                       if "several" in rules and isinstance(value, (list, tuple)) else "")
            raise bad("a string" if rules.get("empty") else "a non-empty string", several)
        if rules.get("path"):
            if "\0" in value:                         # ("\0" in YAML's double quotes)
                raise bad("a path", " (no path holds a NUL character)")
            value = os.path.expanduser(value)           # ~/lyrics.txt, as a shell would
    elif kind is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise bad("a list of non-empty strings")
        value = tuple(value)

    if "choices" in rules and value not in rules["choices"]:
        meant = _meant(value, rules["choices"])
        raise bad("one of " + ", ".join(rules["choices"]), f" (write {meant})" if meant else "")
    if "min" in rules and value < rules["min"]:
        raise bad(f"a value >= {rules['min']}")
    if "min_exclusive" in rules and value <= rules["min_exclusive"]:
        raise bad(f"a value > {rules['min_exclusive']}")
    if "max" in rules and value > rules["max"]:
        raise bad(f"a value <= {rules['max']}")
    if "below" in rules and value >= rules["below"]:
        lo = rules.get("min", rules.get("min_exclusive"))
        raise bad(f"a value in [{lo}, {rules['below']})")
    return value


# What other tools and texts call the choices: d2l's sequential partitioning and the tutorial's
# adjacent sampling are the consecutive sampler, a vanilla (Elman) RNN is rnn, ...
_OTHER_NAMES = {"sequential": "consecutive", "adjacent": "consecutive", "shuffle": "random",
                "shuffled": "random", "vanilla": "rnn", "elman": "rnn", "simple": "rnn",
                "keep": "carry", "stateful": "carry", "detach": "carry", "zero": "reset",
                "zeros": "reset", "stateless": "reset", "average": "mean", "avg": "mean",
                "total": "sum", "iso8859-1": "cp1252", "ascii": "utf-8"}   # (their supersets)


def _meant(value: str, choices: tuple) -> str | None:
    """The choice `value` was meant as, by its case or spacing (GRU, ' lstm'), by the name
    another tool gives it (sequential), or, for an encoding, by Python's name for it (utf8,
    cp936) or the one that reads all it reads (latin1: cp1252); else None."""
    import codecs

    near = value.strip().lower()
    near = _OTHER_NAMES.get(near.replace("_", "-"), near)
    if near not in choices and "utf-8" in choices:                   # data.encoding's choices
        try:
            name = codecs.lookup(near).name
        except (LookupError, ValueError):                  # (ValueError: a NUL in the name)
            name = near
        near = _OTHER_NAMES.get(name, name)
    return near if near in choices else None


def to_dict(cfg: Config) -> dict:
    """Nested plain dicts (lists for tuples), ready for YAML or JSON."""
    out = {}
    for section in SECTIONS:
        values = dataclasses.asdict(getattr(cfg, section))
        out[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return out


def differences(a: Config, b: Config) -> dict[str, tuple]:
    """The dotted keys whose values differ between `a` and `b`, in order: (a's, b's), as
    `to_dict` gives them."""
    x, y = to_dict(a), to_dict(b)
    return {f"{section}.{key}": (x[section][key], y[section][key]) for section in SECTIONS
            for key in x[section] if x[section][key] != y[section][key]}


def dump(cfg: Config) -> str:
    """The config as YAML text, sections and keys in their defined order. Characters are written
    as themselves unless PyYAML would not read them back (a NEL in a prefix, say)."""
    data = to_dict(cfg)
    text = yaml_file.dump(data)
    if yaml.load(text, Loader=yaml_file.NumberLoader) != data:
        text = yaml_file.dump(data, allow_unicode=False)
    return text


def shown(value: Any) -> str:
    """A value as a message names it, written as YAML and --set take it: a flag true or false
    (not Python's True), a list [a, b]."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(shown, value)) + "]"
    return str(value)
