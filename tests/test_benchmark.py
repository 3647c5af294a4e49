"""benchmarks/throughput.py still runs against today's API: every implementation on a small
vocabulary, sampling latency and peak memory (the full benchmark is a documented command, not a
test: these machines are too noisy for timed assertions)."""

import benchmarks.throughput as bench


def test_every_implementation_trains_and_is_timed():
    results = bench.measure([40], ["rnn", "gru", "lstm"], rounds=1, iters=1)
    got = {(r["impl"], r["model"]) for r in results}
    assert got == {("jaylyrics", k) for k in ("rnn", "gru", "lstm")} | \
        {("fused", k) for k in ("rnn", "gru", "lstm")} | {("tutorial", "rnn")}
    assert all(r["V"] == 40 and r["chars_per_s"] > 0 for r in results)


def test_sampling_latency_and_peak_memory_are_measured():
    assert bench.sampling_latency(40, chars=5) > 0
    rss = bench.peak_rss_mb(40, iters=1)
    assert 50 < rss < 4000                  # MB of one process that imported MXNet and trained


def test_both_settings_are_measured_in_processes_of_their_own():
    results = bench.measure_in_processes(1, quick=True, smoke=True)
    got = {(r["impl"], r["model"], r["settings"]) for r in results}
    assert ("fused", "gru", "mxnet_defaults") in got and ("fused", "gru", "jaylyrics") in got
    assert {s for _, _, s in got} == {"jaylyrics", "mxnet_defaults"} and len(got) == 14
