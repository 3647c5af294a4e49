"""`jaylyrics train`: a config (or a run to resume, or one to fine-tune from) checked before MXNet
loads, then the loop in `jaylyrics.train` with a progress bar and a line per epoch on stderr."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path

import click

from jaylyrics import JaylyricsError, counted
from jaylyrics.cli.app import (device_option, echo_json, launched_worker, leave_on_second_stop,
                               log, main, only_one, progress_bar, train_invocation, typed,
                               verbosity)
from jaylyrics.cli.completion import config_keys, runs_or_files
from jaylyrics.cli.corpus_notes import log_corpus_notes


@main.command()
@click.option("--config", "config_paths", type=click.Path(path_type=Path), multiple=True,
              help="YAML config file. Default: the built-in defaults (configs/default.yaml).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              shell_complete=config_keys,
              help="Override a config key by its dotted name, e.g. --set train.epochs=5 "
                   "(repeatable).")
@device_option(", or several to split each batch between them: gpu:0,1 (or cpu:0,1).")
@click.option("--resume", "resume_run", is_flag=False, flag_value="", default=None,
              type=click.Path(), metavar="[RUN]", shell_complete=runs_or_files,
              help="Continue a run (default: runs/latest) from its last checkpoint, with its "
                   "own config; --set train.* keys may change, e.g. train.epochs, and "
                   "data.corpus if the corpus has moved.")
@click.option("--init-from", "init_from", type=click.Path(), default=None,
              shell_complete=runs_or_files,
              metavar="RUN", help="Fine-tune: start from the weights of this run directory or "
              "checkpoint (its network and vocabulary, new characters added); the same as "
              "--set train.init_from=RUN.")
@click.option("--overwrite", is_flag=True,
              help="Replace the run that train.out_dir already holds (without it, train refuses "
                   "to start there: --resume continues a run).")
@click.option("--kvstore", type=click.Choice(["local", "dist_sync", "dist_async"]), default=None,
              help="Train as one data-parallel worker, gradients summed through this MXNet "
                   "KVStore (see `jaylyrics launch`). Default: a single process.")
@click.option("--dry-run", is_flag=True,
              help="Check the config, the corpus and the run directory, say what would be "
                   "trained (model, parameters, batches per epoch), and stop: nothing is written "
                   "and MXNet is not loaded.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line.")
@verbosity
def train(config_paths, overrides, device, resume_run, init_from, overwrite, kvstore, dry_run,
          as_json):
    """Train a model and write checkpoints into train.out_dir."""
    from jaylyrics import InputError, config, corpus, runs

    config_path = only_one(config_paths, "--config",
                           "give one, and change its keys with --set KEY=VALUE")

    if init_from == "":
        raise InputError("--init-from: expected a run directory or a checkpoint file, got an "
                         "empty path")
    overrides = tuple(typed(o, f"--set {o.partition('=')[0]}") for o in overrides)
    if init_from is not None:
        overrides += (f"train.init_from={init_from}",)
    resume = contexts = init = source = None
    given = {config.parse_override(o)[0] for o in overrides}          # the keys --set names
    _check_flags(resume_run is not None, "train.init_from" in given, overwrite, dry_run, kvstore)
    if resume_run is None:                   # config mistakes are reported before MXNet loads
        cfg = config.load(config_path, overrides)
        run_dir = Path(cfg.train.out_dir)
        source = _init_source(cfg.train.init_from, run_dir) if cfg.train.init_from else None
        runs.check_run_dir(run_dir)
        runs.check_free(run_dir)          # another training writes there (before MXNet loads)
        if not overwrite:
            _refuse_a_trained_run(run_dir, kvstore)
        data_cfg = cfg.data
    else:
        if config_path is not None:
            raise InputError("--resume continues a run with the config it was started with: drop "
                             "--config (use --set train.epochs=N to train longer)")
        from jaylyrics import backend, checkpoint

        resumed = checkpoint.resolve(resume_run or None, "--resume RUN").parent
        runs.check_free(resumed, resuming=True)                # (before MXNet loads)
        if not os.access(resumed, os.W_OK | os.X_OK):
            raise InputError(f"--resume {resumed}: cannot write in this run's directory (another "
                             "user's run, or a read-only mount); to train on from its weights in "
                             f"a run of your own: --init-from {shlex.quote(str(resumed))} --set "
                             "train.out_dir=DIR")
        contexts = backend.devices(device)
        ck, optimizer_arrays = checkpoint.load_resume(resumed, contexts[0])
        from jaylyrics import resume as resume_mod

        cfg, edited = resume_mod.edited_config(ck)            # RUN/config.yaml, edited by hand
        cfg = config.override(cfg, overrides, allowed=resume_mod.EDITABLE)
        moved = "data.corpus" in given or "data.corpus" in edited
        edited = {key: values for key, values in edited.items() if key not in given}
        run_dir = ck.path.parent
        if moved:                        # where it has moved (the same characters, checked below)
            data_cfg = cfg.data
        else:                            # where it was trained, also from another directory
            data_cfg = checkpoint.data_config(ck)
            checkpoint.corpus_gone(ck, data_cfg, "", "give where it is now: --set data.corpus=PATH")
    data = corpus.load(data_cfg)
    note = None
    if resume_run is None and "train.prefixes" not in given:
        cfg, note = _prefixes_that_fit(cfg, data)
    tc, workers = cfg.train, _workers(kvstore)
    if tc.save_every and workers > 1:
        raise InputError(f"train.save_every {tc.save_every}: saving inside an epoch needs a "
                         f"single process ({workers} data-parallel workers resume an unfinished "
                         "epoch from its start); set it to 0")
    corpus.check_batchable(len(data.train), tc.batch_size, tc.num_steps, tc.sampler, workers)
    if resume_run is None and source is None:  # else the run's vocabulary is not the corpus's:
        corpus.check_prefixes(data.vocab, tc)  # train.fit checks them against it
    network = _network(cfg, data, source) if resume_run is None else None
    if network is not None:
        _check_the_model_fits(*network[:2], source)
    if note:                                              # after the errors: one line each
        log(note)
    log_corpus_notes(cfg, data, new=resume_run is None)
    runs.check_latest()                           # (written after the first epoch)
    _make_run_dir(run_dir, dry_run)                     # fail early if it cannot be
    unwritable = runs.latest_unwritable()
    if unwritable:
        log(f"note: {runs.LATEST} will not name this run ({unwritable}): give sample and eval "
            f"--checkpoint {shlex.quote(str(run_dir))}")
    if dry_run:
        return _describe_plan(cfg, data, run_dir, source, network, as_json, workers)

    import numpy as np

    from jaylyrics import backend, sample, train as train_mod

    contexts = contexts or backend.devices(device)
    if resume_run is not None:                          # its mistakes before any other line
        data = _resumed_vocab(data, ck, cfg)
        resume = resume_mod.restore(ck, optimizer_arrays, cfg)           # (checks the sidecar)
        resume_mod.check_settings(ck, cfg, resume[2], workers)
        resume_mod.check_epochs_left(resume[2], cfg.train, run_dir)
        if edited:
            log(f"note: {run_dir / 'config.yaml'} was edited since the run was saved: resuming "
                "with its " + ", ".join(f"{key} {config.shown(now)}"
                                        for key, (_, now) in edited.items()))
        left_at = float(ck.meta["resume"]["lr"])          # (read by restore already)
        if resume[1].lr != left_at:                       # a new train.lr: restore uses it
            log(f"learning rate {resume[1].lr:g} (train.lr), where the run had {left_at:g}")
    log(f"device: {backend.describe(contexts)}")
    hint = backend.busy_hint(contexts)
    if hint:
        log(hint)
    if source is not None:
        cfg, data, init = _fine_tuned(source, cfg, data, contexts[0])
    log("config:\n" + config.dump(cfg).rstrip(), level=2)

    def generate(params, prefix):
        return prefix + "".join(sample.generate(params, cfg.model, data.vocab, prefix,
                                                cfg.train.sample_length,
                                                cfg.train.sample_temperature,
                                                rng=np.random.RandomState(cfg.train.seed),
                                                no_repeat=cfg.train.sample_no_repeat_ngram_size))

    if (kvstore or "").startswith("dist"):
        by_hand = not launched_worker()         # (launch stops its workers itself)
        leave_on_second_stop(lambda: _stopped_at_once(run_dir, kvstore), still_there=(
            "stopping with the other workers at the next batch; Ctrl-C again stops this one at "
            "once") if by_hand else None)
        if by_hand:
            _say_if_the_others_do_not_come()
    summary = train_mod.fit(cfg, data, contexts, run_dir, reporter=_TrainReporter(cfg),
                            generate=generate, resume=resume, kvstore=kvstore, init=init,
                            resume_command=lambda d: _resume_command(d, kvstore))
    if summary["rank0"]:                       # (the other workers of a launched run are quiet)
        _report(summary, run_dir, as_json, kvstore)


def _check_flags(resume: bool, init_from: bool, overwrite: bool, dry_run: bool,
                 kvstore: str | None) -> None:
    """Options that do not go together, refused before anything is read."""
    from jaylyrics import InputError

    if resume and init_from:
        raise InputError("--resume continues a run from its own last checkpoint; --init-from "
                         "(train.init_from) starts a new run")
    if resume and overwrite:
        raise InputError("--resume continues a run; --overwrite replaces one: drop one")
    if resume and dry_run:
        raise InputError("--dry-run checks a new run; a resumed one goes on as it was: drop one")
    if kvstore is not None and kvstore.startswith("dist") and "DMLC_ROLE" not in os.environ:
        raise InputError(f"--kvstore {kvstore}: this process is not a worker of a launched run "
                         "(no DMLC_ROLE, DMLC_PS_ROOT_URI, ... in its environment); start the "
                         "workers with `jaylyrics launch -n N -- train ...`")


def _report(summary: dict, run_dir: Path, as_json: bool, kvstore: str | None) -> None:
    """After the run: its curves (with matplotlib), then the summary line (or JSON) on stdout."""
    from jaylyrics import plot, runs

    if plot.available():
        try:
            boxes = plot.write_png([run_dir], run_dir / "perplexity.png")
            log(f"curves: {run_dir / 'perplexity.png'}")
            if boxes:
                log(plot.boxes_note(boxes))
        except JaylyricsError as e:                     # the run itself is saved: say, go on
            log(f"note: no curves ({e})")
        except OSError as e:                            # a full disk
            log(f"note: no curves ({e.filename}: {e.strerror})")
    metric = "val" if summary["metric"] == "val_ppl" else "train"
    # the best checkpoint's val perplexity of the network alone (None without a val split), as
    # `runs --json` names it
    summary = {**summary, "best_model": (runs.run_summary(run_dir) or {}).get("best_model")}
    _note_cache_that_hurt(summary)
    if summary["still_improving"]:
        epochs = summary["epochs"]
        resume = _resume_command(summary["run_dir"], kvstore)
        log(f"note: the {metric} perplexity was still falling at the last epoch: more epochs "
            f"may help (`{resume} --set train.epochs={2 * epochs}` trains {epochs} more)")
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"best {metric} perplexity {summary['best']:.2f} at epoch "
                   f"{summary['best_epoch']}; checkpoints in {summary['run_dir']} "
                   f"({summary['elapsed_s']:.0f} s)")


def _note_cache_that_hurt(summary: dict) -> None:
    """The cache (model.cache_*) is meant to lower perplexity, as it does for lyrics, which
    repeat their lines; on a text that does not, it can raise it: when the best checkpoint's val
    perplexity is above the network's own by 1% or more, say so and how to leave it out."""
    alone, with_cache = summary["best_model"], summary["best"]
    if alone is not None and with_cache > alone * 1.01:
        log(f"note: the cache of the text so far raised the val perplexity here ({with_cache:.2f}; "
            f"the network alone {alone:.2f}): sample and eval --no-cache leave it out (train with "
            "--set model.cache_size=0 to choose the best epoch without it too)")


