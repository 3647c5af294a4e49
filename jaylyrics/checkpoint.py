"""Checkpoints: weights (in `mx.nd.save`'s format) plus a JSON sidecar, written atomically as a
pair.

A run directory holds:

    config.yaml                  the resolved configuration of the run
    metrics.csv                  one row per epoch
    best.json, last.json         sidecars: format, config, vocabulary, shapes, epoch, metrics,
                                 and the name and sha256 of their weights file
    weights-<sha256[:16]>.params the weights, named by their content
    optimizer-<sha256[:16]>.params  the optimiser's moments, named by last.json (for --resume)

Each weights file is written to a temporary name, fsynced and renamed; then the sidecar is
written the same way. Renaming the sidecar is the commit: a reader always finds the weights its
sidecar names (and checks their hash), so it never pairs new weights with an old sidecar, and a
crash at any point leaves the previous checkpoint loadable. Weights files no sidecar names are
removed afterwards.

`resolve` finds the checkpoint that --checkpoint names (a run directory, a file, a run's name, or
the run that `runs/latest` names: see `runs`); `sample` and `eval` read several checkpoints as
one (an ensemble) with `load_networks`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from jaylyrics import CheckpointError, ConfigError, __version__, windows_path
from jaylyrics import config as config_mod, ndarray_file
from jaylyrics.corpus import Vocab
from jaylyrics.reading import is_corpus_name
from jaylyrics.files import atomic_write
from jaylyrics.runs import (LATEST, by_name, has_checkpoint, latest_run, latest_target,
                            leftovers, lock_holder, missing_run_hint, project_latest, run_summary,
                            runs_inside)

FORMAT = 2          # 2: weight matrices stored as (out, in); format 1 (read too) had (in, out)


@dataclass
class Checkpoint:
    path: Path           # the sidecar
    config: "config_mod.Config"
    vocab: Vocab
    params: dict         # name -> NDArray on the device asked for (NumPy array without one)
    meta: dict           # the whole sidecar

    def __repr__(self) -> str:         # (not every weight and the whole sidecar)
        m = self.config.model
        params = int(sum(np.prod(p.shape) for p in self.params.values()))
        return (f"Checkpoint({str(self.path)!r}: {m.type} {m.num_layers}x{m.hidden_size}, "
                f"{params:,} parameters, vocabulary of {len(self.vocab):,}, epoch "
                f"{self.meta.get('epoch', '?')})")


def without_cache(ck: Checkpoint) -> Checkpoint:
    """The loaded checkpoint as its network alone (--no-cache): model.cache_size 0."""
    model_cfg = replace(ck.config.model, cache_size=0)
    return replace(ck, config=replace(ck.config, model=model_cfg))


@dataclass
class Networks:
    """What --checkpoint names: the first checkpoint (its vocabulary, cache and data settings
    serve all) and the others, whose networks are read as one with its own (an ensemble)."""

    ck: Checkpoint                  # weights as NumPy arrays
    rest: list

    @property
    def others(self) -> tuple:
        """(params, model_cfg) of the other networks, for `sample` and `score`."""
        return tuple((c.params, c.config.model) for c in self.rest)

    def name(self) -> str:
        """The checkpoints' paths, for a line of output: `a/best.json + b/best.json`."""
        return " + ".join(str(c.path) for c in (self.ck, *self.rest))

    def json_fields(self) -> dict:
        """"checkpoint": the first one; for an ensemble also "ensemble": all of them."""
        fields = {"checkpoint": str(self.ck.path)}
        if self.rest:
            fields["ensemble"] = [str(c.path) for c in (self.ck, *self.rest)]
        return fields


def load_networks(paths, no_cache: bool, overrides=(), allowed="model.cache_") -> Networks:
    """The checkpoints --checkpoint names (default: runs/latest), with NumPy weights; the others
    must have the first one's vocabulary. The first one's cache is the one used: with
    `overrides` (--set model.cache_*=VALUE, or other keys `allowed`) its settings change, with
    --no-cache it is left out."""
    from jaylyrics import InputError

    loaded = [load(path) for path in paths or (None,)]
    first = loaded[0]
    if overrides:
        first = replace(first, config=config_mod.override(first.config, overrides, allowed))
    for i, other in enumerate(loaded[1:], 1):
        if any(other.path.resolve() == c.path.resolve() for c in loaded[:i]):
            raise InputError(f"--checkpoint {other.path} is given twice; an ensemble of a network "
                             "with itself is that network (give each checkpoint once)")
        if other.vocab != first.vocab:
            raise InputError(f"--checkpoint {other.path}: its vocabulary ({len(other.vocab):,} "
                             f"characters) is not that of {first.path} ({len(first.vocab):,}); "
                             "an ensemble needs networks trained on the same corpus")
    return Networks(without_cache(first) if no_cache else first, loaded[1:])


