"""What a run keeps to go on: where it stands (`Progress`, and `Partial` inside an interrupted
epoch), saved with the weights and the optimiser's moments into last.json, read back for
`train --resume`, the config it resumes with (its own, with what was edited in its config.yaml),
and the checks a resumed run must pass (an epoch left to train; no `--set` that its saved state
cannot follow).
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from jaylyrics import (CheckpointError, ConfigError, JaylyricsError, checkpoint, counted, runs)
from jaylyrics.config import shown
from jaylyrics.optim import Optimizer


@dataclass
class Progress:
    """Where a run stands after its last finished epoch: what `train --resume` restores."""

    epoch: int = 0
    best: float = math.inf
    best_epoch: int = 0
    stale: int = 0                # epochs since the score last improved by train.min_improvement
    elapsed: float = 0.0
    partial: "Partial | None" = None         # the unfinished next epoch, when interrupted
    metrics: dict = field(default_factory=dict)   # of the last finished epoch
    reference: float = math.inf   # the score that last reset `stale` (min_improvement 0: the best)


@dataclass
class Partial:
    """How far an unfinished epoch got (at an interrupt, or at a `train.save_every` save):
    batches done, their loss, the carried state, and the sum of their gradient norms and how
    many were clipped."""

    batches: int
    loss_sum: float
    count: int
    state: tuple
    grad_sum: float = 0.0
    clipped: int = 0


def save_last(run_dir, params, cfg, vocab, progress: Progress, optimizer: Optimizer,
              corpus_sha256: str | None = None) -> None:
    """last.json: the weights now, and everything `--resume` needs to go on from here (with the
    fingerprint of the text trained on, `corpus.fingerprint`, to tell a changed corpus)."""
    info = {"epoch": progress.epoch,
            "best": progress.best if math.isfinite(progress.best) else None,
            "best_epoch": progress.best_epoch, "stale": progress.stale,
            "reference": progress.reference if math.isfinite(progress.reference) else None,
            "elapsed": progress.elapsed, "lr": optimizer.lr, "steps": optimizer.steps}
    if corpus_sha256:
        info["corpus_sha256"] = corpus_sha256
    arrays = optimizer.arrays()
    if progress.partial is not None:
        p = progress.partial
        info["partial"] = {"batches": p.batches, "loss_sum": p.loss_sum, "count": p.count,
                           "state": len(p.state), "grad_sum": p.grad_sum, "clipped": p.clipped}
        arrays.update({f"state:{i}": s for i, s in enumerate(p.state)})
    checkpoint.save(run_dir, "last", params, cfg, vocab, progress.epoch, progress.metrics,
                    resume=info, optimizer_arrays=arrays)


def check_epochs_left(progress: Progress, train_cfg, run_dir: Path) -> None:
    """A resumed run must have an epoch to train: not when it has trained train.epochs already,
    nor when it stopped early and would stop again after one more epoch. Raises a
    JaylyricsError naming the key that lets it go on."""
    done = progress.epoch
    where = runs.standing(done, progress.stale, progress.partial is not None,
                                train_cfg.epochs, train_cfg.patience)
    if where == "done":
        raise JaylyricsError(f"{run_dir} has trained its {counted(done, 'epoch')} "
                             f"(train.epochs {train_cfg.epochs}): to train longer, resume with "
                             f"--set train.epochs=N (N > {done})")
    if where == "stopped early":
        stale = counted(progress.stale, "epoch")
        raise JaylyricsError(f"{run_dir} stopped early after epoch {done} (no improvement for "
                             f"{stale}, train.patience {train_cfg.patience}): to go on, resume "
                             f"with --set train.patience=N (N > {progress.stale}) or "
                             "train.patience=0 (no early stopping)")


# What a resumed run may change, by --set or by an edit of its config.yaml: the train.* keys
# (but the optimiser, whose saved moments belong to the one it has: refused by `check_settings`
# and `edited_config`) and where its corpus is now.
EDITABLE = ("train.", "data.corpus")


def edited_config(ck):
    """The config to resume the run saved in `ck` with: its own, with the values of its
    config.yaml where that was edited since (to train longer, one changes train.epochs there;
    to read a corpus that has moved, data.corpus) in the keys that --set may change too, and the
    keys so taken, as {key: (saved value, edited value)} (--set still wins). Any other key
    edited there is a ConfigError naming the file: the network, the text and the optimiser stay
    as the run was trained. A config.yaml that is gone changes nothing; train.out_dir and
    train.init_from, which say where the run is and came from, are not read."""
    path = ck.path.parent / "config.yaml"
    in_file, edited = checkpoint.config_edits(ck)
    for key, (was, now) in edited.items():
        if not key.startswith(EDITABLE) or key == "train.optimizer":
            raise ConfigError(f"{path} sets {key} to {shown(now)}, where the run was saved with "
                              f"{shown(was)}: "
                              "a resumed run keeps its network, data and optimiser (only train.* "
                              "keys and data.corpus may change); put it back, or train a new run "
                              f"with it: jaylyrics train --config {shlex.quote(str(path))} --set "
                              "train.out_dir=DIR")
    sections = {}
    for key in edited:
        section, name = key.split(".")
        sections.setdefault(section, {})[name] = getattr(getattr(in_file, section), name)
    return dataclasses.replace(ck.config, **{
        section: dataclasses.replace(getattr(ck.config, section), **values)
        for section, values in sections.items()}), edited


# The keys that decide how an epoch is cut into batches and in which order (the seed also draws
# its dropout masks): an epoch interrupted midway is finished with the values it started with.
BATCHING_KEYS = ("batch_size", "num_steps", "sampler", "seed")


def check_settings(ck, cfg, progress: Progress, workers: int = 1) -> None:
    """What `--set` may not change when resuming the run saved in `ck`, where `progress` (from
    `restore`) says it stands: its directory, the optimiser (its saved moments belong to
    the one it has), and, inside an interrupted epoch, how that epoch is cut into batches (the
    carried state has the old batch size; the batches done were the old ones). Raises a
    JaylyricsError saying how to go on."""
    was, now, run = ck.config.train, cfg.train, ck.path.parent
    if now.out_dir != was.out_dir:
        raise JaylyricsError(
            f"--set train.out_dir={now.out_dir}: a resumed run goes on in its own directory "
            f"({run}); to go on elsewhere, copy that directory and resume the copy")
    if now.optimizer != was.optimizer:
        raise JaylyricsError(
            f"--set train.optimizer={now.optimizer}: {run} trains with {was.optimizer}, whose "
            f"saved state cannot go on as {now.optimizer}; start a new run from its weights "
            f"instead: jaylyrics train --init-from {shlex.quote(str(run))} --set "
            f"train.optimizer={now.optimizer} --set train.out_dir=DIR")
    if progress.partial is None:
        return
    epoch = progress.epoch + 1
    where = f"{run} was interrupted inside epoch {epoch} (after batch {progress.partial.batches})"
    if workers > 1:                            # each worker would train a shard: other batches
        raise JaylyricsError(
            f"{where} in a single process, whose batches {workers} workers would cut "
            f"differently: finish that epoch first with `jaylyrics train --resume "
            f"{shlex.quote(str(run))} --set "
            f"train.epochs={epoch}`, then resume it through launch")
    changed = [k for k in BATCHING_KEYS if getattr(now, k) != getattr(was, k)]
    if changed:
        olds = ", ".join(f"train.{k} {getattr(was, k)}" for k in changed)
        raise JaylyricsError(
            f"{where}, whose other batches need what it started with: {olds}. Finish that epoch "
            f"first (resume with --set train.epochs={epoch} and without changing "
            f"{'it' if len(changed) == 1 else 'them'}), then resume with the new values")


def restore(ck, optimizer_arrays: dict, cfg) -> tuple:
    """(params, optimizer, progress) from a checkpoint loaded by `checkpoint.load_resume`. A
    training state that does not read (a sidecar edited by hand or damaged: its hash covers
    only the weights) is a CheckpointError."""
    try:
        return _restore(ck, optimizer_arrays, cfg)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        what = f"no {e}" if isinstance(e, KeyError) else str(e)
        raise CheckpointError(f"{ck.path}: corrupt training state ({what}); cannot resume (its "
                              "weights still load for sample and eval)") from None


def _restore(ck, optimizer_arrays: dict, cfg) -> tuple:
    info = ck.meta["resume"]
    params = ck.params
    for p in params.values():
        p.attach_grad()
    # the learning rate where the run left it (decayed, maybe), unless --set gives a new one
    lr = cfg.train.lr if cfg.train.lr != ck.config.train.lr else float(info["lr"])
    optimizer = Optimizer(cfg.train.optimizer, lr, cfg.train.weight_decay, steps=int(info["steps"]))
    arrays = dict(optimizer_arrays)             # the moments, and a carried state if partial
    partial, p = None, info.get("partial")
    if p:
        state = tuple(arrays.pop(f"state:{i}") for i in range(int(p["state"])))
        partial = Partial(int(p["batches"]), float(p["loss_sum"]), int(p["count"]), state,
                          float(p.get("grad_sum", 0.0)), int(p.get("clipped", 0)))
    optimizer.restore(arrays)
    best = info["best"] if info["best"] is not None else math.inf
    reference = info.get("reference", best)     # older runs: no min_improvement, the best
    progress = Progress(int(info["epoch"]), float(best), int(info["best_epoch"]),
                        int(info["stale"]), float(info["elapsed"]), partial,
                        dict(ck.meta.get("metrics") or {}),
                        float(reference) if reference is not None else math.inf)
    return params, optimizer, progress
