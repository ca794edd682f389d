#!/usr/bin/env bash
# Every test toksmith has, from a fresh clone: build + install the extension, build the small corpora
# tier, then Rust tests, lints and the Python suite. This is the README's test command; CI calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install toksmith with the test, bench and hf extras (builds the Rust extension)"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[test,bench,hf]"

step "corpora: small tier + reference tokenizers (cached)"
python corpora/build.py --tier small --quiet

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "cargo test"
cargo test --workspace --quiet

step "ruff"
ruff check python tests corpora benches
ruff format --check python tests corpora benches

step "pytest"
python -m pytest -q tests

step "benchmark harness smoke (toksmith beside its peers; checks merges and ids, no timing asserts)"
python benches/run.py --tier smoke --runs 1 --check --out benches/out/smoke