def on_device(ck: Checkpoint, ctx) -> Checkpoint:
    """A checkpoint loaded with NumPy arrays (`load` without a device), its weights as NDArrays
    on `ctx`, as `load(path, ctx)` would have given them."""
    return replace(ck, params={name: _on(value, ctx) for name, value in ck.params.items()})


def _write_arrays(run_dir: Path, prefix: str, arrays: dict) -> tuple[str, str]:
    """Save NDArrays (or NumPy arrays) to `<prefix>-<sha256[:16]>.params` in `mx.nd.save`'s
    format (atomically; content-named, so an unchanged file is not rewritten). Returns (file
    name, sha256)."""
    data = ndarray_file.dump({name: a if isinstance(a, np.ndarray) else a.asnumpy()
                              for name, a in arrays.items()})
    digest = hashlib.sha256(data).hexdigest()
    path = run_dir / f"{prefix}-{digest[:16]}.params"
    if not path.exists():
        atomic_write(path, data)
    return path.name, digest


def save(run_dir: Path, tag: str, params: dict, cfg, vocab: Vocab, epoch: int,
         metrics: dict, resume: dict | None = None, optimizer_arrays: dict | None = None) -> Path:
    """Write `<tag>.json` and the weights it names into `run_dir`; return the sidecar's path.
    With `resume` (the loop's progress) and `optimizer_arrays` (its moments), the checkpoint
    also holds what `train --resume` needs to continue exactly."""
    run_dir.mkdir(parents=True, exist_ok=True)
    weights, digest = _write_arrays(run_dir, "weights", params)
    sidecar = {
        "format": FORMAT,
        "jaylyrics": __version__,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "epoch": epoch,
        "metrics": metrics,
        "weights": weights,
        "sha256": digest,
        "shapes": {name: list(p.shape) for name, p in params.items()},
        "vocab": vocab.chars,
        "config": config_mod.to_dict(cfg),
    }
    if resume is not None:
        name, sha = _write_arrays(run_dir, "optimizer", optimizer_arrays or {})
        sidecar["resume"] = dict(resume, optimizer=name, optimizer_sha256=sha)
    path = run_dir / f"{tag}.json"
    atomic_write(path, (json.dumps(sidecar, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    _remove_unreferenced(run_dir)
    return path


def _remove_unreferenced(run_dir: Path) -> None:
    """Remove the weights and optimiser files that no sidecar names any more, and what a
    process killed while writing one left (`runs.leftovers`)."""
    for path in leftovers(run_dir):
        path.unlink(missing_ok=True)
    named = set()
    for sidecar in run_dir.glob("*.json"):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            named.update((meta.get("weights"), (meta.get("resume") or {}).get("optimizer")))
        except (OSError, ValueError, AttributeError):
            return                      # leave everything alone if any sidecar is unreadable
    for pattern in ("weights-*.params", "optimizer-*.params"):
        for path in run_dir.glob(pattern):
            if path.name not in named:
                path.unlink(missing_ok=True)


def load_resume(run: str | Path | None, ctx) -> tuple[Checkpoint, dict]:
    """The last checkpoint of a run (default: runs/latest) and its optimiser arrays, for
    `train --resume`."""
    run_dir = resolve(run, option="--resume RUN").parent
    if not (run_dir / "last.json").exists():
        raise CheckpointError(f"{run_dir}: no last.json to resume from")
    ck = load(run_dir / "last.json", ctx)
    info = ck.meta.get("resume")
    if not isinstance(info, dict) or "optimizer" not in info:
        raise CheckpointError(f"{ck.path}: this checkpoint cannot be resumed (no training state "
                              "in it; it was written by an older jaylyrics)")
    arrays = _read_arrays(run_dir / str(info["optimizer"]), info.get("optimizer_sha256"),
                          "optimiser state", ck.path)
    arrays = _to_current_layout(arrays or {}, ck.meta["format"])
    return ck, {k: _on(v, ctx) for k, v in arrays.items()}


def _read_arrays(path: Path, sha256: str | None, what: str, sidecar: Path):
    """The arrays `mx.nd.save` wrote to `path`, as NumPy arrays (read without MXNet), once its
    bytes match the sidecar's sha256. The file is read once: what is checked is what is
    loaded."""
    if not path.is_file():
        raise CheckpointError(f"{sidecar}: its {what} file {path.name} is missing")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"{path}: truncated or corrupt {what} (sha256 does not match "
                              f"{sidecar.name})")
    try:
        return ndarray_file.load(data)
    except ValueError as e:
        raise CheckpointError(f"{path}: unreadable {what} file ({e})") from None


def _on(array, ctx):
    """A NumPy array as an NDArray on `ctx`; without a device (None), as it is."""
    if ctx is None:
        return array
    from jaylyrics.backend import nd

    return nd.array(array, ctx=ctx, dtype=array.dtype)


def _to_current_layout(arrays: dict, fmt: int) -> dict:
    """Arrays (weights, or optimiser moments named `<weight>.mean` / `.var`) of a checkpoint of
    format `fmt`, in this version's layout: format 1 stored W_xh, W_hh and W_hq transposed."""
    from jaylyrics import model

    if fmt >= 2 or not isinstance(arrays, dict):
        return arrays

    def legacy(key: str) -> bool:
        base = key.rsplit(".", 1)[0] if key.endswith((".mean", ".var")) else key
        return base.endswith(model.TRANSPOSED_SINCE_FORMAT_2)
    return {k: v.T if legacy(k) and v.ndim == 2 else v for k, v in arrays.items()}


def resolve(path: str | Path | None, option: str = "--checkpoint PATH") -> Path:
    """--checkpoint: a run directory (its best checkpoint, else its last), a sidecar, a weights
    file, a run's name under runs/ (`large` for runs/large, unless ./large exists), or None for
    the run that `runs/latest` names. Returns the sidecar's path. `option` is how the user
    names a run instead, for the error when there is no latest run."""
    if path is None:
        run = latest_run()
        if run is None:
            others = runs_inside(LATEST.parent, f"{LATEST.parent}/")    # (runs kept there)
            if LATEST.is_symlink() or LATEST.is_file():
                raise CheckpointError(f"{LATEST} names {latest_target()}, which no longer exists: "
                                      f"run `jaylyrics train` or pass {option}{others}")
            if others:                  # (runs/latest removed, or the runs copied here)
                raise CheckpointError(f"no run is marked as the one trained last ({LATEST} does "
                                      f"not exist here): pass {option}{others}")
            project = project_latest()
            hint = (f" (the project's: {option.split()[0]} {shlex.quote(str(project))})"
                    if project else "")
            raise CheckpointError(f"no trained run found ({LATEST} does not exist here): run "
                                  f"`jaylyrics train` first or pass {option}{hint}")
        path = run
    path = by_name(Path(path))
    if not path.exists():
        runs = windows_path(path) or missing_run_hint(path)
        raise CheckpointError(f"{path}: no such checkpoint (expected a run directory, a .json "
                              f"checkpoint file or the name of a run under {LATEST.parent}/){runs}")
    if path.is_dir():
        for tag in ("best", "last"):
            if (path / f"{tag}.json").exists():
                return path / f"{tag}.json"
        pid = lock_holder(path)
        if pid:
            raise CheckpointError(f"{path}: no checkpoint yet: a training (process {pid}) is in "
                                  "its first epoch here, and saves one at its end")
        held = run_summary(path)
        if held and held["status"] == "no checkpoint":
            raise CheckpointError(f"{path}: no checkpoint: the training here ended before the "
                                  "end of its first epoch, which saves the first; train it "
                                  "again with `jaylyrics train --config "
                                  f"{shlex.quote(str(path / 'config.yaml'))}`")
        raise CheckpointError(f"{path}: no checkpoint in this directory (expected best.json or "
                              f"last.json){runs_inside(path)}")
    if path.suffix == ".params":
        optimiser_of = None
        for sidecar in sorted(path.parent.glob("*.json")):
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
                if meta.get("weights") == path.name:
                    return sidecar
                if (meta.get("resume") or {}).get("optimizer") == path.name:
                    optimiser_of = sidecar
            except (OSError, ValueError, AttributeError):
                continue
        if optimiser_of is not None:
            raise CheckpointError(f"{path}: the optimiser state that {optimiser_of} saved for "
                                  f"--resume, not weights: pass {optimiser_of} or {path.parent}")
        raise CheckpointError(f"{path}: no sidecar (.json) in {path.parent} names these weights")
    if path.suffix != ".json":
        raise CheckpointError(f"{path}: not a checkpoint (expected a run directory, a .json "
                              f"sidecar or a weights .params file){_mixed_up(path, option)}")
    return path


def _mixed_up(path: Path, option: str) -> str:
    """For a file given as a checkpoint that is another of jaylyrics' inputs: a config (the run
    it trains, in its train.out_dir) or a corpus (what takes one). '' for anything else."""
    if is_corpus_name(path.name):
        given = shlex.quote(str(path))
        return (f"; this is a corpus: --set data.corpus={given} trains on it (with --init-from "
                f"RUN: fine-tunes RUN on it), and eval --text {given} scores it")
    if path.suffix.lower() not in (".yaml", ".yml"):
        return ""
    try:
        out_dir = Path(config_mod.load(path).train.out_dir)
    except ConfigError:                  # a broken config: the error above is enough
        return ""
    goes_on = (f": {option.split()[0]} {shlex.quote(str(out_dir))}" if has_checkpoint(out_dir)
               else f", not trained yet: jaylyrics train --config {shlex.quote(str(path))}")
    return f"; this is a config, whose run is its train.out_dir {out_dir}{goes_on}"


def load(path: str | Path | None, ctx=None) -> Checkpoint:
    """Load and check a checkpoint: sidecar, config, vocabulary, weights hash and shapes. When a
    run's best checkpoint is damaged, the error points at its last one, if that loads. The
    parameters are NDArrays on the device `ctx`, or, without one, NumPy arrays: MXNet is then
    not imported (`sample` runs the network in NumPy)."""
    path = resolve(path)
    try:
        return _load(path, ctx)
    except CheckpointError as e:
        last = path.with_name("last.json")
        if path.name != "best.json" or not _loads(last):
            raise
        raise CheckpointError(f"{e}; the run's last checkpoint loads: --checkpoint "
                              f"{shlex.quote(str(last))}") from None


def _loads(path: Path) -> bool:
    """Whether the checkpoint at `path` loads (for the hint after a damaged best one: the two
    may share their weights file)."""
    try:
        _load(path, None)
    except (CheckpointError, OSError):
        return False
    return True


def _read_sidecar(path: Path) -> bytes:
    """The sidecar's bytes, read once: what is parsed is what `_replaced` compares."""
    return path.read_bytes()


def _replaced(path: Path, raw: bytes) -> bool:
    """Whether the sidecar at `path` no longer holds `raw`: a training still running has saved
    a new checkpoint under its name (and removed the weights the old one named)."""
    try:
        return _read_sidecar(path) != raw
    except OSError:
        return False


def _load(path: Path, ctx, again: bool = True) -> Checkpoint:
    from jaylyrics import model

    try:
        raw = _read_sidecar(path)
    except OSError as e:                  # not ours to read (another user's run), a directory
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint sidecar ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("format"), int):
        raise CheckpointError(f"{path}: not a jaylyrics checkpoint sidecar (no format number)")
    if meta["format"] > FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta['format']} is newer than this "
                              f"jaylyrics ({__version__}) reads (format {FORMAT}); upgrade "
                              "jaylyrics")
    for key in ("weights", "sha256", "vocab", "config", "shapes"):
        if key not in meta:
            raise CheckpointError(f"{path}: corrupt checkpoint sidecar (no '{key}')")
    try:
        cfg = config_mod.from_saved(meta["config"], source=f"{path} (config)")
    except Exception as e:   # noqa: BLE001 -- any malformed config in a sidecar is corruption
        raise CheckpointError(f"{path}: corrupt checkpoint config: {e}") from None
    vocab = Vocab(str(meta["vocab"]))
    weights = path.parent / str(meta["weights"])
    if again and not weights.is_file() and _replaced(path, raw):    # read it anew, once
        return _load(path, ctx, again=False)
    loaded = _to_current_layout(_read_arrays(weights, meta["sha256"], "weights", path),
                                meta["format"])
    expected = model.param_shapes(cfg.model, len(vocab))
    if not isinstance(loaded, dict) or set(loaded) != set(expected):
        got = sorted(loaded) if isinstance(loaded, dict) else "a list"
        raise CheckpointError(f"{weights}: parameters {got} do not match a {cfg.model.type} model "
                              f"({sorted(expected)})")
    for name, shape in expected.items():
        if tuple(loaded[name].shape) != shape:
            raise CheckpointError(f"{weights}: parameter {name} has shape "
                                  f"{tuple(loaded[name].shape)}, the sidecar's model needs {shape}")
    params = {name: _on(loaded[name], ctx) for name in expected}
    return Checkpoint(path, cfg, vocab, params, meta)


