"""The runs root: which run was trained last, what each run directory holds, and whether a
training is writing to one.

`runs/latest` (a symlink, or a text file holding the path where symlinks are not allowed) names
the run trained last; `sample` and `eval` use it when no --checkpoint is given, `train --resume`
without a run, and `jaylyrics runs` marks it. A training holds its run directory's `.lock`, so
that a second one refuses to write there. Only sidecars are read here (as JSON; the config.yaml
of a run still in its first epoch): no weights, no MXNet or NumPy.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from pathlib import Path

from jaylyrics import PROJECT_DIR, CheckpointError
from jaylyrics.files import naming

LATEST = Path("runs") / "latest"


def latest_run() -> Path | None:
    """The run directory `runs/latest` names, or None."""
    if LATEST.is_symlink() or LATEST.is_dir():
        return LATEST.resolve() if LATEST.exists() else None
    if LATEST.is_file():
        target = Path(LATEST.read_text(encoding="utf-8").strip())
        return target if target.exists() else None
    return None


def project_latest() -> Path | None:
    """The run that the project's own runs/latest names (beside the jaylyrics package), if
    any: what to point to when the working directory has no runs/latest."""
    project = PROJECT_DIR / LATEST
    return project.resolve() if project.exists() else None


def latest_target() -> str:
    """What `runs/latest` points to, as written in it."""
    if LATEST.is_symlink():
        target = os.readlink(LATEST)
        return target if os.path.isabs(target) else os.path.normpath(LATEST.parent / target)
    return LATEST.read_text(encoding="utf-8").strip()


def latest_unwritable() -> str | None:
    """Why `runs/latest` cannot be pointed at a run from here, or None: the directory that
    holds it (or its nearest existing parent, where runs/ is still to be made) is not writable:
    a project of another user, a read-only mount."""
    folder = LATEST.parent.absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        return not_a_directory(existing)
    if os.access(existing, os.W_OK | os.X_OK):
        return None
    return f"{existing} is not writable"


def not_a_directory(path: Path) -> str:
    """What is wrong with `path` where a directory should be (a file, or a device)."""
    return f"{path} is {'a file, ' if path.is_file() else ''}not a directory"


def set_latest(run_dir: Path) -> None:
    """Point `runs/latest` at `run_dir`, atomically; not at all where it cannot be written
    (`latest_unwritable`: `train` says so when it starts, and the run goes on)."""
    if latest_unwritable():
        return
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    target = run_dir.resolve()
    tmp = LATEST.with_name(f".latest.tmp{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        relative = os.path.relpath(target, LATEST.parent.resolve())
        os.symlink(relative if not relative.startswith("..") else str(target), tmp)
    except OSError:                     # no symbolic links here (a FAT drive): a text file
        try:
            with naming(LATEST):
                tmp.write_text(str(target) + "\n", encoding="utf-8")
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
    try:
        check_latest()
    except CheckpointError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, LATEST)


def check_latest() -> None:
    """`runs/latest` can be pointed at a new run: not a directory of its own (checked before a
    training starts, so that its first epoch is not stopped by it)."""
    if LATEST.is_dir() and not LATEST.is_symlink():
        raise CheckpointError(f"{LATEST} is a directory; rename it so that it can point at the "
                              "latest run")


def check_run_dir(run_dir: Path) -> None:
    """`run_dir` (train.out_dir) can be a run's directory: not the runs root, nor another
    directory whose subdirectories are runs (their checkpoints would lie among them) unless it
    is a run itself (runs/default with a fine-tuned runs/default/ft)."""
    inside = [r["name"] for r in list_runs(run_dir) if r["checkpoint"]] \
        if run_dir.is_dir() and not run_summary(run_dir) else []
    if inside or run_dir.resolve() == LATEST.parent.resolve():
        held = (f"it holds {', '.join(sorted(inside)[:3])}{' ...' * (len(inside) > 3)}" if inside
                else f"the runs' directory, where {LATEST} is kept")
        raise CheckpointError(f"train.out_dir {run_dir} is a directory of runs ({held}); give a "
                              f"run directory of its own, such as {run_dir / 'mine'}")


def by_name(path: Path) -> Path:
    """A run's name, as `jaylyrics runs` lists it, as its directory (`large`: runs/large), when
    nothing of that name is in the working directory; any other path as it is."""
    named = LATEST.parent / path
    if not path.exists() and len(path.parts) == 1 and named.is_dir():
        return named
    return path


def runs_inside(directory: Path, where: str = "it", shown: int = 5, near: str = "") -> str:
    """For the errors about a directory without a checkpoint (the runs root given for a run) and
    a run name not found: the runs in `directory`, as `jaylyrics runs` lists them, as a hint to
    append, led by the one whose name is closest to `near` (a misspelt run); empty when there
    are none."""
    import difflib

    try:
        runs = sorted(r["name"] for r in list_runs(directory) if r["checkpoint"])
    except OSError:
        return ""
    if not runs:
        return ""
    more = f" and {len(runs) - shown} more" if len(runs) > shown else ""
    names = ", ".join(runs[:shown]) + more
    close = difflib.get_close_matches(near, runs, n=1, cutoff=0.6) if near else []
    if close:
        return f"; did you mean {directory / close[0]}? (the runs in {where}: {names})"
    return f"; the runs in {where}: {names} (give one, such as {directory / runs[0]})"


def missing_run_hint(path: Path) -> str:
    """For a run given that is not there, named as one under runs/ (`mne`, `runs/mne`): the
    runs there, the closest name first (`runs_inside`); else ''."""
    if len(path.parts) == 1 or path.parent == LATEST.parent:
        return runs_inside(LATEST.parent, f"{LATEST.parent}/", near=path.name)
    return ""


def has_checkpoint(directory: Path) -> bool:
    """Whether `directory` holds a checkpoint of a run (its best.json or last.json)."""
    return any((directory / f"{tag}.json").is_file() for tag in ("best", "last"))


def list_runs(root: Path) -> list[dict]:
    """A summary of every run directory under `root` (`run_summary`), newest first, each
    marked `latest` if runs/latest names it. A symbolic link to a run kept elsewhere (`ln -s
    /data/big runs/big`) is listed by its name; one to a directory listed already (runs/latest
    itself) is not."""
    root = Path(root)
    entries = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    listed = [p for p in entries if not p.is_symlink()]
    seen = {p.resolve() for p in listed}
    for link in (p for p in entries if p.is_symlink() and p.name != LATEST.name):
        if (target := link.resolve()) not in seen:        # the first name of a run, once
            seen.add(target)
            listed.append(link)
    runs = [r for r in map(run_summary, sorted(listed)) if r]
    latest = latest_run()
    for r in runs:
        r["latest"] = latest is not None and Path(r["path"]).resolve() == latest.resolve()
    return sorted(runs, key=lambda r: (r["status"] == "training", r["saved"]), reverse=True)


def run_summary(run: Path) -> dict | None:
    """What a run directory holds, read from its sidecars (no weights are loaded): model, size,
    best score and epoch, epochs trained, when saved. A run whose sidecars cannot be read is
    "unreadable"; one in its first epoch, before any checkpoint, "training" (its model from its
    config.yaml), and one whose training ended before its first checkpoint (an error or an
    interrupt in epoch 1: a config.yaml and metrics.csv, no sidecar, no lock) "no checkpoint":
    none of these has a `checkpoint` to load. None if the directory holds no run."""
    metas, sidecars = {}, 0
    for tag in ("best", "last"):
        try:
            metas[tag] = json.loads((run / f"{tag}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            pass
        sidecars += _may_exist(run / f"{tag}.json")
    metas = {tag: meta for tag, meta in metas.items() if isinstance(meta, dict)}
    summary = {"name": run.name, "path": str(run), "model": "?", "params": 0, "best": None,
               "best_model": None, "metric": "val", "best_epoch": None, "epochs": 0, "saved": "",
               "init_from": None, "status": "unreadable", "checkpoint": bool(metas),
               "settings": {}}
    if not metas:
        first = _first_config(run)
        started = {"model": _model_name(first.get("model")), "settings": settings(first)}
        if lock_holder(run):
            return {**summary, **started, "status": "training"}
        if not sidecars and all((run / name).is_file() for name in ("config.yaml",
                                                                      "metrics.csv")):
            # (what a training writes as it starts; its first epoch ends with best.json)
            return {**summary, **started, "status": "no checkpoint",
                    "saved": _modified(run / "config.yaml")}
        return summary if sidecars else None
    try:                          # a sidecar edited by hand or damaged: what can be read of it
        any_meta = metas.get("last") or metas.get("best") or {}
        best = metas.get("best", {})
        metrics = best.get("metrics") or {}
        score = metrics.get("val_ppl")
        if score is None:
            score = metrics.get("train_ppl")
        config = any_meta.get("config") or {}
        summary.update({
            "model": _model_name(config.get("model")),
            "params": int(sum(math.prod(s) for s in (any_meta.get("shapes") or {}).values())),
            "best": _number(score), "best_model": _number(metrics.get("val_ppl_model")),
            "metric": "val" if metrics.get("val_ppl") is not None else "train",
            "best_epoch": best.get("epoch") if isinstance(best.get("epoch"), int) else None,
            "epochs": int(any_meta.get("epoch", 0)),
            "saved": str(any_meta.get("saved", "")),
            "init_from": (config.get("train") or {}).get("init_from") or None,
            "status": _status(run, metas.get("last")),
            "settings": settings(config),
        })
    except (AttributeError, TypeError, ValueError):
        pass
    return summary


def settings(config) -> dict:
    """The keys of a run's saved config (nested dicts, as a sidecar or config.yaml holds it)
    whose values are not the built-in defaults, dotted, with the run's values: what sets the
    run apart. Keys added to jaylyrics since the run was saved count as it trained (ADDED_KEYS);
    train.out_dir and train.init_from are left out (`runs` shows them anyway); {} for a config
    that does not read."""
    from jaylyrics import JaylyricsError, config as config_mod

    try:
        saved = config_mod.from_saved(config, source="saved config")
    except (JaylyricsError, AttributeError, TypeError, ValueError):    # (edited, damaged)
        return {}
    return {key: value for key, (_, value) in config_mod.differences(config_mod.Config(),
                                                                     saved).items()
            if key not in ("train.out_dir", "train.init_from")}


def _modified(path: Path) -> str:
    """When `path` was last written, as checkpoints say when they were saved."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(path.stat().st_mtime))


