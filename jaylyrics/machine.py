"""What this machine offers to computation: the physical cores this process may use, and a
container's CPU quota (Linux; elsewhere the CPU count), and its memory and a container's memory
limit. Read by `backend` to choose MXNet's thread count, and by `train` to refuse a model that
cannot fit. No MXNet here.
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


def cpu_quota(cgroup: str = "/sys/fs/cgroup") -> int | None:
    """The CPUs a container's CPU quota allows (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us`
    over `cpu.cfs_period_us`), rounded up; None without a quota. A container limited to 2 CPUs
    on a 64-core host still sees 64 CPUs, and 64 spinning threads would crawl."""
    for quota_file, period_file in (("cpu.max", None),
                                    ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            with open(os.path.join(cgroup, quota_file)) as f:
                fields = f.read().split()
            if period_file:
                with open(os.path.join(cgroup, period_file)) as f:
                    fields.append(f.read().strip())
            quota, period = fields[0], float(fields[1])
        except (OSError, IndexError, ValueError):
            continue
        if quota in ("max", "-1") or period <= 0:
            return None
        return max(1, -(-int(quota) // int(period)))
    return None


def usable_cores() -> int:
    """Physical cores this process may run on, capped by a container's CPU quota."""
    quota = cpu_quota()
    return physical_cores() if quota is None else min(physical_cores(), quota)


def physical_memory() -> int | None:
    """The machine's memory in bytes (Linux and macOS), or None where it cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit(cgroup: str = "/sys/fs/cgroup") -> int | None:
    """A container's memory limit in bytes (cgroup v2 `memory.max`, or v1
    `memory.limit_in_bytes`), None without one. A container limited to 2 GiB on a 64 GiB host
    still sees 64 GiB, and a training beyond its limit is killed without a word."""
    for name in ("memory.max", "memory/memory.limit_in_bytes"):
        try:
            with open(os.path.join(cgroup, name)) as f:
                value = f.read().strip()
            limit = None if value == "max" else int(value)
        except (OSError, ValueError):
            continue
        return limit if limit is not None and limit < 2**60 else None   # v1: none is ~2**63
    return None