def config_edits(ck: Checkpoint) -> tuple:
    """(its run's config.yaml as a Config, {key: (the checkpoint's value, config.yaml's)} for
    each key edited there since the run was saved: train.out_dir and train.init_from, which say
    where the run is and came from, left out); (the checkpoint's config, {}) without one. A
    config.yaml that does not read is a ConfigError naming it."""
    path = ck.path.parent / "config.yaml"
    if not path.is_file():
        return ck.config, {}
    in_file = config_mod.from_saved(config_mod.read_yaml(path), str(path))
    edited = config_mod.differences(ck.config, in_file)
    for key in ("train.out_dir", "train.init_from"):
        edited.pop(key, None)
    return in_file, edited


def data_config(ck: Checkpoint):
    """The data config of a loaded checkpoint's run, its corpus where to read it (`_located`).
    A corpus that has moved since this checkpoint was saved, and that the run was resumed from
    with --set data.corpus=NEW since, is where the run's last.json says: best.json keeps the
    path it was saved with."""
    data = _located(ck, ck.config.data)
    if Path(data.corpus).exists() or ck.path.name == "last.json":
        return data
    try:
        resumed = _run_last(ck)["config"]["data"]["corpus"]
    except (KeyError, TypeError):
        return data
    if not isinstance(resumed, str) or resumed == ck.config.data.corpus:
        return data
    moved = _located(ck, replace(ck.config.data, corpus=resumed))
    return moved if Path(moved.corpus).exists() else data