def _may_exist(path: Path) -> bool:
    """Whether `path` exists, or may: in a directory this user cannot look into (another user's
    run, mode 700), which `runs` then lists as unreadable rather than fail on."""
    try:
        return path.exists()
    except OSError:
        return True


def _model_name(model) -> str:
    """A model section of a config as `runs` shows it: gru 1x256; ? for none (a sidecar emptied
    to {})."""
    if not isinstance(model, dict) or not model:
        return "?"
    return f"{model.get('type', '?')} {model.get('num_layers', 1)}x{model.get('hidden_size', '?')}"


def _first_config(run: Path) -> dict:
    """The config.yaml a training writes into its run directory before its first epoch, as a
    dict ({} if it cannot be read)."""
    import yaml

    try:
        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _status(run: Path, last: dict | None) -> str:
    """`standing` of a run from its last.json, or training (a live process holds its lock)."""
    if lock_holder(run):
        return "training"
    info = (last or {}).get("resume")
    if not isinstance(info, dict):
        return "unfinished"
    tc = (last.get("config") or {}).get("train") or {}
    epochs = tc.get("epochs")
    return standing(info.get("epoch", 0), info.get("stale", 0), bool(info.get("partial")),
                    epochs if isinstance(epochs, int) else math.inf, tc.get("patience"))