def _describe_plan(cfg, data, run_dir: Path, source, network: tuple, as_json: bool,
                   workers: int) -> None:
    """train --dry-run, after every check a real run makes before it loads MXNet: what would be
    trained, `network` = (model config, vocabulary, overruled keys) from `_network` (for a
    fine-tune, that of `source`, its loaded checkpoint), by how many data-parallel `workers`
    (each on its share of the text: the batches are each one's)."""
    from jaylyrics import config, corpus, finetune, model

    model_cfg, vocab, overruled = network
    start = ""
    if source is not None:                     # (its network, whatever the config's keys say)
        kept = finetune.kept_from_source(overruled)
        start = f"; starting from {source.path}" + (f" ({kept})" if kept else "")
        cfg = dataclasses.replace(cfg, model=model_cfg)
    tc = cfg.train
    plan = {"model": f"{model_cfg.type} {model_cfg.num_layers}x{model_cfg.hidden_size}",
            "params": model.count_params(model_cfg, len(vocab)), "vocab_size": len(vocab),
            "train_chars": len(data.train), "val_chars": len(data.val),
            "batches_per_epoch": corpus.num_batches(len(data.train) // workers, tc.batch_size,
                                                    tc.num_steps, tc.sampler),
            "workers": workers, "epochs": tc.epochs, "run_dir": str(run_dir),
            "init_from": str(source.path) if source is not None else None}
    if as_json:
        echo_json(dict(plan, config=config.to_dict(cfg)))
        return
    log("config:\n" + config.dump(cfg).rstrip(), level=2)
    epochs = counted(tc.epochs, "epoch")
    click.echo(f"dry run: {plan['model']} with {plan['params']:,} parameters; corpus "
               f"{plan['train_chars']:,} train / {plan['val_chars']:,} val characters, vocabulary "
               f"{plan['vocab_size']:,}; {counted(plan['batches_per_epoch'], 'batch', 'batches')} "
               f"per epoch{f' on each of {workers} workers' if workers > 1 else ''} "
               f"({tc.batch_size} x {tc.num_steps}, {tc.sampler}); up to {epochs} into "
               f"{run_dir}{start}. Nothing was trained or written.")


