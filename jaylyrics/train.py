"""The training loop, its validation on the training device, and stopping it between batches
(what it saves to go on, and how a resumed run restores it, is `resume.py`).

It knows nothing of the model's insides: it calls `model.init_params`, `model.compiled`,
`model.nll` and `model.detach`, and treats the parameters as a dict of NDArrays. It never prints:
progress goes to a `Reporter` that the CLI supplies.

One iteration: forward and loss under `autograd.record`, backward, the global gradient norm
(one host synchronisation), then the update of `optim.Optimizer`, which applies the clipping
scale as it goes.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import math
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaylyrics import (CheckpointError, JaylyricsError, checkpoint, config as config_mod,
                       corpus as corpus_mod, counted, files, model, runs, score)
from jaylyrics.backend import autograd, nd, seed as seed_backend, threads
from jaylyrics.optim import Optimizer, clip_scale, global_norm
from jaylyrics.resume import Partial, Progress, save_last
from jaylyrics.score import MAX_NLL, Score, exp_nll


# A run whose last epoch is its best, and whose best fell by this fraction or more over its last
# STILL_WINDOW epochs, is still improving: more epochs would likely help (the default run's last
# three lower it by 0.1%; a 3-epoch run's by several percent; a 5,000-character corpus's, whose
# epochs are 3 batches, by 3% at epoch 40, less than 1% each).
STILL_IMPROVING, STILL_WINDOW = 0.01, 3


def still_improving(bests: list[float]) -> bool:
    """Whether the last epoch of a run is its best and lowered the best by STILL_IMPROVING or
    more over the last STILL_WINDOW epochs. `bests`: the best score before the first epoch
    trained (inf for a new run; a resumed run's best), then after each epoch; fewer epochs than
    the window are measured from the first epoch's best (a new run of one epoch, against
    nothing: False)."""
    if len(bests) < 2 or bests[-1] >= bests[-2]:
        return False
    before = bests[max(0, len(bests) - 1 - STILL_WINDOW)]
    if not math.isfinite(before):                     # a new run: from its first epoch's best
        before = bests[1]
    return 1 - bests[-1] / before >= STILL_IMPROVING


class TrainingDiverged(JaylyricsError):
    """The loss became NaN or infinite."""


class Interrupted(JaylyricsError):
    """Ctrl-C or SIGTERM during training; a resumable checkpoint has been saved (exit code 130)."""

    exit_code = 130


class Reporter:
    """What the loop tells the outside world. The CLI subclasses it; the default is silent."""

    def start(self, info: dict) -> None: ...
    def epoch_start(self, epoch: int, num_batches: int) -> None: ...
    def batch(self, loss: float, chars_per_s: float) -> None: ...
    def epoch_end(self, result: "EpochResult") -> None: ...
    def samples(self, epoch: int, texts: list[tuple[str, str]]) -> None: ...
    def stopped(self, epoch: int, reason: str) -> None: ...

    def validating(self, chars: int):
        """Validation of `chars` characters begins: returns a `progress(n)` for it, or None."""
        return None

    def stop_heard(self, epoch: int) -> None:
        """Ctrl-C or SIGTERM came during epoch `epoch`'s validation, which goes on to its end
        (the run then stops, saved after that epoch)."""


@dataclass
class EpochResult:
    epoch: int
    train_ppl: float
    val_ppl: float | None
    lr: float
    chars_per_s: float
    elapsed: float
    best: bool = False
    val_ppl_model: float | None = None      # the network alone, without the cache
    grad_norm: float = 0.0                  # the mean gradient norm before clipping
    clipped: float = 0.0                    # the fraction of batches whose gradient was clipped


def step_replicas(replicas, optimizers: list, X, Y, state: tuple, cfg, aggregator=None):
    """`step` with the batch split over the devices of `replicas` (rows in order, so the result
    equals one device with the whole batch), and with `aggregator` over the workers too: the
    devices' gradients are summed first, then the workers'. Same return values."""
    tc, k = cfg.train, len(replicas.copies)
    N, T = X.shape
    run = model.compiled(cfg.model, replicas.copies[0]["b_q"].shape[0], N // k, T,
                         (tc.label_smoothing, tc.loss))
    parts_x = nd.split(X, num_outputs=k, axis=0)
    parts_y = nd.split(Y, num_outputs=k, axis=0)
    parts_s = [nd.split(s, num_outputs=k, axis=1) for s in state]              # (L, N/k, H) each
    outs = []
    with autograd.record():
        for i, (params, ctx) in enumerate(zip(replicas.copies, replicas.contexts)):
            outs.append(run(params, parts_x[i].as_in_context(ctx),
                            tuple(p[i].as_in_context(ctx) for p in parts_s),
                            parts_y[i].as_in_context(ctx)))
    autograd.backward([o[0] for o in outs])
    replicas.sum_gradients(mean=tc.loss == "mean")
    batch_nll = sum(float(o[1].asscalar()) for o in outs)
    grad_norm = _update(replicas.copies, optimizers, batch_nll, tc, aggregator, replicas)
    ctx0 = replicas.contexts[0]
    new_state = tuple(nd.concat(*[o[2][j].as_in_context(ctx0) for o in outs], dim=1)
                      for j in range(len(state)))
    return new_state, batch_nll, grad_norm


def _update(copies: list, optimizers: list, batch_nll: float, tc, aggregator=None,
            replicas=None) -> float:
    """After the backward pass (and the sum over this process's devices): the workers' share
    through `aggregator`, if any, then the clipped update of every copy. Returns the gradient
    norm before clipping."""
    first = copies[0]
    if aggregator is not None and aggregator.asynchronous:     # update here, share the change
        before = {name: p.copy() for name, p in first.items()}
        grad_norm = _clip_and_update(copies, optimizers, batch_nll, tc.clip)
        aggregator.share_changes(first, before)
        if replicas is not None:
            replicas.broadcast_params()
        return grad_norm
    if aggregator is not None:                     # data-parallel: the gradient of all workers
        aggregator.sum_gradients(first, mean=tc.loss == "mean")
        if replicas is not None:
            replicas.broadcast_gradients()
    return _clip_and_update(copies, optimizers, batch_nll, tc.clip)


def _clip_and_update(copies: list, optimizers: list, batch_nll: float, clip: float) -> float:
    """The global gradient norm (of the first copy; all copies hold the same gradients), then the
    clipped update of every copy, unless the loss or the norm is not finite. Returns the norm."""
    grad_norm = global_norm(copies[0])
    if math.isfinite(grad_norm) and math.isfinite(batch_nll):
        for params, optimizer in zip(copies, optimizers):
            optimizer.step(params, clip_scale(grad_norm, clip))
    return grad_norm


def step(params: dict, optimizer: Optimizer, X, Y, state: tuple, cfg, aggregator=None):
    """One training iteration on a batch X, Y (N, T): forward, loss, backward, clipping, update.
    Returns (final state, summed NLL of the batch, gradient norm before clipping). The update is
    skipped when the loss or the gradient is not finite, so the caller can stop cleanly."""
    tc = cfg.train
    run = model.compiled(cfg.model, params["b_q"].shape[0], X.shape[0], X.shape[1],
                         (tc.label_smoothing, tc.loss))
    with autograd.record():
        loss, nll_sum, state = run(params, X, state, Y)
    loss.backward()
    batch_nll = float(nll_sum.asscalar())
    return state, batch_nll, _update([params], [optimizer], batch_nll, tc, aggregator)


def _what_diverged(nll_per_char: float, grad_norm: float) -> str:
    """What went wrong first in a step whose loss or gradient norm is not a usable number."""
    if math.isnan(nll_per_char):
        return "the loss became NaN"
    if math.isinf(nll_per_char):
        return "the loss became infinite"
    if nll_per_char > MAX_NLL:
        return (f"the loss grew to {nll_per_char:,.0f} nats a character (a perplexity beyond "
                "any float)")
    return f"the gradient became {'NaN' if math.isnan(grad_norm) else 'infinite'}"


def evaluate(params: dict, ids: np.ndarray, model_cfg, ctx, chunk: int = 64,
             progress=None) -> Score:
    """Score ids[1:] (at least two ids) given what precedes them, from a zero state carried
    through the whole text (batch 1), on the training device: the validation protocol
    (`score.evaluate` is the same in NumPy, for `jaylyrics eval`). `progress(n)`, if given, is
    told of every n characters scored."""
    return score.from_nll(model_nll(params, ids, model_cfg, ctx, chunk, progress), ids, model_cfg)


def model_nll(params: dict, ids: np.ndarray, model_cfg, ctx, chunk: int = 64,
              progress=None) -> np.ndarray:
    """The network's own per-character NLL of ids[1:] (len-1,), state carried throughout, read
    in chunks of `chunk` characters by the compiled graph. One OpenMP thread: with batch 1 the
    operators are too small for a second one to pay (the validation split 0.61 -> 0.53 s, the
    same numbers). `progress`: as for `evaluate` (told as each chunk is queued; the
    synchronous engine has run it by then)."""
    state = model.begin_state(model_cfg, 1, ctx)
    parts = []
    with threads(1):
        for start in range(0, len(ids) - 1, chunk):
            y = ids[start + 1:start + 1 + chunk]
            x = ids[start:start + len(y)]
            run = model.compiled(model_cfg, params["b_q"].shape[0], 1, len(x))
            logits, state = run(params, nd.array(x[None, :], ctx=ctx), state)
            parts.append(model.nll(logits, nd.array(y[None, :], ctx=ctx)))
            if progress is not None:
                progress(len(y))
        if not parts:
            return np.zeros(0)
        return nd.concat(*parts, dim=0).asnumpy().astype(np.float64)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def perplexity(nll_sum: float, count: int) -> float:
    return exp_nll(nll_sum / count) if count else float("nan")


def batches(ids: np.ndarray, train_cfg, rng: np.random.RandomState):
    if train_cfg.sampler == "random":
        return corpus_mod.random_batches(ids, train_cfg.batch_size, train_cfg.num_steps, rng)
    return corpus_mod.consecutive_batches(ids, train_cfg.batch_size, train_cfg.num_steps)


@dataclass
class EpochTraining:
    """What one pass over the training ids measured."""

    perplexity: float
    chars_per_s: float
    grad_norm: float          # mean over the batches, before clipping
    clipped: float            # fraction of the batches


class _StopRequested(Exception):
    """Raised between batches after Ctrl-C or SIGTERM; carries the epoch's progress."""

    def __init__(self, partial: Partial | None):
        super().__init__()
        self.partial = partial


@contextlib.contextmanager
def _stop_between_batches(at_once: bool = True):
    """While training, Ctrl-C and SIGTERM only ask the loop to stop at the next batch boundary
    (so that no update is half done); a second one stops at once (with `at_once`; in a worker of
    a parameter-server run the CLI's `leave_on_second_stop` does that). So does SIGHUP (the
    terminal closed, the ssh connection dropped), unless it is ignored (as under nohup), after
    which the terminal is written to no more (`hangup`)."""
    import signal
    import threading

    from jaylyrics import hangup

    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def ask(signum, frame):
        if hangup.is_hangup(signum):
            hangup.leave_terminal()
        if flag["stop"] and at_once:
            raise KeyboardInterrupt
        flag["stop"] = True

    old = {sig: signal.signal(sig, ask) for sig in hangup.stop_signals()}
    try:
        yield flag
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def fit(cfg, data: "corpus_mod.Corpus", ctx, run_dir: Path, reporter: Reporter | None = None,
        generate=None, resume: tuple | None = None, kvstore: str | None = None,
        init: dict | None = None, resume_command=None) -> dict:
    """Train a model as `cfg` says, checkpointing into `run_dir`. Returns a summary dict.

    `generate(params, prefix) -> str` is called every `train.sample_every` epochs per prefix.
    `resume` = (params, optimizer, progress), from `resume.restore`, continues a run where it was
    saved (after an epoch, or inside one after an interrupt); batches are seeded per epoch and
    dropout per batch, so a resumed run ends with the same parameters as an uninterrupted one.
    `init` (parameters from `finetune.transfer`) starts a new run from them instead of from a
    random initialisation.
    `resume_command(run_dir) -> str` is the command that continues the run, which an interrupt
    or a failed save names (default `jaylyrics train --resume RUN`; the CLI's, for a launched run,
    goes through `jaylyrics launch`).
    `ctx` may be a list of devices: the batch is then split between them (data parallel in one
    process). With `kvstore` (local, dist_sync) this process is one of several data-parallel
    workers: it trains on its shard of the training text, gradients are summed across workers,
    and only rank 0 evaluates, reports and writes.
    """
    run = _Run.start(cfg, data, ctx, run_dir, reporter or Reporter(), generate, resume, kvstore,
                     init)
    run.resume_command = resume_command or _resume_command
    if run.rank0:
        run_dir.mkdir(parents=True, exist_ok=True)
    with runs.lock(run_dir) if run.rank0 else contextlib.nullcontext():
        # one training per run directory at a time; other workers write nothing
        run.begin()
        try:
            with _stop_between_batches(at_once=not run.joined) as signalled:
                for epoch in range(run.progress.epoch + 1, cfg.train.epochs + 1):
                    partial, run.progress.partial = run.progress.partial, None
                    if run.end_epoch(epoch, run.train_epoch(epoch, partial, signalled),
                                     signalled):
                        break
        except _StopRequested as e:
            run.save_interrupted(e.partial)
        except KeyboardInterrupt:                 # a second Ctrl-C: stop at once
            run.stop_now()
        return run.summary()


@dataclass
class _Run:
    """One training run's moving parts, so that the loop's steps need not pass a dozen of them."""

    cfg: object
    vocab: object
    params: dict
    optimizers: list                  # one per device; optimizers[0] goes into checkpoints
    progress: Progress
    run_dir: Path
    reporter: Reporter
    generate: object
    contexts: list
    train_ids: np.ndarray
    val_ids: np.ndarray | None
    aggregator: object = None         # several worker processes (distributed.Aggregator)
    replicas: object = None           # several devices in this process (distributed.Replicas)
    started: float = 0.0
    named_latest: bool = False        # runs/latest names this run since its first epoch here
    corpus_sha256: str = ""           # the text trained on (corpus.fingerprint), for --resume
    resumable: bool = False           # last.json holds this run (resumed, or saved here since)
    bests: list = field(default_factory=list)   # the best score before this process's first
                                                # epoch, then after each (`still_improving`)
    resume_command: object = None     # run_dir -> the command that continues the run (fit's)

    @classmethod
    def start(cls, cfg, data, ctx, run_dir, reporter, generate, resume, kvstore, init) -> "_Run":
        """Check the data, build or restore parameters and optimiser, join the workers."""
        tc, vocab = cfg.train, data.vocab
        contexts = list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]
        if len(contexts) > 1 and tc.batch_size % len(contexts):
            raise JaylyricsError(f"train.batch_size {tc.batch_size} must be a multiple of the "
                                 f"{len(contexts)} devices it is split over")
        train_ids = vocab.encode(data.train, "the training text")
        val_ids = vocab.encode(data.val, "the validation text") if data.val else None
        corpus_mod.check_trainable(data, tc)
        if resume is None:
            params = init or model.init_params(cfg.model, len(vocab), contexts[0], tc.seed)
            optimizer, progress = Optimizer(tc.optimizer, tc.lr, tc.weight_decay), Progress()
        else:
            params, optimizer, progress = resume
        aggregator = replicas = None
        if kvstore is not None or len(contexts) > 1:
            from jaylyrics import distributed

            if kvstore is not None:               # first: every worker takes rank 0's weights
                aggregator = distributed.Aggregator(kvstore, params, _alike(cfg, data))
                train_ids = distributed.shard(train_ids, aggregator.rank, aggregator.num_workers)
                corpus_mod.check_batchable(len(train_ids), tc.batch_size, tc.num_steps, tc.sampler)
            if len(contexts) > 1:                 # then copies them to its devices
                replicas = distributed.Replicas(params, contexts)
        optimizers = [optimizer] + [_copy_optimizer(optimizer, c) for c in contexts[1:]]
        run = cls(cfg, vocab, params, optimizers, progress, run_dir, reporter, generate, contexts,
                  train_ids, val_ids, aggregator, replicas,
                  corpus_sha256=corpus_mod.fingerprint(data), resumable=resume is not None,
                  bests=[progress.best])
        if not run.rank0:
            run.reporter, run.generate = Reporter(), None
        return run

    @property
    def joined(self) -> bool:
        """Whether this process is a worker of a parameter-server run (not a single process)."""
        return self.aggregator is not None and self.aggregator.distributed

    @property
    def rank0(self) -> bool:
        return self.aggregator is None or self.aggregator.rank == 0

    @property
    def num_batches(self) -> int:
        tc = self.cfg.train
        return corpus_mod.num_batches(len(self.train_ids), tc.batch_size, tc.num_steps, tc.sampler)

    def begin(self) -> None:
        """Write the config and metrics header (rank 0) and announce the run."""
        progress = self.progress
        if self.rank0:
            with self.saving("the run's config, metrics.csv and samples.txt"):
                files.atomic_write(self.run_dir / "config.yaml",
                                   config_mod.dump(self.cfg).encode("utf-8"))
                _start_metrics(self.run_dir / "metrics.csv", progress.epoch)
                _start_samples(self.run_dir / "samples.txt", progress.epoch)
        self.reporter.start({
            "vocab_size": len(self.vocab), "params": model.num_params(self.params),
            "train_chars": len(self.train_ids),
            "val_chars": len(self.val_ids) if self.val_ids is not None else 0,
            "batches_per_epoch": self.num_batches, "run_dir": str(self.run_dir),
            "first_epoch": progress.epoch + 1,
            "first_batch": progress.partial.batches if progress.partial else 0,
            "workers": self.aggregator.num_workers if self.aggregator else 1,
            "devices": len(self.contexts)})
        self.started = time.time() - progress.elapsed

    def train_epoch(self, epoch: int, partial: Partial | None, stop: dict) -> EpochTraining:
        """One pass over the training ids (or the rest of one, after `partial`). The batch order
        is seeded from (seed, epoch) and the dropout masks from (seed, epoch, batch), so any
        batch can be the first after a resume.
        Raises _StopRequested between batches when `stop["stop"]` is set."""
        tc, mc, ctx = self.cfg.train, self.cfg.model, self.contexts[0]
        self.reporter.epoch_start(epoch, self.num_batches)
        rng = np.random.RandomState([tc.seed, epoch])
        partial = partial or Partial(0, 0.0, 0, None)
        done, loss_sum, count = partial.batches, partial.loss_sum, partial.count
        grad_sum, clipped = partial.grad_sum, partial.clipped
        state = partial.state if done else model.begin_state(mc, tc.batch_size, ctx)
        chars_per_batch = tc.batch_size * tc.num_steps
        start, chars_here = time.time(), 0
        for b, (X_np, Y_np) in enumerate(batches(self.train_ids, tc, rng)):
            if b < done:
                continue
            if self.stop_asked(stop["stop"]):
                raise _StopRequested(Partial(b, loss_sum, count, state, grad_sum, clipped)
                                     if b else None)
            seed_backend((tc.seed * 1_000_003 + epoch * 10_007 + b) % 2 ** 31)
            X, Y = nd.array(X_np, ctx=ctx), nd.array(Y_np, ctx=ctx)
            if not tc.carries_state:
                state = model.begin_state(mc, tc.batch_size, ctx)     # windows are unrelated
            else:
                state = model.detach(state)                          # carry, but cut the graph
                if tc.state_reset:
                    state = _reset_rows(state, tc.state_reset,
                                        np.random.RandomState([tc.seed, epoch, b]))
            if self.replicas is None:
                state, batch_nll, grad_norm = step(self.params, self.optimizers[0], X, Y, state,
                                                   self.cfg, self.aggregator)
            else:
                state, batch_nll, grad_norm = step_replicas(self.replicas, self.optimizers, X, Y,
                                                            state, self.cfg, self.aggregator)
            if not (math.isfinite(grad_norm) and batch_nll / chars_per_batch <= MAX_NLL):
                raise self.diverged(_what_diverged(batch_nll / chars_per_batch, grad_norm),
                                    f"in epoch {epoch}")
            loss_sum += batch_nll
            count += chars_per_batch
            chars_here += chars_per_batch
            grad_sum += grad_norm
            clipped += clip_scale(grad_norm, tc.clip) < 1
            self.reporter.batch(batch_nll / chars_per_batch,
                                chars_here / max(time.time() - start, 1e-9))
            if tc.save_every and (b + 1) % tc.save_every == 0 and b + 1 < self.num_batches:
                self.save_partial(Partial(b + 1, loss_sum, count, state, grad_sum, clipped))
        batches_done = count // chars_per_batch
        return EpochTraining(perplexity(loss_sum, count),
                             chars_here / max(time.time() - start, 1e-9),
                             grad_sum / max(batches_done, 1), clipped / max(batches_done, 1))

    def stop_asked(self, here: bool) -> bool:
        """Whether to stop before the next batch: asked in this process (`here`) or, for
        synchronous workers, in any of them; they all stop at the same batch, as one that went
        on would wait forever for the others' gradients."""
        return here if self.aggregator is None else self.aggregator.anyone(here)

    def end_epoch(self, epoch: int, trained: EpochTraining, stop: dict) -> bool:
        """Validate, keep the best, decay the learning rate, save, report. True: stop early.
        A stop asked for meanwhile (`stop["stop"]`) is said at once, and done after the epoch."""
        tc, progress, optimizer = self.cfg.train, self.progress, self.optimizers[0]
        train_ppl, chars_per_s = trained.perplexity, trained.chars_per_s
        val_ppl = val_ppl_model = None
        if self.val_ids is not None and self.rank0:
            val = evaluate(self.params, self.val_ids, self.cfg.model, self.contexts[0],
                           progress=self._hearing(stop, epoch, self.reporter.validating(
                               len(self.val_ids) - 1)))
            val_ppl, val_ppl_model = val.perplexity, val.perplexity_model
            if not math.isfinite(val_ppl):
                raise self.diverged("the validation perplexity became infinite",
                                    f"after epoch {epoch}")
        score = val_ppl if self.val_ids is not None else train_ppl
        if self.aggregator is not None:           # every worker decides on rank 0's number
            score = self.aggregator.from_rank0(score)
        if score is None:                         # dist_async, not rank 0: its own train score
            score = train_ppl
        result = EpochResult(epoch, train_ppl, val_ppl, optimizer.lr, chars_per_s,
                             time.time() - self.started, best=score < progress.best,
                             val_ppl_model=val_ppl_model, grad_norm=trained.grad_norm,
                             clipped=trained.clipped)
        metrics = {"train_ppl": train_ppl, "val_ppl": val_ppl, "val_ppl_model": val_ppl_model}
        if result.best:
            progress.best, progress.best_epoch = score, epoch
            if self.rank0:
                with self.saving(f"epoch {epoch}'s best checkpoint"):
                    checkpoint.save(self.run_dir, "best", self.params, self.cfg, self.vocab,
                                    epoch, metrics)
        if score < progress.reference * (1 - tc.min_improvement):
            progress.reference, progress.stale = score, 0
        else:
            progress.stale += 1
        early_stop = bool(tc.patience and progress.stale >= tc.patience)
        if not early_stop and tc.lr_decay < 1 and progress.stale \
                and progress.stale % tc.lr_patience == 0:
            for opt in self.optimizers:               # one per device
                opt.lr *= tc.lr_decay
        progress.epoch, progress.elapsed = epoch, time.time() - self.started
        self.bests.append(progress.best)
        progress.metrics = metrics
        if self.rank0:
            with self.saving(f"the checkpoint of epoch {epoch}"):
                # the row first: a resume from the epoch before cuts it, if last.json fails
                files.append(self.run_dir / "metrics.csv", _csv_row([
                    epoch, f"{train_ppl:.4f}", _fmt(val_ppl), _fmt(val_ppl_model), result.lr,
                    f"{chars_per_s:.0f}", f"{result.elapsed:.1f}", f"{trained.grad_norm:.4f}",
                    f"{trained.clipped:.3f}"]))
                self.write_last()
                if not self.named_latest:     # a new run, or one resumed: the run trained last
                    runs.set_latest(self.run_dir)
                    self.named_latest = True
        self.reporter.epoch_end(result)
        if self.generate and tc.sample_every and (epoch % tc.sample_every == 0
                                                  or epoch == tc.epochs):
            texts = [(p, self.generate(self.params, p)) for p in tc.prefixes]
            with self.saving(f"epoch {epoch}'s samples"):
                files.append(self.run_dir / "samples.txt", "".join(
                    f"{_sample_header(epoch, p)}\n{text}\n\n" for p, text in texts))
            self.reporter.samples(epoch, texts)
        if early_stop:
            stale = counted(progress.stale, "epoch")
            self.reporter.stopped(epoch, f"no improvement for {stale} (train.patience)"
                                  if not tc.min_improvement else
                                  f"no improvement of {tc.min_improvement:.1%} or more for "
                                  f"{stale} (train.patience, train.min_improvement)")
        return early_stop

    def _hearing(self, stop: dict, epoch: int, progress):
        """The validation's `progress(n)`, which also tells the reporter, once, of a stop asked
        for during the epoch's last batch or since (one asked before stopped at a batch
        boundary); a long validation is not cut short: it would be done again on resuming."""
        heard = False

        def told(n: int) -> None:
            nonlocal heard
            if progress is not None:
                progress(n)
            if not heard and stop["stop"]:
                heard = True
                self.reporter.stop_heard(epoch)
        return told

    def write_last(self) -> None:
        """last.json as the run stands (`progress`); from then on it is this run's to resume."""
        save_last(self.run_dir, self.params, self.cfg, self.vocab, self.progress,
                  self.optimizers[0], self.corpus_sha256)
        self.resumable = True

    @contextlib.contextmanager
    def saving(self, what: str):
        """A checkpoint being written: a file error (a full disk, a quota) stops the run saying
        what was not saved, what is kept and how to go on."""
        try:
            yield
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            mend = ("free some space, then" if e.errno in (errno.ENOSPC, errno.EDQUOT)
                    else "when that is mended,")
            if self.resumable:               # (not an old run's last.json, under --overwrite)
                then = (f"the run's last checkpoint is kept: {mend} continue with "
                        f"`{self.resume_command(self.run_dir)}`")
            else:
                then = f"nothing to resume yet: {mend} train again (--overwrite)"
            raise CheckpointError(f"cannot save {what} ({where}{e.strerror or e}); {then}") \
                from None

    def diverged(self, what: str, when: str) -> TrainingDiverged:
        kept = (f"the last good checkpoint in {self.run_dir} is kept" if self.progress.epoch
                else "no checkpoint was written")
        return TrainingDiverged(f"{what} {when}: lower train.lr (now {self.optimizers[0].lr}) or "
                                f"train.clip; {kept}")

    def save_partial(self, partial: Partial) -> None:
        """train.save_every: last.json inside an epoch, after `partial.batches` batches, which
        `--resume` continues from as after an interrupt (a crash loses at most that many)."""
        progress = self.progress
        progress.partial, progress.elapsed = partial, time.time() - self.started
        try:
            with self.saving(f"the checkpoint after batch {partial.batches} of epoch "
                             f"{progress.epoch + 1}"):
                self.write_last()
            runs.set_latest(self.run_dir)
        finally:
            progress.partial = None

    def save_interrupted(self, partial: Partial | None):
        """Ctrl-C or SIGTERM at a batch boundary: save what is there, say how to go on."""
        if self.aggregator is not None and self.aggregator.num_workers > 1:
            self.stop_now()             # (the other workers' carried states are not saved)
        progress = self.progress
        progress.partial, progress.elapsed = partial, time.time() - self.started
        if not (progress.epoch or partial):
            raise Interrupted("interrupted before the first batch: nothing to resume")
        where = (f"after batch {partial.batches} of epoch {progress.epoch + 1}" if partial
                 else f"after epoch {progress.epoch}")
        if self.rank0:
            with self.saving(f"the checkpoint {where}"):
                self.write_last()
            runs.set_latest(self.run_dir)
        raise Interrupted(f"interrupted; saved {where}: continue with "
                          f"`{self.resume_command(self.run_dir)}`")

    def stop_now(self):
        """A second Ctrl-C, or a stop of several workers (they save no unfinished epoch): stop,
        keeping the last epoch's checkpoint."""
        epoch = self.progress.epoch
        if not self.rank0:                          # (rank 0 says it all, once)
            raise Interrupted("interrupted")
        if epoch == 0:
            raise Interrupted("interrupted in epoch 1, before the first checkpoint: nothing to "
                              "resume")
        raise Interrupted(f"interrupted in epoch {epoch + 1}; the checkpoint of epoch {epoch} is "
                          f"kept: continue with `{self.resume_command(self.run_dir)}`")

    def summary(self) -> dict:
        """The run as it ended; `still_improving`: its last epoch was its best, and the best
        fell by STILL_IMPROVING or more over its last STILL_WINDOW epochs (it trained all
        train.epochs: early stopping ends after epochs without a best), so more epochs would
        likely help."""
        progress = self.progress
        return {"best_epoch": progress.best_epoch, "best": progress.best,
                "metric": "val_ppl" if self.val_ids is not None else "train_ppl",
                "epochs": progress.epoch, "elapsed_s": time.time() - self.started,
                "run_dir": str(self.run_dir), "rank0": self.rank0,
                "still_improving": still_improving(self.bests)}