def standing(epoch: int, stale: int, interrupted: bool, epochs: float, patience) -> str:
    """Where a run stands after its last save, `epoch` epochs done, `stale` of them without
    improvement: interrupted (inside an epoch: --resume finishes it), done (all train.epochs),
    stopped early (train.patience), or unfinished (killed, or stopped by an error, with epochs
    left). `runs` shows it; `train --resume` refuses a run that is done or stopped early."""
    if interrupted:
        return "interrupted"
    if epoch >= epochs:
        return "done"
    if patience and stale >= patience:
        return "stopped early"
    return "unfinished"


@contextlib.contextmanager
def lock(run_dir: Path):
    """Hold `run_dir/.lock` while training, so that a second training into the same directory
    refuses to start instead of overwriting the first one's checkpoints. A lock left by a process
    that no longer runs is taken over. The lock holds the process's `identity`, so that a lock
    left by a training killed with its machine or container is not taken for a live one when its
    process id has come back as another process's (or this one's, in a restarted container),
    and one taken in a container is not for a process outside it (see `lock_holder`)."""
    path = run_dir / ".lock"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            check_free(run_dir)
            path.unlink(missing_ok=True)
    else:
        raise CheckpointError(f"{run_dir}: cannot take the lock {path}")
    try:
        try:
            with naming(path):                                 # a full disk
                os.write(fd, identity(os.getpid()).encode())
        finally:
            os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


