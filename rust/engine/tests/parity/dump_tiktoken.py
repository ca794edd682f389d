"""Dump tiktoken's ids for parity checks against toksmith (see ../tiktoken_parity.rs).

Usage: python dump_tiktoken.py RANKS_DIR OUT_DIR INPUT...

RANKS_DIR holds cl100k_base.tiktoken and o200k_base.tiktoken. For every input and encoding,
OUT_DIR gets <encoding>.<n>.ids (space-separated ids of encode_ordinary) and a line in
OUT_DIR/manifest.tsv: encoding, input path, ids path.
"""

import sys
from pathlib import Path

import tiktoken
from tiktoken.load import load_tiktoken_bpe


def encoding(name: str, ranks_dir: Path) -> tiktoken.Encoding:
    """tiktoken's own constructor for `name`, reading the rank file from `ranks_dir`."""
    from tiktoken_ext import openai_public

    local = ranks_dir / f"{name}_base.tiktoken"

    def load_local(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return load_tiktoken_bpe(str(local))

    openai_public.load_tiktoken_bpe = load_local
    ctor = {"cl100k": openai_public.cl100k_base, "o200k": openai_public.o200k_base}[name]
    return tiktoken.Encoding(**ctor())


def main() -> None:
    ranks_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in ("cl100k", "o200k"):
        enc = encoding(name, ranks_dir)
        for n, path in enumerate(sys.argv[3:]):
            text = Path(path).read_bytes().decode("utf-8", errors="replace")
            ids = enc.encode_ordinary(text)
            ids_path = out_dir / f"{name}.{n}.ids"
            ids_path.write_text(" ".join(map(str, ids)))
            lines.append(f"{name}\t{path}\t{ids_path}\n")
    (out_dir / "manifest.tsv").write_text("".join(lines))


if __name__ == "__main__":
    main()