def _make_run_dir(run_dir: Path, dry_run: bool = False) -> None:
    """The run directory, made if need be (with `dry_run`, only checked: its nearest existing
    ancestor must be a directory); a path that cannot be one is named with its key."""
    import errno

    from jaylyrics import InputError

    try:
        if run_dir.exists() and not run_dir.is_dir():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
        if not dry_run:
            run_dir.mkdir(parents=True, exist_ok=True)
        elif not next(p for p in (run_dir, *run_dir.parents) if p.exists()).is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    except FileExistsError:
        raise InputError(f"train.out_dir {run_dir} is a file; expected a directory for the run's "
                         "checkpoints") from None
    except NotADirectoryError:
        from jaylyrics import runs

        blocking = next(p for p in run_dir.parents if p.exists() and not p.is_dir())
        raise InputError(f"train.out_dir {run_dir}: cannot make this directory: "
                         f"{runs.not_a_directory(blocking)}") from None
    except OSError as e:
        raise InputError(f"train.out_dir {run_dir}: cannot make this directory "
                         f"({e.strerror or e})") from None


def _workers(kvstore: str | None) -> int:
    """How many data-parallel workers train together: those `jaylyrics launch` started (its
    DMLC_NUM_WORKER) for a dist_* kvstore, else 1."""
    if not (kvstore or "").startswith("dist"):
        return 1
    try:
        return max(1, int(os.environ.get("DMLC_NUM_WORKER", "1")))
    except ValueError:
        return 1                      # not set by launch: MXNet will say what is wrong