def check_free(run_dir: Path, resuming: bool = False) -> None:
    """No other training is writing to `run_dir` (holds its lock), or a CheckpointError."""
    pid = lock_holder(run_dir)
    if pid:
        raise CheckpointError(f"{run_dir}: another training (process {pid}) is writing here; "
                              + ("wait for it to end, then resume" if resuming else
                                 "wait for it or choose another train.out_dir")
                              + f" (if process {pid} is not a training, remove "
                              f"{run_dir / '.lock'})")


def lock_holder(run_dir: Path) -> int | None:
    """The process that holds `run_dir`'s lock (trains there), if it still runs. Where the lock
    has the holder's `identity` and this process sees the same process ids (the same boot and
    PID namespace), the process of that id must be the same one; a lock of another boot is
    left; one of another PID namespace (a container's, seen from outside it or from another)
    holds while a process in that namespace can be seen, and a restarted container's old
    namespace is gone. A lock with only the id (written before, or without /proc): a live
    process of that id."""
    try:
        held = (run_dir / ".lock").read_text().strip()
        parts = held.split()
        pid = int(parts[0]) if parts else 0
    except (OSError, ValueError):
        return None
    mine = identity(os.getpid()).split()
    if len(parts) != 4 or len(mine) != 4:
        return pid if pid and _alive(pid) else None
    if parts[2] != mine[2]:                               # another boot
        return None
    if parts[3] == mine[3]:
        return pid if identity(pid) == held else None
    return pid if _namespace_seen(parts[3]) else None


def identity(pid: int) -> str:
    """A process as the lock records it: its id, the time it started (clock ticks since the
    boot), the boot's id and its PID namespace, where Linux's /proc tells them; else the id
    alone. Another process that gets the same id later has another start or boot."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        started = stat[stat.rindex(")") + 2:].split()[19]     # field 22, after "pid (name) "
        namespace = os.readlink(f"/proc/{pid}/ns/pid")        # pid:[4026531836]
    except (OSError, ValueError, IndexError):
        return str(pid)
    return f"{pid} {started} {boot} {namespace}"


def _namespace_seen(namespace: str) -> bool:
    """Whether a process of this PID namespace is visible here (in /proc)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.readlink(f"/proc/{entry.name}/ns/pid") == namespace:
                    return True
            except OSError:                   # gone, or another user's
                continue
    return False


def leftovers(run_dir: Path, older_than: float = 60.0) -> list[Path]:
    """The temporary files that `files.atomic_write` left in `run_dir` when its process was
    killed mid-write (kill -9, a power cut): hidden, and as large as what was being written.
    A file counts when its process no longer runs and it has not changed for `older_than`
    seconds (a live writer's on another machine sharing the directory is young)."""
    found = []
    for path in run_dir.glob(".*.tmp*"):
        pid = path.name.rpartition(".tmp")[2]
        try:
            if pid.isdigit() and not _alive(int(pid)) and \
                    time.time() - path.stat().st_mtime >= older_than:
                found.append(path)
        except (OSError, OverflowError):             # gone meanwhile; not a process id
            continue
    return found


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
