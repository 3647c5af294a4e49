"""What this machine offers to computation: the physical cores this process may use, capped by
a CPU quota on its cgroup (a container's, a systemd unit's, a Slurm job's; Linux, elsewhere the
CPU count), and its memory, likewise capped by a memory limit. Read by `backend` to choose
MXNet's thread count, and by `train` to refuse a model that cannot fit. No MXNet here.
"""

from __future__ import annotations

import os


def physical_cores(sysfs: str = "/sys/devices/system/cpu") -> int:
    """The physical cores among the CPUs this process may run on: hyperthreads of one core share
    its arithmetic units, and an extra OpenMP thread on them costs more than it brings. Read from
    Linux's CPU topology; elsewhere, or if it is unreadable, the number of CPUs."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:                       # not on Linux
        return os.cpu_count() or 1
    cores = set()
    try:
        for cpu in cpus:
            topology = os.path.join(sysfs, f"cpu{cpu}", "topology")
            with open(os.path.join(topology, "physical_package_id")) as f, \
                    open(os.path.join(topology, "core_id")) as g:
                cores.add((f.read().strip(), g.read().strip()))
    except OSError:
        return len(cpus)
    return len(cores) or len(cpus)


def cpu_quota(cgroup: str = "/sys/fs/cgroup", proc: str = "/proc/self/cgroup") -> int | None:
    """The CPUs a CPU quota allows this process (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us`
    over `cpu.cfs_period_us`), rounded up; None without a quota. A container limited to 2 CPUs
    on a 64-core host still sees 64 CPUs, and 64 spinning threads would crawl. Read in this
    process's own cgroup and each one above it (`_cgroup_dirs`: a systemd unit's CPUQuota= on
    a host), as at the root (a container, which sees its own cgroup there); the lowest wins."""
    v2, v1 = _cgroup_dirs(cgroup, proc, "cpu")
    quotas = [_quota(os.path.join(d, "cpu.max"), None) for d in v2]
    quotas += [_quota(os.path.join(d, "cpu.cfs_quota_us"), os.path.join(d, "cpu.cfs_period_us"))
               for d in v1]
    quotas = [q for q in quotas if q is not None]
    return min(quotas) if quotas else None


def _quota(quota_file: str, period_file: str | None) -> int | None:
    """The CPUs one cgroup's quota allows, rounded up (None: none, or not there)."""
    try:
        with open(quota_file) as f:
            fields = f.read().split()
        if period_file:
            with open(period_file) as f:
                fields.append(f.read().strip())
        quota, period = fields[0], float(fields[1])
    except (OSError, IndexError, ValueError):
        return None
    if quota in ("max", "-1") or period <= 0:
        return None
    try:
        return max(1, -(-int(quota) // int(period)))
    except ValueError:
        return None


def _cgroup_dirs(cgroup: str, proc: str, controller: str) -> tuple[list[str], list[str]]:
    """The directories that may hold a limit on this process: its own cgroup and each one above
    it, in the cgroup v2 hierarchy under `cgroup` and in v1's `controller` hierarchy
    (`cgroup/controller`), as /proc/self/cgroup names them (v2's line `0::/a/b`, v1's
    `4:cpu,cpuacct:/a/b`). Each list ends with its root; where /proc says nothing (not Linux),
    the roots alone."""
    try:
        with open(proc) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    own = {"": "", controller: ""}                   # hierarchy -> this process's path in it
    for line in lines:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "" and number == "0":
            own[""] = path
        elif controller in controllers.split(","):
            own[controller] = path

    def upwards(root: str, path: str) -> list[str]:
        names = [n for n in path.split("/") if n]
        return [os.path.join(root, *names[:i]) for i in range(len(names), -1, -1)]
    return upwards(cgroup, own[""]), upwards(os.path.join(cgroup, controller), own[controller])


def usable_cores() -> int:
    """Physical cores this process may run on, capped by a CPU quota on its cgroup."""
    quota = cpu_quota()
    return physical_cores() if quota is None else min(physical_cores(), quota)


def physical_memory() -> int | None:
    """The machine's memory in bytes (Linux and macOS), or None where it cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit(cgroup: str = "/sys/fs/cgroup", proc: str = "/proc/self/cgroup") -> int | None:
    """The memory limit in bytes on this process (cgroup v2 `memory.max`, or v1
    `memory.limit_in_bytes`), None without one; read like `cpu_quota` (a container's, a systemd
    unit's MemoryMax=, a Slurm job's --mem), the lowest wins. A container limited to 2 GiB on a
    64 GiB host still sees 64 GiB, and a training beyond its limit is killed without a word."""
    v2, v1 = _cgroup_dirs(cgroup, proc, "memory")
    files = [os.path.join(d, "memory.max") for d in v2]
    files += [os.path.join(d, "memory.limit_in_bytes") for d in v1]
    limits = []
    for name in files:
        try:
            with open(name) as f:
                value = f.read().strip()
            if value != "max" and int(value) < 2**60:        # v1 writes none as about 2**63
                limits.append(int(value))
        except (OSError, ValueError):
            continue
    return min(limits) if limits else None