def _check_the_model_fits(model_cfg, vocab, source=None) -> None:
    """A model whose weights, gradients and optimiser moments (4 float32 copies) need more than
    the machine's memory is refused before anything is allocated, naming the keys that size it
    (for a fine-tune, whose network is its source's, the source)."""
    from jaylyrics import InputError, machine, model

    count = model.count_params(model_cfg, len(vocab))
    need, have, limit = 16 * count, machine.physical_memory(), machine.memory_limit()
    where = "this machine has"
    if limit is not None and (not have or limit < have):
        have, where = limit, "this container may use (its memory limit)"
    if have and need > have:
        mc = model_cfg
        fix = (f"lower model.hidden_size (now {mc.hidden_size}), model.embed_size "
               f"({mc.embed_size}) or model.num_layers ({mc.num_layers})" if source is None else
               f"train.init_from {source.path} sets the network ({mc.type} {mc.num_layers}x"
               f"{mc.hidden_size}): fine-tune a smaller run, or train from scratch")
        raise InputError(f"the model would have {count:,} parameters, {_size(need)} for its "
                         f"weights, gradients and optimiser state; {where} {_size(have)}: {fix}")


def _size(n: int) -> str:
    """A number of bytes as people say it: 82 GiB, 1.5 GiB, 512 MiB."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 2**shift:
            value = n / 2**shift
            return f"{value:,.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{n} bytes"


def _refuse_a_trained_run(run_dir: Path, kvstore: str | None) -> None:
    """A new run would replace the checkpoints of the run already in `run_dir` (a forgotten
    --resume, a second `train` with the same config): say what is there and what to do (in a
    worker of `jaylyrics launch`, how to resume through it)."""
    from jaylyrics import InputError, runs

    held = runs.run_summary(run_dir) if run_dir.is_dir() else None
    if held is None or held["status"] == "no checkpoint":      # nothing trained to lose
        return
    if held["status"] == "unreadable":
        raise InputError(f"train.out_dir {run_dir} already holds a trained run whose checkpoint "
                         "files (best.json, last.json) cannot be read: train into another "
                         "directory (--set train.out_dir=DIR), or pass --overwrite to replace it")
    what = counted(held["epochs"], "epoch") + (f" of {held['model']}" if held["model"] != "?"
                                               else "")
    if held["best"] is not None:
        what += f", best {held['metric']} perplexity {held['best']:.2f}"
    raise InputError(f"train.out_dir {run_dir} already holds a trained run ({what}): continue it "
                     f"with `{_resume_command(run_dir, kvstore)}`, train into another "
                     "directory (--set train.out_dir=DIR), or pass --overwrite to replace it")


# A worker started by hand that has not reached the others after this many seconds says what it
# waits for (ps-lite waits in silence, for ever, for a scheduler that is not there).
JOIN_PATIENCE = 10.0


def _say_if_the_others_do_not_come() -> None:
    """A worker started by hand waits inside MXNet for the scheduler and every other process of
    the run, without a word: if that takes JOIN_PATIENCE seconds, say for what, and how to stop
    (a thread, which ends once the worker has joined)."""
    import threading
    import time

    def watch():
        waited = 0.0
        while True:
            time.sleep(1.0)
            distributed = sys.modules.get("jaylyrics.distributed")     # (imported to join)
            if distributed is not None and distributed.joined:
                return
            waited = waited + 1.0 if distributed is not None else 0.0
            if waited >= JOIN_PATIENCE:
                break
        env = os.environ.get
        log(f"waiting for the parameter server's scheduler at {env('DMLC_PS_ROOT_URI', '?')}:"
            f"{env('DMLC_PS_ROOT_PORT', '?')} and for every process of the run to start "
            f"(DMLC_NUM_WORKER={env('DMLC_NUM_WORKER', '?')}, DMLC_NUM_SERVER="
            f"{env('DMLC_NUM_SERVER', '?')}; DMLC_PS_ROOT_URI and DMLC_PS_ROOT_PORT the same in "
            "all); Ctrl-C twice stops this one")

    threading.Thread(target=watch, name="join-patience", daemon=True).start()


def _stopped_at_once(run_dir: Path, kvstore: str) -> str:
    """What a worker of several says when a second Ctrl-C ends it at once (`leave_on_second_stop`):
    the other workers then wait for it, and need the same."""
    kept = f"; the last checkpoint in {run_dir} is kept: once every worker has stopped, " \
           f"continue with `{_resume_command(run_dir, kvstore)}`" \
        if (run_dir / "last.json").exists() else ""
    return f"interrupted again: stopped at once{kept}"


def _resume_command(run_dir, kvstore: str | None) -> str:
    """The command that continues the run in `run_dir`: through `jaylyrics launch` for a worker
    of a launched run, with --kvstore dist_async if it is one of that kind (launch's workers are
    dist_sync unless told); with its --kvstore for a worker started by hand."""
    distributed = "DMLC_ROLE" in os.environ and (kvstore or "").startswith("dist")
    same_kvstore = distributed and (kvstore == "dist_async" or not launched_worker())
    kvstore_option = f" --kvstore {kvstore}" if same_kvstore else ""
    return f"{train_invocation()}{kvstore_option} --resume {shlex.quote(str(run_dir))}"


@contextlib.contextmanager
def _about(key: str):
    """A user mistake raised inside, its message led by the setting it is about."""
    try:
        yield
    except JaylyricsError as e:
        raise type(e)(f"{key}: {e}") from None


def _init_source(init_from: str, run_dir: Path):
    """The checkpoint train.init_from names, loaded with NumPy (MXNet is not loaded yet), unless
    the new run would overwrite it."""
    from jaylyrics import InputError, checkpoint

    with _about("train.init_from"):
        path = checkpoint.resolve(init_from, "--init-from RUN")
    if path.parent.resolve() == run_dir.resolve():
        raise InputError(f"train.out_dir {run_dir} is the run train.init_from starts from; its "
                         "checkpoints would be overwritten: choose another train.out_dir")
    with _about("train.init_from"):
        return checkpoint.load(path)


def _network(cfg, data, source) -> tuple:
    """(model config, vocabulary, overruled keys) of the network the run will train: the
    config's and the corpus's, or for a fine-tune from `source` (a loaded checkpoint) its network,
    its vocabulary with the corpus's new characters added, and the model keys of the config that
    its network overrules ({key: (config's, source's)}, as `finetune.adopt_architecture`)."""
    from jaylyrics import finetune

    if source is None:
        return cfg.model, data.vocab, {}
    return finetune.network(cfg.model, source, data.vocab.chars)


def _fine_tuned(source, cfg, data, ctx):
    """(cfg, data, initial parameters) of a run that starts from `source`, a checkpoint loaded
    with NumPy: its weights go to the device `ctx`."""
    from jaylyrics import checkpoint, finetune

    cfg, data, init, note = finetune.start(checkpoint.on_device(source, ctx), cfg, data, ctx)
    log(note)
    return cfg, data, init


def _resumed_vocab(data, ck, cfg):
    """`data` with the vocabulary of the run being resumed, if the corpus still fits it: the
    same characters, or for a fine-tuned run (whose vocabulary is its source's plus the
    corpus's new characters) none the run has not seen; and a note when its text has changed
    (the same characters, other lines)."""
    from jaylyrics import InputError, corpus

    fits = data.vocab == ck.vocab or (cfg.train.init_from
                                      and not ck.vocab.unknown(data.vocab.chars))
    if not fits:
        raise InputError(f"{cfg.data.corpus}: the corpus has changed since {ck.path.parent} was "
                         "trained (its vocabulary differs); cannot resume")
    was = (ck.meta.get("resume") or {}).get("corpus_sha256")     # (older runs did not save it)
    if was and was != corpus.fingerprint(data):
        best = ck.meta["resume"].get("best")
        log(f"note: {cfg.data.corpus} has changed since {ck.path.parent} was saved (the same "
            "characters, other lines): the epochs from here train and are scored on the new "
            "text" + (f" (the best so far, {best:.2f}, was scored on the old)"
                      if isinstance(best, (int, float)) else ""))
    return dataclasses.replace(data, vocab=ck.vocab)


def _prefixes_that_fit(cfg, data):
    """Another corpus than the one the config's train.prefixes were written for (分开 in an English
    corpus): sample from the prefixes that fit, or else from the corpus's own line starts, and
    say so: returns the config and that note, or None. (Prefixes given with --set on the
    command line are checked, not replaced.)"""
    from jaylyrics import config, corpus

    prefixes = cfg.train.prefixes
    fitting = tuple(p for p in prefixes if not data.vocab.unknown(p))
    if not cfg.train.sample_every or fitting == prefixes:
        return cfg, None
    chosen = fitting or corpus.line_starts(data.train)
    note = (f"note: train.prefixes {', '.join(p for p in prefixes if p not in fitting)} do not "
            f"fit {cfg.data.corpus}; sampling from {', '.join(chosen)} (set train.prefixes to "
            "choose)")
    return config.override(cfg, ["train.prefixes=" + json.dumps(chosen, ensure_ascii=False)]), note


class _TrainReporter:
    """Progress bar per epoch (stderr, hidden when stderr is not a terminal) and epoch lines."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.bar = None
        self.per_epoch = None          # mean seconds per epoch so far, for the time left

    def start(self, info):
        if info["workers"] > 1:
            log(f"rank 0 of {info['workers']} data-parallel workers: this one evaluates and writes")
        if info["first_batch"]:
            log(f"resuming epoch {info['first_epoch']} after batch {info['first_batch']}")
        elif info["first_epoch"] > 1:
            log(f"resuming after epoch {info['first_epoch'] - 1}")
        log(f"corpus: {info['train_chars']:,} train / {info['val_chars']:,} val characters, "
            f"vocabulary {info['vocab_size']:,}; model: {self.cfg.model.type} with "
            f"{info['params']:,} parameters; "
            f"{counted(info['batches_per_epoch'], 'batch', 'batches')} per epoch; "
            f"run directory {info['run_dir']}")
        every = self.cfg.train.save_every
        if every and every < info["batches_per_epoch"]:
            each = "every batch" if every == 1 else f"every {every} batches"
            log(f"saving a resumable checkpoint {each} inside an epoch (train.save_every)")

    def epoch_start(self, epoch, num_batches):
        desc = f"epoch {epoch}/{self.cfg.train.epochs}"
        if self.per_epoch is not None:
            desc += f" ({_time_left(self.per_epoch * (self.cfg.train.epochs - epoch + 1))})"
        self.bar = progress_bar(num_batches, desc, unit="batch", delay=0, scale=False)

    def batch(self, loss, chars_per_s):
        import math

        self.bar.set_postfix(loss=f"{loss:.3f}", ppl=f"{math.exp(min(loss, 50)):.1f}",
                             chars_s=f"{chars_per_s:,.0f}", refresh=False)
        self.bar.update(1)

    def validating(self, chars):
        self.bar.close()
        self.bar = progress_bar(chars, "validating")
        return self.bar.update

    def epoch_end(self, r):
        self.bar.close()
        self.per_epoch = r.elapsed / r.epoch
        val = f"  val ppl {r.val_ppl:8.2f}" if r.val_ppl is not None else ""
        if r.val_ppl is not None and r.val_ppl_model != r.val_ppl:
            val += f" (network alone {r.val_ppl_model:.2f})"
        log(f"epoch {r.epoch:3d}  train ppl {r.train_ppl:8.2f}{val}  lr {r.lr:g}  "
            f"{r.chars_per_s:,.0f} chars/s  {r.elapsed:.0f} s{'  *best' if r.best else ''}")
        clip = self.cfg.train.clip
        log(f"           gradient norm {r.grad_norm:.3g} on average before clipping; " +
            (f"{r.clipped:.0%} of the batches clipped to train.clip {clip:g}" if clip
             else "no clipping (train.clip 0)"), level=2)

    def stop_heard(self, epoch):
        kept = (f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1
                else "nothing is kept")
        self.bar.clear()                               # (the line above the validation bar)
        log(f"stopping once this validation ends (saved after epoch {epoch}); Ctrl-C again "
            f"stops at once ({kept})")
        self.bar.refresh()

    def stopped(self, epoch, reason):
        log(f"stopping early after epoch {epoch}: {reason}")

    def samples(self, epoch, texts):
        for _, text in texts:
            log("  - " + text.replace("\n", " / "))


def _time_left(seconds: float) -> str:
    """What the progress bar says of the epochs still to run (at most: early stopping may end
    the run sooner)."""
    if seconds < 90:
        return f"at most {max(seconds, 1):.0f} s left"
    if seconds < 90 * 60:
        return f"at most {seconds / 60:.0f} min left"
    return f"at most {seconds / 3600:.1f} h left"
