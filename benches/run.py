"""Side-by-side benchmarks of toksmith and its peers, in one command.

    python benches/run.py [--tier smoke|20m|100m|1g] [--runs N]
                          [--only train,encode,pathological,decode] [--out benches/out]

Every measurement runs `benches/worker.py` in a fresh subprocess; this script collects wall time,
CPU time (user+sys, from the worker) and peak RSS (`wait4` of the child), takes medians over
`--runs`, checks outputs against the reference (HF merges for training, tiktoken ids for encoding)
and writes report.json, report.md and report.png under `--out`. See benches/README.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

TRAIN_TOOLS = ["toksmith", "hf", "rustbpe", "sentencepiece"]
ENCODE_TOOLS = ["toksmith", "tiktoken", "hf", "bpe_openai", "wordchipper"]
DECODE_TOOLS = ["toksmith", "tiktoken", "hf"]
RANKS = ["cl100k", "o200k"]
PACKAGES = {
    "toksmith": "toksmith",
    "tiktoken": "tiktoken",
    "hf": "tokenizers",
    "rustbpe": "rustbpe",
    "sentencepiece": "sentencepiece",
    "bpe_openai": "bpe-openai",
    "wordchipper": "wordchipper",
}
SECTIONS = ["train", "encode", "pathological", "decode"]
# Per tier: default vocab sizes, pathological input size, default runs.
TIERS = {
    "smoke": {"vocab": [2048], "patho": 64 * 1024, "runs": 1},
    "20m": {"vocab": [8192, 32768], "patho": 1 << 20, "runs": 3},
    "100m": {"vocab": [8192, 32768], "patho": 1 << 20, "runs": 3},
    "1g": {"vocab": [8192, 32768], "patho": 1 << 20, "runs": 3},
}


# ---------------------------------------------------------------------------------------------
# Running workers
# ---------------------------------------------------------------------------------------------


def run_worker(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one worker; add its peak RSS (MiB), total process wall and CPU; handle the timeout."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
        result_path = Path(tf.name)
    spec = {**spec, "result": str(result_path)}
    env = {
        **os.environ,
        "RAYON_NUM_THREADS": str(spec.get("threads", 2)),
        "TOKENIZERS_PARALLELISM": "true",
        "OMP_NUM_THREADS": "2",
        "PYTHONHASHSEED": "0",
    }
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "worker.py"), json.dumps(spec)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = t0 + timeout
    timed_out = False
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, ru = os.wait4(proc.pid, 0)
            timed_out = True
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr and proc.stderr.close()
    proc_info = {
        "process_wall_s": time.perf_counter() - t0,
        "peak_rss_mib": ru.ru_maxrss / 1024,
        "process_cpu_s": ru.ru_utime + ru.ru_stime,
    }
    try:
        res = json.loads(result_path.read_text()) if not timed_out else {}
    except (OSError, json.JSONDecodeError):
        res = {}
    result_path.unlink(missing_ok=True)
    if res.get("vm_hwm_mib"):
        proc_info["peak_rss_mib"] = res.pop("vm_hwm_mib")
    if timed_out:
        res = {"ok": False, "status": "timeout", "error": f"killed after {timeout:.0f} s"}
    elif not res:
        res = {
            "ok": False,
            "status": "crash",
            "error": f"exit code {proc.returncode}: {stderr.strip()[-500:]}",
        }
    return {**res, **proc_info}


def interleaved_runs(
    specs: dict[str, dict[str, Any]], runs: int, timeout: float, label: str
) -> dict[str, dict[str, Any]]:
    """Run each tool's worker `runs` times, round by round: every tool's run `i` comes before
    any run `i + 1`, in alternating order, so that a slow spell of a shared machine falls on all
    tools alike (and the runs of one round can be compared pairwise, see `paired_speedup`). A
    tool whose run fails is not run again and reports that run; the others go on."""
    results: dict[str, list[dict[str, Any]]] = {tool: [] for tool in specs}
    failed: dict[str, dict[str, Any]] = {}
    for i in range(runs):
        for tool in list(specs) if i % 2 == 0 else list(reversed(specs)):
            if tool in failed:
                continue
            r = run_worker(specs[tool], timeout)
            status = "ok" if r["ok"] else r["status"]
            print(
                f"  {label} {tool} run {i + 1}/{runs}: {status} ({r['process_wall_s']:.1f} s)",
                flush=True,
            )
            if r["ok"]:
                results[tool].append(r)
            else:
                failed[tool] = r
    return {tool: failed.get(tool) or fold_runs(results[tool]) for tool in specs}


def fold_runs(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One tool's successful runs folded into medians (each phase keeps every run's wall)."""
    out = dict(results[-1])
    out["runs"] = len(results)
    for key in ("peak_rss_mib", "process_wall_s", "process_cpu_s"):
        out[key] = statistics.median(r[key] for r in results)
    for phase in ("load", "single", "warm", "batch", "decode", "train"):
        if phase in out:
            out[phase] = {k: statistics.median(r[phase][k] for r in results) for k in out[phase]}
            out[phase]["all_wall_s"] = [r[phase]["wall_s"] for r in results]
    return out


