"""The ``toksmith`` command line: train, count, encode, decode, info, convert, patterns,
transplant, eval-lm.

Every failure prints one line ``error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import patterns as _patterns
from .tokenizer import Tokenizer


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {_one_line(message)}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """A group whose `main` turns every expected failure into one ``error:`` line + exit 2."""

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            _fail(e.format_message() + hint)
        except click.ClickException as e:
            _fail(e.format_message())
        except click.Abort:
            _fail("aborted", 1)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        except FileNotFoundError as e:
            _fail(e.strerror + f": {e.filename}" if e.filename and e.strerror else str(e))
        except (ValueError, OSError, KeyError, TypeError) as e:
            _fail(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))
        sys.exit(rv if isinstance(rv, int) else 0)


def _load(spec: str) -> Tokenizer:
    """A tokenizer file, or a reference name (gpt2, cl100k, o200k, llama3, qwen2)."""
    return Tokenizer.load(spec)


def _save(tok: Tokenizer, out: str, fmt: str | None) -> str:
    fmt = fmt or ("json" if out.endswith(".json") else "tiktoken")
    if fmt == "json":
        tok.save(out)
    else:
        tok.save_tiktoken(out)
    return fmt


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toksmith", message="toksmith %(version)s")
def cli() -> None:
    """Tokenizer engineering toolkit: fast byte-level BPE training and encoding."""


_PATTERN_HELP = "Pre-tokenizer: a preset name (see 'toksmith patterns'), 'none', or a regex."


@cli.command()
@click.argument("inputs", nargs=-1)
@click.option(
    "--vocab-size",
    "-v",
    type=int,
    default=None,
    callback=lambda ctx, param, value: _need_vocab_size(ctx, param, value),
    help="Target vocabulary size (default with --domain: the domain's).",
)
@click.option("--pattern", "-p", default=None, help=_PATTERN_HELP + " Default: o200k.")
@click.option("--special-token", "-s", "special_tokens", multiple=True, help="Repeatable.")
@click.option("--min-frequency", type=int, default=0, show_default=True)
@click.option("--max-token-length", type=int, default=None, help="Longest token, in bytes.")
@click.option("--field", default="text", show_default=True, help="JSON/Parquet text field.")
@click.option("--specials-at-end", is_flag=True, help="Give special tokens the last ids.")
@click.option("--normalizer", type=click.Choice(["none", "nfc", "nfkc"]), default=None)
@click.option("--continue-from", "base", default=None, help="Tokenizer to continue training.")
@click.option("--counts-out", default=None, help="Also save the counts of INPUTS here.")
@click.option("--counts", "counts", multiple=True, help="Saved counts to merge (repeatable).")
@click.option("--max-distinct", type=int, default=None, help="Keep this many pre-tokens.")
@click.option(
    "--utf8-errors",
    type=click.Choice(["strict", "replace", "skip"]),
    default="strict",
    show_default=True,
)
@click.option("--output", "-o", required=True, help="Output tokenizer path.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "tiktoken"]),
    default=None,
    help="Output format (default: by extension, .json -> tokenizer.json).",
)
@click.option(
    "--superbpe-transition",
    default=None,
    help="SuperBPE: vocabulary size (int) or fraction (e.g. 0.8) where stage 1 stops.",
)
@click.option("--max-words", type=int, default=4, show_default=True, help="SuperBPE word cap.")
@click.option(
    "--no-cross",
    multiple=True,
    type=click.Choice(["colon", "sentence", "newline", "none"]),
    help="SuperBPE merge rules (repeatable; default colon; 'none' for no rule).",
)
@click.option("--separator-curriculum", is_flag=True, help="Train on random-length chunks.")
@click.option("--chunk-min", type=int, default=4, show_default=True)
@click.option("--chunk-max", type=int, default=23, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option(
    "--domain",
    default=None,
    is_eager=True,
    help="Domain defaults: legal, medical, code, chars or binary (see toksmith.domains).",
)
@click.option("--max-token-chars", type=int, default=None, help="Longest token, in characters.")
@click.option("--added-token", "added_tokens", multiple=True, help="Force a token (repeatable).")
@click.option("--added-tokens-file", default=None, help="Forced tokens, one per line.")
@click.option("--digits", type=int, default=None, help="Split digit runs into groups of <= N.")
@click.option("--pad-to", default=None, help="Pad the vocabulary to a multiple N or 'pow2'.")
@click.option("--binary", is_flag=True, help="Train on raw bytes of any files (pattern none).")
@click.option("--nested", default=None, help="Also write the first N ids, e.g. 4096,8192.")
def train(
    inputs: tuple[str, ...],
    vocab_size: int,
    pattern: str | None,
    special_tokens: tuple[str, ...],
    min_frequency: int,
    max_token_length: int | None,
    field: str,
    specials_at_end: bool,
    normalizer: str | None,
    base: str | None,
    counts_out: str | None,
    counts: tuple[str, ...],
    max_distinct: int | None,
    utf8_errors: str,
    output: str,
    fmt: str | None,
    superbpe_transition: str | None,
    max_words: int,
    no_cross: tuple[str, ...],
    separator_curriculum: bool,
    chunk_min: int,
    chunk_max: int,
    quiet: bool,
    domain: str | None,
    max_token_chars: int | None,
    added_tokens: tuple[str, ...],
    added_tokens_file: str | None,
    digits: int | None,
    pad_to: str | None,
    binary: bool,
    nested: str | None,
) -> None:
    """Train a BPE tokenizer on INPUT files, directories or globs (and/or --counts)."""
    from . import domains as _domains
    from .train import DEFAULT_PATTERN
    from .train import count as count_fn
    from .train import train as train_fn

    if not inputs and not counts:
        raise click.UsageError("give INPUT paths and/or --counts")
    shaping: dict[str, Any] = {}
    dom = _domains.get(domain) if domain is not None else None
    if dom is not None:
        d = dom.train_kwargs()
        vocab_size = vocab_size or d.pop("vocab_size")
        pattern = pattern or d.pop("pattern")
        normalizer = normalizer or d.pop("normalizer")
        special_tokens = special_tokens or tuple(d.pop("special_tokens"))
        max_token_length = max_token_length or d.pop("max_token_length")
        shaping.update({k: v for k, v in d.items() if k in _SHAPING})
    if vocab_size is None:
        raise click.UsageError("give --vocab-size (or a --domain)")
    if digits is not None:
        pattern = _domains.split_digits(pattern or DEFAULT_PATTERN, digits)
    extra = list(added_tokens)
    if added_tokens_file:
        extra += _domains.read_tokens(added_tokens_file)
    if extra:
        shaping["added_tokens"] = list(shaping.get("added_tokens", [])) + extra
    if max_token_chars is not None:
        shaping["max_token_chars"] = max_token_chars
    if pad_to is not None:
        shaping["pad_to"] = pad_to if pad_to == "pow2" else _positive_int(pad_to, "--pad-to")
    if binary:
        shaping["binary"] = True
    if shaping.get("binary") and (counts or counts_out):
        raise click.UsageError("--binary trains from files only (no --counts/--counts-out)")
    sizes = [_positive_int(x, "--nested") for x in nested.split(",")] if nested else []
    if not sizes and dom is not None:
        sizes = [n for n in dom.nested_sizes if n <= vocab_size]
    supertokens = _supertoken_options(
        superbpe_transition, max_words, no_cross, separator_curriculum, chunk_min, chunk_max
    )
    if supertokens is not None and (counts or base or counts_out):
        raise click.UsageError("supertokens train on INPUT only (no --counts/--continue-from)")
    merged: Any = list(counts) or None
    if inputs and counts_out:
        fresh = count_fn(
            list(inputs),
            pattern=pattern or (DEFAULT_PATTERN if base is None else _load(base).pretokenizer),
            normalizer=normalizer,
            special_tokens=special_tokens,
            field=field,
            utf8_errors=utf8_errors,
            progress=not quiet,
        )
        fresh.save(counts_out)
        merged = [fresh, *counts]
        inputs = ()
    tok = train_fn(
        list(inputs) or None,
        vocab_size=vocab_size,
        pattern=pattern,
        special_tokens=special_tokens,
        min_frequency=min_frequency,
        max_token_length=max_token_length,
        specials_at_end=specials_at_end,
        counts=merged,
        base=base,
        normalizer=normalizer,
        field=field,
        max_distinct=max_distinct,
        utf8_errors=utf8_errors,
        progress=not quiet,
        supertokens=supertokens,
        **shaping,
    )
    written = _save(tok, output, fmt)
    if not quiet:
        click.echo(
            f"wrote {output} ({written}, {tok.vocab_size} ids, {tok.num_merges} merges)", err=True
        )
    for n, sub in _domains.nested(tok, [n for n in sizes if n != tok.vocab_size]).items():
        path = _domains.nested_path(output, n)
        _save(sub, path, fmt or written)
        if not quiet:
            click.echo(f"wrote {path} (nested, {n} ids)", err=True)


def _need_vocab_size(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is None and not ctx.params.get("domain"):
        raise click.MissingParameter(ctx=ctx, param=param)
    return value


_SHAPING = {"added_tokens", "max_token_chars", "pad_to", "binary", "split_nul", "binary_window"}


def _positive_int(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise click.UsageError(f"{what}: {text!r} is not an integer") from None
    if n < 1:
        raise click.UsageError(f"{what}: {n} must be positive")
    return n


def _supertoken_options(
    transition: str | None,
    max_words: int,
    no_cross: tuple[str, ...],
    separator: bool,
    chunk_min: int,
    chunk_max: int,
) -> dict[str, Any] | None:
    """The `supertokens=` options of `toksmith.train` for the CLI flags (None: plain BPE)."""
    if separator and transition is not None:
        raise click.UsageError("give --superbpe-transition or --separator-curriculum, not both")
    rules = [r for r in no_cross if r != "none"] if no_cross else ["colon"]
    if separator:
        return {"separator": True, "chunk_min": chunk_min, "chunk_max": chunk_max}
    if transition is None:
        return None
    try:
        t: int | float = float(transition) if "." in transition else int(transition)
    except ValueError:
        raise click.UsageError(
            f"--superbpe-transition must be an int or a fraction, got {transition!r}"
        ) from None
    return {"transition": t, "max_words": max_words, "no_cross": rules}


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--output", "-o", required=True, help="Counts file to write.")
@click.option("--pattern", "-p", default="o200k", show_default=True, help=_PATTERN_HELP)
@click.option("--normalizer", type=click.Choice(["none", "nfc", "nfkc"]), default=None)
@click.option(
    "--special-token",
    "-s",
    "special_tokens",
    multiple=True,
    help="Cut out of the text, never counted (repeatable).",
)
@click.option("--field", default="text", show_default=True)
@click.option(
    "--utf8-errors",
    type=click.Choice(["strict", "replace", "skip"]),
    default="strict",
    show_default=True,
)
@click.option("--quiet", "-q", is_flag=True)
def count(
    inputs: tuple[str, ...],
    output: str,
    pattern: str,
    normalizer: str | None,
    special_tokens: tuple[str, ...],
    field: str,
    utf8_errors: str,
    quiet: bool,
) -> None:
    """Count pre-tokens of INPUT into a counts shard (merge shards with 'train --counts')."""
    from .train import count as count_fn

    wc = count_fn(
        list(inputs),
        pattern=pattern,
        normalizer=normalizer,
        special_tokens=special_tokens,
        field=field,
        utf8_errors=utf8_errors,
        progress=not quiet,
    )
    wc.save(output)
    if not quiet:
        click.echo(f"wrote {output} ({len(wc)} distinct pre-tokens, {wc.total} total)", err=True)


def _read_input(source: str) -> str:
    if source == "-":
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    else:
        data = Path(source).read_bytes()
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            where = "stdin" if source == "-" else source
            line = data[: e.start].count(b"\n") + 1
            raise ValueError(f"{where}:{line}: invalid UTF-8") from None
    return data


@cli.command()
@click.option("--tokenizer", "-t", required=True, help="tokenizer.json or tiktoken rank file.")
@click.argument("source", default="-")
@click.option("--count", "count_only", is_flag=True, help="Print only the number of tokens.")
@click.option("--allow-special", is_flag=True, help="Encode special tokens as their ids.")
def encode(tokenizer: str, source: str, count_only: bool, allow_special: bool) -> None:
    """Encode FILE (or stdin): one line of space-separated ids per input line.

    With --count, print the number of tokens of the whole input. Special tokens in the text are
    an error unless --allow-special.
    """
    tok = _load(tokenizer)
    text = _read_input(source)
    kw: dict[str, Any] = {"allowed_special": "all"} if allow_special else {}
    if count_only:
        click.echo(len(tok.encode(text, **kw)))
        return
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for ids in tok.encode_batch(lines, **kw):
        click.echo(" ".join(map(str, ids)))


@cli.command()
@click.option("--tokenizer", "-t", required=True, help="tokenizer.json or tiktoken rank file.")
@click.argument("source", default="-")
def decode(tokenizer: str, source: str) -> None:
    """Decode ids (whitespace/comma separated) from FILE or stdin, one output line per line."""
    tok = _load(tokenizer)
    text = _read_input(source)
    where = "stdin" if source == "-" else source
    for lineno, line in enumerate(text.splitlines(), 1):
        ids = []
        for word in line.replace(",", " ").split():
            try:
                ids.append(int(word))
            except ValueError:
                raise ValueError(f"{where}:{lineno}: {word!r} is not a token id") from None
        bad = [i for i in ids if not 0 <= i < tok.vocab_size or tok.id_to_token(i) is None]
        if bad:
            raise ValueError(f"{where}:{lineno}: unknown token id {bad[0]}")
        click.echo(tok.decode(ids))


@cli.command()
@click.argument("tokenizer")
@click.option("--longest", default=10, show_default=True, help="How many longest tokens.")
def info(tokenizer: str, longest: int) -> None:
    """Show a tokenizer's size, pre-tokenizer, special tokens, merges and longest tokens."""
    st = _load(tokenizer).stats(longest=longest)
    click.echo(f"vocab size:     {st['vocab_size']}")
    click.echo(f"pre-tokenizer:  {st['pretokenizer']}")
    if st["pattern"] and st["pattern"] != st["pretokenizer"]:
        click.echo(f"pattern:        {st['pattern']}")
    click.echo(f"normalizer:     {st['normalizer']}")
    click.echo(f"merges:         {st['num_merges']}")
    specials = ", ".join(
        f"{k}={v}" for k, v in sorted(st["special_tokens"].items(), key=lambda kv: kv[1])
    )
    click.echo(
        f"special tokens: {len(st['special_tokens'])}" + (f" ({specials})" if specials else "")
    )
    click.echo(f"mean token:     {st['mean_token_bytes']:.2f} bytes")
    click.echo("longest tokens:")
    for i, t in st["longest_tokens"]:
        click.echo(f"  {i:>8}  {len(t):>3} B  {t.decode('utf-8', 'backslashreplace')!r}")


