"""`jaylyrics launch`: the scheduler, servers and workers of a dist_sync run, on this machine.

Each role is a process of this Python with the DMLC_* variables that MXNet's parameter server
(ps-lite) reads: the scheduler and servers only `import mxnet` (which, for those roles, serves
until the workers finish); the workers run `jaylyrics train ... --kvstore dist_sync`. Everything
listens on 127.0.0.1 at free ports, ascending in launch order, so that worker i is rank i. Their
output goes to stderr, prefixed with the role and index, but for the results that worker 0 (rank
0) prints on stdout, which stay launch's own. When a worker fails, or on Ctrl-C, every process is
stopped; nothing is left running. No MXNet here.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import threading
import time

from jaylyrics import JaylyricsError


MAX_PROCESSES = 32        # of each role: every process is a Python with MXNet (about 100 MB)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct ports free on 127.0.0.1 now, in ascending order (held together while the
    system picks them, so none comes twice)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return sorted(s.getsockname()[1] for s in sockets)


def role_env(role: str, port: int, num_workers: int, num_servers: int, host: str = "127.0.0.1",
             node_port: int | None = None):
    """The environment of one process of the run (see the README for running them by hand).
    `node_port`: the port a server or worker listens on (ps-lite's PORT; else one at random).
    The scheduler ranks the workers of one host by their ports, so launch gives them ascending
    ones: worker i is rank i."""
    env = dict(os.environ, JAYLYRICS_LAUNCH_PORT=str(port), DMLC_ROLE=role,
               DMLC_PS_ROOT_URI=host, DMLC_PS_ROOT_PORT=str(port),
               DMLC_NUM_WORKER=str(num_workers), DMLC_NUM_SERVER=str(num_servers),
               DMLC_NODE_HOST=host, PYTHONUNBUFFERED="1")
    if node_port is not None:
        env["PORT"] = str(node_port)
    return env


def _pipe(stream, prefix: str | None, sink, errors: set) -> threading.Thread:
    """Copy a process's output, `stream`, to `sink`, each line after [prefix]; an error or a note
    another process has said already (every worker checks a --resume alike, reads the same edited
    config.yaml) is not said again. With no prefix, as it is (worker 0's results)."""
    def copy():
        for line in stream:
            if prefix is not None and line.startswith(("Error: ", "note: ")):
                if line in errors:
                    continue
                errors.add(line)
            sink.write(line if prefix is None else f"[{prefix}] {line}")
            sink.flush()
    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def worker_args(train_args: list[str]) -> list[str]:
    """The workers' `train` arguments: dist_sync unless they name a parameter-server kvstore of
    their own (--kvstore dist_async, or --kvstore=dist_async). Any other kvstore would make each
    worker a training of its own, all writing into one run directory."""
    kvstore = None
    for i, arg in enumerate(train_args):
        if arg == "--kvstore" and i + 1 < len(train_args):
            kvstore = train_args[i + 1]
        elif arg.startswith("--kvstore="):
            kvstore = arg.split("=", 1)[1]
    if kvstore is None:
        return [*train_args, "--kvstore", "dist_sync"]
    if kvstore not in ("dist_sync", "dist_async"):
        raise JaylyricsError(f"--kvstore {kvstore}: launch's workers train together through the "
                             "parameter server: dist_sync (the default) or dist_async")
    return list(train_args)


def run(num_workers: int, num_servers: int, train_args: list[str], timeout: float | None = None,
        sink=None, cwd=None, out=None) -> int:
    """Start everything, wait for the workers, stop the rest. Every process's output goes to
    `sink` (stderr), prefixed, but for worker 0's standard output, its results (the summary, or
    --json's object), which go to `out` (stdout) as they are. Returns the exit code of the run:
    0 when every worker succeeded, else the first failure's (130 on Ctrl-C)."""
    if num_workers < 1 or num_servers < 1:
        raise JaylyricsError("launch needs at least one worker (-n) and one server (-s)")
    if max(num_workers, num_servers) > MAX_PROCESSES:            # each one a Python with MXNet
        raise JaylyricsError(f"launch starts at most {MAX_PROCESSES} workers (-n) and "
                             f"{MAX_PROCESSES} servers (-s) on this machine; got -n {num_workers} "
                             f"-s {num_servers}")
    if timeout is not None and not timeout > 0:
        raise JaylyricsError(f"--timeout {timeout:g}: expected a number of seconds > 0")
    if not train_args or train_args[0].startswith("-"):          # train's options alone
        train_args = ["train", *train_args]
    if train_args[0] != "train":
        raise JaylyricsError("launch runs training: jaylyrics launch -n 2 -- train [OPTIONS]")
    args = worker_args(train_args)
    sink, out = sink or sys.stderr, out or sys.stdout
    python = sys.executable
    if not any(a == "--resume" or a.startswith("--resume=") for a in args):
        code = _check_first(python, args, num_workers, num_servers, sink, cwd, out)
        if code is not None:
            return code
    port, *node_ports = free_ports(1 + num_servers + num_workers)
    serve = [python, "-c", "import jaylyrics.backend"]       # serves until the workers finish
    procs: list[tuple[str, subprocess.Popen]] = []
    threads, errors = [], set()

    def start(name, role, command, node_port=None, results=False):
        env = role_env(role, port, num_workers, num_servers, node_port=node_port)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE if results else subprocess.STDOUT,
                                text=True, cwd=cwd, start_new_session=True)
        procs.append((name, proc))
        if results:            # worker 0: its stdout is launch's, as it is; its stderr prefixed
            threads.extend([_pipe(proc.stdout, None, out, errors),
                            _pipe(proc.stderr, name, sink, errors)])
        else:
            threads.append(_pipe(proc.stdout, name, sink, errors))

    def stop_on_signal(signum, frame):   # `kill`, `timeout`, a hang-up: clean up like Ctrl-C
        if hangup.is_hangup(signum):
            hangup.leave_terminal()
        raise KeyboardInterrupt

    import signal

    from jaylyrics import hangup
    previous = {sig: signal.signal(sig, stop_on_signal)
                for sig in hangup.stop_signals() if sig != signal.SIGINT}
    code, workers, failed = 0, [], []
    try:
        start("scheduler", "scheduler", serve)
        for i in range(num_servers):
            start(f"server {i}", "server", serve, node_ports[i])
        for i in range(num_workers):       # worker i, rank i: their ports ascend as they do
            start(f"worker {i}", "worker", [python, "-m", "jaylyrics", *args],
                  node_ports[num_servers + i], results=i == 0)
            workers.append(procs[-1])
        deadline = time.time() + timeout if timeout is not None else math.inf
        while True:
            codes = [p.poll() for _, p in workers]
            failed = [(n, c) for (n, _), c in zip(workers, codes) if c not in (None, 0)]
            if failed:
                name, code = failed[0]
                sink.write(f"[launch] {name} exited with code {code}; stopping every process\n")
                break
            if all(c == 0 for c in codes):
                break
            if time.time() > deadline:
                sink.write(f"[launch] the workers did not finish within {timeout:.0f} s; "
                           "stopping every process\n")
                code = 1
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        sink.write("[launch] interrupted; stopping every process\n")
        code = 130
    finally:               # the workers first: they stop together at a batch boundary, which
        # needs the servers and the scheduler still there; after a worker failed, the others wait
        # for its gradients, deaf to SIGTERM (MXNet holds the thread): kill them sooner
        _stop([p for _, p in workers], grace=3.0 if failed else 10.0)
        _stop([p for _, p in procs])
        for thread in threads:
            thread.join(timeout=5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _check_first(python: str, args: list[str], num_workers: int, num_servers: int, sink,
                 cwd, out) -> int | None:
    """The workers' `train --dry-run`, once, before any process starts: a mistake in the config,
    the corpus or the run directory is said once (not by every worker), with train's exit code.
    With --dry-run given, its plan is all launch prints (0). None: go on and start them. (A
    dry run loads no MXNet, so a worker's environment is safe here; --resume is checked by
    the workers, as a dry run does not take it.)"""
    dry = "--dry-run" in args
    try:
        check = subprocess.run([python, "-m", "jaylyrics", *args, *([] if dry else ["--dry-run"])],
                               env=role_env("worker", 0, num_workers, num_servers), cwd=cwd,
                               capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:             # (a corpus of gigabytes): the workers check
        return None
    if check.returncode == 0 and not dry:
        return None
    if dry:
        out.write(check.stdout)
    sink.write(check.stderr)
    return check.returncode


def _stop(procs: list[subprocess.Popen], grace: float = 10.0) -> None:
    """Ask politely (SIGTERM; the servers end on their own once the workers are done), then
    kill what is left after `grace` seconds."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