def paired_speedup(base: dict[str, Any], row: dict[str, Any], phase: str) -> float | None:
    """How many times faster `base` (toksmith) ran `phase` than `row`: the median over rounds
    of the ratio of the two runs in the same round (less swayed by a machine's slow spells
    than a ratio of medians)."""
    if not (base.get("ok") and row.get("ok") and phase in base and phase in row):
        return None
    pairs = zip(base[phase]["all_wall_s"], row[phase]["all_wall_s"])
    ratios = [peer / mine for mine, peer in pairs if mine > 0]
    return statistics.median(ratios) if ratios else None


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def selected(tools: list[str], args: argparse.Namespace) -> list[str]:
    """`tools` narrowed to `--tools` (toksmith is kept: every ratio is against it)."""
    if not args.tools:
        return tools
    wanted = {"toksmith", *args.tools.split(",")}
    return [t for t in tools if t in wanted]


def bench_train(files: list[Path], vocabs: list[int], args: argparse.Namespace) -> list[dict]:
    rows = []
    for vocab in vocabs:
        specs = {
            tool: {
                "task": "train",
                "tool": tool,
                "files": [str(f) for f in files],
                "vocab_size": vocab,
                "out": str(args.out / "train" / f"{tool}-{vocab}"),
            }
            for tool in selected(TRAIN_TOOLS, args)
        }
        results = interleaved_runs(specs, args.runs, args.train_timeout, f"train v{vocab}")
        rows += [{"tool": tool, "vocab_size": vocab, **r} for tool, r in results.items()]
        rows += merges_checks(rows, vocab)
    return rows


def hf_merge_pairs(path: Path) -> list[tuple[str, str]]:
    """`model.merges` of a tokenizer.json as (left, right) pairs (both HF spellings accepted)."""
    merges = json.loads(path.read_text())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def byte_level_decoder() -> dict[str, int]:
    """GPT-2 byte-level alphabet: printable character -> byte."""
    bs = (
        list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0x100))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def first_difference(a: list, b: list) -> dict[str, Any]:
    n = min(len(a), len(b))
    idx = next((i for i in range(n) if a[i] != b[i]), None)
    if idx is None and len(a) == len(b):
        return {"equal": True, "len": len(a)}
    idx = n if idx is None else idx
    return {
        "equal": False,
        "len_a": len(a),
        "len_b": len(b),
        "first_diff": idx,
        "a": repr(a[idx]) if idx < len(a) else None,
        "b": repr(b[idx]) if idx < len(b) else None,
    }