@cli.command()
@click.argument("src")
@click.argument("dst")
@click.option(
    "--to",
    "fmt",
    type=click.Choice(["json", "tiktoken"]),
    default=None,
    help="Output format (default: by DST extension, .json -> tokenizer.json).",
)
def convert(src: str, dst: str, fmt: str | None) -> None:
    """Convert a tokenizer between tokenizer.json and a tiktoken rank file (+ sidecar)."""
    tok = _load(src)
    written = _save(tok, dst, fmt)
    click.echo(f"wrote {dst} ({written})", err=True)


@cli.command(name="eval")
@click.argument("tokenizers", nargs=-1, required=True)
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    required=True,
    help="NAME=PATH of a UTF-8 text file (repeatable); a bare PATH is named after its file.",
)
@click.option("--max-bytes", type=int, default=None, help="Measure at most this many bytes.")
@click.option("--json", "json_out", default=None, help="Also write the rows as JSON here.")
@click.option("--png", "png_out", default=None, help="Also write a bytes/token chart here.")
def eval_cmd(
    tokenizers: tuple[str, ...],
    corpora: tuple[str, ...],
    max_bytes: int | None,
    json_out: str | None,
    png_out: str | None,
) -> None:
    """Measure TOKENIZERS (files or reference names) on each --corpus: bytes/token, tokens per
    word, Renyi efficiency (alpha 2.5, full |V|), unigram and bigram conditional entropy, share of
    the vocabulary used."""
    from . import metrics

    named = []
    for c in corpora:
        name, sep, path = c.partition("=")
        named.append((name, path) if sep else (Path(c).parent.name or Path(c).stem, c))
    rows = []
    for spec in tokenizers:
        tok = _load(spec)
        label = Path(spec).name if Path(spec).exists() else spec
        for name, path in named:
            rows.append(
                metrics.evaluate(
                    tok, path, tokenizer_name=label, corpus_name=name, max_bytes=max_bytes
                )
            )
    click.echo(metrics.table(rows))
    if json_out:
        metrics.write_json(rows, json_out)
    if png_out:
        metrics.write_png(rows, png_out)