# What a worker of a data-parallel run may have otherwise than the others: where it writes
# (only rank 0 does) and what it samples (only rank 0 does).
_PER_WORKER = ("out_dir", "init_from", "save_every", "prefixes", "sample_every", "sample_length",
               "sample_temperature", "sample_no_repeat_ngram_size")


def _alike(cfg, data) -> dict:
    """What every worker of a data-parallel run must have the same, by part, as text."""
    train = {k: v for k, v in config_mod.to_dict(cfg)["train"].items() if k not in _PER_WORKER}
    return {"model (model.*)": repr(cfg.model), "training settings (train.*)": repr(train),
            "text (the corpus)": corpus_mod.fingerprint(data) + data.vocab.chars}


def _resume_command(run_dir: Path) -> str:
    return f"jaylyrics train --resume {shlex.quote(str(run_dir))}"


def _reset_rows(state: tuple, p: float, rng: np.random.RandomState) -> tuple:
    """The state (each part (L, N, H)) with each of its N rows set to zeros with chance p
    (train.state_reset): those sequences start this batch from nothing."""
    N = state[0].shape[1]
    keep = nd.array((rng.random_sample(N) >= p).reshape(1, N, 1), ctx=state[0].context)
    return tuple(nd.broadcast_mul(s, keep) for s in state)