def merges_checks(rows: list[dict], vocab: int) -> list[dict]:
    """toksmith vs HF merges (exact pairs) and rustbpe vs HF (merged token bytes, rank order)."""
    by_tool = {r["tool"]: r for r in rows if r.get("vocab_size") == vocab and r.get("ok")}
    hf = by_tool.get("hf")
    if not hf:
        return []
    hf_pairs = hf_merge_pairs(Path(hf["artifact"]))
    checks = []
    if "toksmith" in by_tool:
        try:
            mine = hf_merge_pairs(Path(by_tool["toksmith"]["artifact"]))
            checks.append(
                {
                    "check": "merges",
                    "tool": "toksmith",
                    "vs": "hf",
                    "vocab_size": vocab,
                    **first_difference(mine, hf_pairs),
                }
            )
        except (OSError, KeyError, ValueError) as e:
            checks.append(
                {
                    "check": "merges",
                    "tool": "toksmith",
                    "vs": "hf",
                    "vocab_size": vocab,
                    "equal": False,
                    "error": str(e),
                }
            )
    if "rustbpe" in by_tool:
        dec = byte_level_decoder()
        hf_tokens = [bytes(dec[c] for c in a + b).hex() for a, b in hf_pairs]
        lines = Path(by_tool["rustbpe"]["artifact"]).read_text().split()
        hf_tokens = [repr(bytes.fromhex(h)) for h in hf_tokens]
        rb_tokens = [
            repr(bytes.fromhex(h)) for h, r in zip(lines[::2], lines[1::2]) if int(r) >= 256
        ]
        checks.append(
            {
                "check": "merged-token bytes",
                "tool": "rustbpe",
                "vs": "hf",
                "vocab_size": vocab,
                **first_difference(rb_tokens, hf_tokens),
            }
        )
    return checks


def bench_encode(files: list[Path], args: argparse.Namespace, modes: list[str]) -> list[dict]:
    rows = []
    for rank in RANKS:
        specs = {}
        for tool in selected(ENCODE_TOOLS, args):
            tool_modes = [m for m in modes if m != "decode" or tool in DECODE_TOOLS]
            if tool_modes:
                specs[tool] = {
                    "task": "encode",
                    "tool": tool,
                    "rank": rank,
                    "files": [str(f) for f in files],
                    "modes": tool_modes,
                }
        results = interleaved_runs(specs, args.runs, args.encode_timeout, f"encode {rank}")
        group = []
        for tool, r in results.items():
            row = {"tool": tool, "rank": rank, **r}
            if r.get("ok"):
                for phase in ("single", "batch", "decode"):
                    if phase in row:
                        row[phase]["mb_s"] = row["bytes"] / 1e6 / row[phase]["wall_s"]
            group.append(row)
        ref = next((r.get("digests") for r in group if r["tool"] == "tiktoken"), None)
        for row in group:
            digests = row.pop("digests", None)
            if ref is not None and digests is not None:
                row["ids_match_tiktoken"] = sum(a == b for a, b in zip(digests, ref))
        rows += group
    return rows


# toksmith encodes one long text on every thread of its pool; this row shows it on one.
ONE_THREAD = "toksmith-1thread"


def bench_patho(args: argparse.Namespace, size: int) -> list[dict]:
    """Every pathological input under both rank files: cl100k keeps a run of letters (or of
    CJK) as one piece, o200k cuts letters at case changes."""
    rows = []
    for rank in RANKS:
        for name in common.PATHOLOGICAL:
            rows += patho_group(args, rank, name, size)
    return rows


def patho_group(args: argparse.Namespace, rank: str, name: str, size: int) -> list[dict]:
    specs = {}
    for tool in [*selected(ENCODE_TOOLS, args), ONE_THREAD]:
        spec = {"task": "patho", "tool": tool, "rank": rank, "input": name, "size": size}
        specs[tool] = {**spec, "tool": "toksmith", "threads": 1} if tool == ONE_THREAD else spec
    results = interleaved_runs(specs, args.runs, args.timeout, f"patho {rank} {name}")
    group = []
    for tool, r in results.items():
        row = {"tool": tool, "rank": rank, "input": name, **r}
        if r.get("ok"):
            row["single"]["mb_s"] = row["bytes"] / 1e6 / row["single"]["wall_s"]
        group.append(row)
    ref = next((r.get("digest") for r in group if r["tool"] == "tiktoken" and r.get("ok")), None)
    for row in group:
        if row.get("ok"):
            row["ids_match_tiktoken"] = None if ref is None else row["digest"] == ref
    return group


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for tool, pkg in PACKAGES.items():
        try:
            versions[tool] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[tool] = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_at_start": load,
    }


def fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    return f"{x:.3g}{unit}" if abs(x) < 100 else f"{x:.0f}{unit}"


def status_of(row: dict) -> str:
    return "ok" if row.get("ok") else f"{row.get('status')}: {row.get('error', '')}"[:90]


def tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every section; shared by the terminal output and report.md."""
    out = []
    train = [r for r in report.get("train", []) if "check" not in r]
    if train:
        ts = {r["vocab_size"]: r for r in train if r["tool"] == "toksmith" and r.get("ok")}
        rows = []
        for r in train:
            base = ts.get(r["vocab_size"])
            ok = r.get("ok")
            wall = r["train"]["wall_s"] if ok else None
            rows.append(
                [
                    r["tool"],
                    str(r["vocab_size"]),
                    fmt(wall, " s"),
                    fmt(r["train"]["cpu_s"], " s") if ok else "-",
                    fmt(r["peak_rss_mib"], " MiB") if ok else "-",
                    fmt(1 / sp, "x") if base and (sp := paired_speedup(base, r, "train")) else "-",
                    fmt(base["peak_rss_mib"] / r["peak_rss_mib"], "x") if base and ok else "-",
                    status_of(r),
                ]
            )
        out.append(
            (
                "Training (o200k regex)",
                [
                    "tool",
                    "vocab",
                    "wall",
                    "cpu",
                    "peak RSS",
                    "toksmith wall/peer",
                    "toksmith RSS/peer",
                    "status",
                ],
                rows,
            )
        )
    checks = [r for r in report.get("train", []) if "check" in r]
    if checks:
        rows = [
            [
                c["tool"],
                c["vs"],
                c["check"],
                str(c["vocab_size"]),
                "equal"
                if c.get("equal")
                else c.get("error") or f"differ at #{c['first_diff']}: {c['a']} vs {c['b']}",
            ]
            for c in checks
        ]
        out.append(("Training output check", ["tool", "vs", "what", "vocab", "result"], rows))
    enc = report.get("encode", [])
    for phase, title in (
        ("single", "Encoding, single thread"),
        ("batch", "Encoding, batch (2 threads)"),
        ("decode", "Decoding (decode_bytes)"),
    ):
        sel = [r for r in enc if phase in r or not r.get("ok")]
        if not any(phase in r for r in sel):
            continue
        ts = {r["rank"]: r for r in sel if r["tool"] == "toksmith" and phase in r}
        rows = []
        for r in sel:
            if not r.get("ok") and phase == "decode" and r["tool"] not in DECODE_TOOLS:
                continue
            ok = phase in r
            base = ts.get(r["rank"])
            mbs = r[phase]["mb_s"] if ok else None
            match = "-"
            if ok and phase != "decode" and "ids_match_tiktoken" in r:
                match = f"{r['ids_match_tiktoken']}/{r['docs']}"
            if ok and phase == "decode":
                match = f"roundtrip {r['decode_roundtrip']}/{r['docs']}"
            rows.append(
                [
                    r["tool"],
                    r["rank"],
                    fmt(mbs, " MB/s"),
                    fmt(r[phase]["cpu_s"], " s") if ok else "-",
                    fmt(r["peak_rss_mib"], " MiB") if ok else "-",
                    fmt(paired_speedup(base, r, phase), "x") if base else "-",
                    match,
                    status_of(r),
                ]
            )
        out.append(
            (
                title,
                [
                    "tool",
                    "ranks",
                    "MB/s",
                    "cpu",
                    "peak RSS",
                    "toksmith/peer speed",
                    "ids = tiktoken",
                    "status",
                ],
                rows,
            )
        )
    patho = report.get("pathological", [])
    if patho:
        ts = {
            (r.get("rank"), r["input"]): r for r in patho if r["tool"] == "toksmith" and r.get("ok")
        }
        rows = []
        for r in patho:
            ok = r.get("ok")
            base = ts.get((r.get("rank"), r["input"]))
            wall = r["single"]["wall_s"] if ok else None
            warm = r["warm"]["wall_s"] if ok and "warm" in r else None
            rows.append(
                [
                    r.get("rank", "o200k"),
                    r["input"],
                    r["tool"],
                    fmt(wall, " s"),
                    fmt(paired_speedup(base, r, "single"), "x") if base else "-",
                    fmt(warm, " s"),
                    fmt(paired_speedup(base, r, "warm"), "x") if base else "-",
                    {True: "yes", False: "NO", None: "-"}[r.get("ids_match_tiktoken")]
                    if ok
                    else "-",
                    status_of(r),
                ]
            )
        out.append(
            (
                f"Pathological inputs ({report['config']['patho_bytes']} bytes each)",
                [
                    "rank",
                    "input",
                    "tool",
                    "first call",
                    "toksmith speed/peer",
                    "warm (median)",
                    "warm speed/peer",
                    "ids = tiktoken",
                    "status",
                ],
                rows,
            )
        )
    return out


def render_text(tabs: list[tuple[str, list[str], list[list[str]]]]) -> str:
    lines = []
    for title, header, rows in tabs:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines += ["", f"== {title} ==", "  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def render_md(report: dict[str, Any], tabs: list[tuple[str, list[str], list[list[str]]]]) -> str:
    m = report["machine"]
    c = report["config"]
    lines = [
        "# toksmith benchmark report",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}",
        f"- load average at start: {m['loadavg_at_start']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in m['versions'].items())}",
        f"- corpus: {c['corpus_bytes']} bytes in {len(c['files'])} file(s) (tier {c['tier']}); "
        f"medians of {c['runs']} run(s); generated {report['generated']}",
        "- ratios: `toksmith/peer speed` > 1 and `toksmith wall/peer` < 1 mean toksmith is faster;"
        " tools run round by round, and a ratio is the median over rounds of the ratio of the two"
        " runs in one round",
        "",
    ]
    for title, header, rows in tabs:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(x.replace("|", "\\|") for x in r) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path) -> str | None:
    """Bar charts (encode MB/s per tool and rank file; training wall per tool). None if skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"skipped: {e}"
    enc = [r for r in report.get("encode", []) if r.get("ok")]
    train = [r for r in report.get("train", []) if "check" not in r and r.get("ok")]
    panels = [p for p in ("single", "batch", "decode") if any(p in r for r in enc)]
    n = len(panels) + (1 if train else 0)
    if n == 0:
        return "skipped: nothing to plot"
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False)
    for ax, phase in zip(axes[0], panels):
        sel = [r for r in enc if phase in r]
        ax.bar(
            [f"{r['tool']}\n{r['rank']}" for r in sel],
            [r[phase]["mb_s"] for r in sel],
            color=["tab:red" if r["tool"] == "toksmith" else "tab:blue" for r in sel],
        )
        ax.set_title(f"{phase} (MB/s, higher is better)")
        ax.tick_params(axis="x", labelsize=7, rotation=60)
    if train:
        ax = axes[0][-1]
        ax.bar(
            [f"{r['tool']}\nv{r['vocab_size']}" for r in train],
            [r["train"]["wall_s"] for r in train],
            color=["tab:red" if r["tool"] == "toksmith" else "tab:green" for r in train],
        )
        ax.set_title("training wall (s, lower is better)")
        ax.tick_params(axis="x", labelsize=7, rotation=60)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tier", choices=list(TIERS), default="smoke")
    p.add_argument(
        "--runs", type=int, default=None, help="runs per measurement (median); tier default"
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1 unless toksmith ran everywhere with HF's merges and tiktoken's ids (CI)",
    )
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {SECTIONS}")
    p.add_argument(
        "--tools",
        default=None,
        help="comma list of tools to run (default: all that install; toksmith always runs)",
    )
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument(
        "--corpus", type=Path, action="append", help="text file(s) to use instead of the tier's"
    )
    p.add_argument(
        "--vocab", type=int, action="append", help="training vocab size(s); tier default"
    )
    p.add_argument(
        "--timeout", type=float, default=60.0, help="per-run timeout for pathological inputs (s)"
    )
    p.add_argument("--encode-timeout", type=float, default=600.0)
    p.add_argument("--train-timeout", type=float, default=1800.0)
    p.add_argument(
        "--make-corpus",
        nargs=2,
        metavar=("MIB", "PATH"),
        help="only write a MIB-sized corpus of machine text to PATH and exit",
    )
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        p.error(f"--only: unknown section(s) {bad}; choose from {SECTIONS}")
    args.only = only
    args.runs = args.runs or TIERS[args.tier]["runs"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.make_corpus:
        mib, path = args.make_corpus
        print(common.build_machine_corpus(Path(path), int(float(mib) * (1 << 20))))
        return 0
    files = args.corpus or common.tier_files(args.tier)
    for f in files:
        if not f.is_file():
            sys.exit(f"--corpus {f}: not a file")
    files = [f.resolve() for f in files]
    args.out.mkdir(parents=True, exist_ok=True)
    tier = TIERS[args.tier]
    report: dict[str, Any] = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine_info(),
        "config": {
            "tier": args.tier,
            "files": [str(f) for f in files],
            "runs": args.runs,
            "corpus_bytes": sum(f.stat().st_size for f in files),
            "only": args.only,
            "patho_bytes": tier["patho"],
            "timeout_s": args.timeout,
            "rank_files": {},
        },
    }
    for rank in RANKS:
        path, pattern, how = common.rank_file(rank)
        report["config"]["rank_files"][rank] = {
            "path": str(path),
            "source": how,
            "sha256": common.sha256_file(path),
        }
    t0 = time.perf_counter()
    if "train" in args.only:
        report["train"] = bench_train(files, args.vocab or tier["vocab"], args)
    modes = (["single", "batch"] if "encode" in args.only else []) + (
        ["decode"] if "decode" in args.only else []
    )
    if modes:
        report["encode"] = bench_encode(files, args, modes)
    if "pathological" in args.only:
        report["pathological"] = bench_patho(args, tier["patho"])
    report["total_s"] = time.perf_counter() - t0
    tabs = tables(report)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "report.md").write_text(render_md(report, tabs))
    skipped = chart(report, args.out / "report.png")
    print(render_text(tabs))
    print(
        f"\nwrote {args.out}/report.json, report.md"
        + (f"; chart {skipped}" if skipped else ", report.png")
        + f" ({report['total_s']:.0f} s)"
    )
    if args.check:
        problems = check_toksmith(report)
        for p in problems:
            print(f"CHECK FAILED: {p}", file=sys.stderr)
        return 1 if problems else 0
    return 0


def check_toksmith(report: dict[str, Any]) -> list[str]:
    """What keeps the harness honest in CI: toksmith ran everywhere, its merges equal HF's and
    its ids equal tiktoken's wherever tiktoken finished."""
    problems = []
    for section in ("train", "encode", "pathological"):
        for r in report.get(section, []):
            tool = r.get("tool")
            if tool not in ("toksmith", ONE_THREAD) or "check" in r:
                continue
            what = [r.get(k) for k in ("rank", "input", "vocab_size") if r.get(k) is not None]
            where = f"{section} {' '.join(map(str, what))}"
            if not r.get("ok"):
                problems.append(f"{tool} {where}: {r.get('error') or r.get('status')}")
            elif r.get("ids_match_tiktoken") not in (None, True, r.get("docs")):
                problems.append(f"{tool} {where}: ids differ from tiktoken")
    for r in report.get("train", []):
        if r.get("tool") == "toksmith" and r.get("vs") == "hf" and not r.get("equal"):
            problems.append(f"toksmith merges differ from HF at vocab {r.get('vocab_size')}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