@cli.command(name="patterns")
def patterns_cmd() -> None:
    """List the preset pre-tokenizer patterns."""
    for name, regex in _patterns.PRESETS.items():
        click.echo(f"{name}\t{regex}")


@cli.command()
@click.argument("model_dir")
@click.argument("new_tokenizer")
@click.option("--output", "-o", "out_dir", required=True, help="Output model directory.")
@click.option(
    "--method",
    "-m",
    type=click.Choice(["hybrid", "omp", "focus", "subword-mean", "mean", "random"]),
    default="hybrid",
    show_default=True,
)
@click.option("--aux-model", default=None, help="Sentence-embedding model dir (default: MiniLM).")
@click.option("--no-aux", is_flag=True, help="Use the model's own embeddings, no aux model.")
@click.option("--donor", default=None, help="OMP: a model dir (base's width) using NEW_TOKENIZER.")
@click.option("--top-k", type=int, default=None, help="hybrid: global neighbours; omp: atoms.")
@click.option("--temperature", type=float, default=None, help="hybrid: softmax temperature T.")
@click.option("--weight", type=float, default=None, help="hybrid: global weight lambda.")
@click.option("--threshold", type=float, default=None, help="hybrid: similarity threshold tau.")
@click.option("--special", "specials", multiple=True, help="ROLE=TOKEN, e.g. bos=<s> (repeatable).")
@click.option("--pad-to-multiple-of", type=int, default=None, help="Pad embedding rows.")
@click.option("--allow-pickle", is_flag=True, help="Allow .bin (pickle) weights.")
@click.option("--trust-remote-code", is_flag=True, help="Allow the model's own Python code.")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress messages.")
def transplant(
    model_dir: str,
    new_tokenizer: str,
    out_dir: str,
    method: str,
    aux_model: str | None,
    no_aux: bool,
    donor: str | None,
    top_k: int | None,
    temperature: float | None,
    weight: float | None,
    threshold: float | None,
    specials: tuple[str, ...],
    pad_to_multiple_of: int | None,
    allow_pickle: bool,
    trust_remote_code: bool,
    overwrite: bool,
    seed: int,
    quiet: bool,
) -> None:
    """Give the HF model in MODEL_DIR the vocabulary of NEW_TOKENIZER; write it to -o."""
    from .transplant.hf import transplant as transplant_fn

    special_map = {}
    for item in specials:
        role, sep, token = item.partition("=")
        if not sep or not role or not token:
            raise click.UsageError(f"--special expects ROLE=TOKEN, got {item!r}")
        special_map[role] = token
    transplant_fn(
        model_dir,
        new_tokenizer,
        method,
        out_dir=out_dir,
        aux_model=False if no_aux else aux_model,
        donor=donor,
        top_k=top_k,
        temperature=temperature,
        weight=weight,
        threshold=threshold,
        special_map=special_map,
        pad_to_multiple_of=pad_to_multiple_of,
        allow_pickle=allow_pickle,
        trust_remote_code=trust_remote_code,
        overwrite=overwrite,
        progress=not quiet,
        seed=seed,
    )


