"""The benchmark harness's run scheduling and ratios (no timing: the worker is replaced)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHES = Path(__file__).resolve().parent.parent / "benches"


@pytest.fixture()
def run_module(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHES))
    spec = importlib.util.spec_from_file_location("bench_run", BENCHES / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_run", None)


def fake_worker(walls: dict[str, list[float]], calls: list[str], fail: dict[str, int]):
    """A `run_worker` whose tool `t` takes `walls[t][i]` seconds on its i-th call."""

    def run(spec, timeout):
        tool = spec["tool"]
        i = sum(1 for c in calls if c == tool)
        calls.append(tool)
        if fail.get(tool) == i:
            return {"ok": False, "status": "crash", "error": "boom", "process_wall_s": 0.1}
        wall = walls[tool][i]
        return {
            "ok": True,
            "single": {"wall_s": wall, "cpu_s": wall},
            "peak_rss_mib": 10.0 + i,
            "process_wall_s": wall + 1,
            "process_cpu_s": wall,
        }

    return run


def test_runs_go_round_by_round_in_alternating_order(run_module, monkeypatch):
    calls: list[str] = []
    walls = {"a": [1.0, 2.0, 3.0], "b": [1.0, 1.0, 1.0], "c": [5.0, 5.0, 5.0]}
    monkeypatch.setattr(run_module, "run_worker", fake_worker(walls, calls, {}))
    specs = {t: {"tool": t} for t in walls}
    out = run_module.interleaved_runs(specs, 3, 1.0, "x")
    assert calls == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert out["a"]["single"]["wall_s"] == 2.0
    assert out["a"]["single"]["all_wall_s"] == [1.0, 2.0, 3.0]
    assert out["a"]["runs"] == 3
    assert out["c"]["peak_rss_mib"] == 11.0


def test_a_failed_tool_stops_and_the_others_go_on(run_module, monkeypatch):
    calls: list[str] = []
    walls = {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}
    monkeypatch.setattr(run_module, "run_worker", fake_worker(walls, calls, {"b": 1}))
    out = run_module.interleaved_runs({t: {"tool": t} for t in walls}, 3, 1.0, "x")
    assert calls == ["a", "b", "b", "a", "a"]
    assert out["b"]["ok"] is False and out["b"]["status"] == "crash"
    assert out["a"]["ok"] and out["a"]["runs"] == 3
    assert run_module.paired_speedup(out["a"], out["b"], "single") is None


def test_paired_speedup_is_the_median_of_per_round_ratios(run_module):
    mine = {"ok": True, "single": {"all_wall_s": [1.0, 2.0, 1.0]}}
    # A slow spell in round 2 hits both tools: per-round ratios 3, 3, 4 -> 3.
    peer = {"ok": True, "single": {"all_wall_s": [3.0, 6.0, 4.0]}}
    assert run_module.paired_speedup(mine, peer, "single") == 3.0
    assert run_module.paired_speedup(mine, mine, "single") == 1.0
    assert run_module.paired_speedup(mine, peer, "batch") is None