def corpus_changed(ck: Checkpoint, data) -> bool:
    """Whether `data` (a corpus as `corpus.load` read it) is not the text the run of `ck` was
    last trained on, by the fingerprint its last.json keeps (runs saved before it was kept, and
    runs without a readable last.json, count as unchanged: nothing to tell)."""
    from jaylyrics import corpus

    try:
        was = _run_last(ck)["resume"]["corpus_sha256"]
    except (KeyError, TypeError):
        return False
    return isinstance(was, str) and was != corpus.fingerprint(data)


def _run_last(ck: Checkpoint) -> dict:
    """The sidecar of the run's last.json (`ck`'s own, if it is that one), or {} when there is
    none that reads: only looked up for what has a fallback, so it never raises."""
    if ck.path.name == "last.json":
        return ck.meta
    try:
        last = json.loads((ck.path.parent / "last.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return last if isinstance(last, dict) else {}


def _located(ck: Checkpoint, data):
    """`data` (a data config of the run of `ck`) with its corpus where to read it. A relative
    data.corpus was read from the directory the run was trained in, which is the run directory
    with its relative train.out_dir taken off (runs/default in ~/jay/runs/default: ~/jay): read
    it there, from wherever this is. Otherwise (moved, renamed, or absolute paths) as configured."""
    configured, out_dir = Path(data.corpus), Path(ck.config.train.out_dir)
    run, n = ck.path.parent.resolve().parts, len(out_dir.parts)
    if configured.is_absolute() or out_dir.is_absolute() or not n or run[-n:] != out_dir.parts:
        return data
    trained_in = Path(*run[:-n])
    if trained_in == Path.cwd().resolve() or not (trained_in / configured).exists():
        return data                                      # from here, or the error names it
    return replace(data, corpus=str(trained_in / configured))


def corpus_gone(ck: Checkpoint, data_cfg, use: str, remedy: str) -> None:
    """Raise if the corpus `data_cfg` names (`data_config`'s) is not there: the run's corpus has
    moved or gone since it was trained. `use`: what the command reads it for; `remedy`: what
    else it can do."""
    from jaylyrics import InputError

    corpus = Path(data_cfg.corpus)
    if corpus.exists():
        return
    where = "" if corpus.is_absolute() else f" (from {Path.cwd()})"
    raise InputError(f"{corpus}: no such file{where}: the corpus {ck.path.parent} was trained on "
                     f"(its data.corpus{use}) has moved or gone; put it back, or {remedy}")