@cli.command(name="eval-lm")
@click.argument("model_dir")
@click.option("--text", "text_file", required=True, help="UTF-8 text file to score.")
@click.option("--max-bytes", type=int, default=None, help="Score only the first N bytes.")
@click.option("--context", type=int, default=1024, show_default=True, help="Window, in tokens.")
@click.option("--allow-pickle", is_flag=True, help="Allow .bin (pickle) weights.")
@click.option("--trust-remote-code", is_flag=True, help="Allow the model's own Python code.")
def eval_lm(
    model_dir: str,
    text_file: str,
    max_bytes: int | None,
    context: int,
    allow_pickle: bool,
    trust_remote_code: bool,
) -> None:
    """Bits per byte of the HF model in MODEL_DIR on --text (summed NLL / ln 2 / bytes)."""
    from .transplant.evaluate import bits_per_byte
    from .transplant.hf import load_hf_tokenizer, load_model

    model = load_model(model_dir, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    tok = load_hf_tokenizer(model_dir, trust_remote_code=trust_remote_code)
    text = _read_input(text_file)
    r = bits_per_byte(model, tok, text, max_bytes=max_bytes, context=context)
    click.echo(
        f"bits/byte {r['bits_per_byte']:.4f}  ({int(r['tokens'])} tokens, {int(r['bytes'])} bytes)"
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="toksmith")


if __name__ == "__main__":
    main()