def _copy_optimizer(optimizer: Optimizer, ctx) -> Optimizer:
    """The same optimiser, its moments on another device."""
    copy = Optimizer(optimizer.kind, optimizer.lr, optimizer.weight_decay, steps=optimizer.steps)
    copy.restore({k: v.copyto(ctx) for k, v in optimizer.arrays().items()})
    return copy


def _csv_row(values: list) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()


def _sample_header(epoch: int, prefix: str) -> str:
    """samples.txt's line above each sample (a line of its own, so that lyrics with blank lines
    stay whole; a line break in the prefix shows as \\n)."""
    shown = prefix.replace("\n", "\\n")
    return f"=== epoch {epoch}: {shown} ==="


def _start_samples(path: Path, after_epoch: int) -> None:
    """samples.txt, emptied for a new run, or (when resuming) cut after `after_epoch` (a new file
    in its place: a full disk leaves the old one whole)."""
    kept = []
    if after_epoch and path.exists():
        keep = True
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
            header = re.fullmatch(r"=== epoch (\d+): .* ===\n?", line)
            if header:
                keep = int(header.group(1)) <= after_epoch
            if keep:
                kept.append(line)
    files.atomic_write(path, "".join(kept).encode("utf-8"))


def _start_metrics(path: Path, after_epoch: int) -> None:
    """A fresh metrics.csv, or (when resuming) the existing one cut after `after_epoch` (as
    `_start_samples`)."""
    header = ["epoch", "train_ppl", "val_ppl", "val_ppl_model", "lr", "chars_per_s", "elapsed_s",
              "grad_norm", "clipped"]
    rows = []
    if after_epoch and path.exists():
        text = path.read_text(encoding="utf-8", errors="replace").replace("\0", "")  # damaged
        rows = [r for r in csv.reader(text.splitlines())       # rows (edited by hand) are left out
                if r and r[0].isdigit() and int(r[0]) <= after_epoch]
    files.atomic_write(path, "".join(map(_csv_row, [header] + rows)).encode("utf-8"))
