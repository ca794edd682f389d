"""Type stubs for `toksmith._core`, the PyO3 bindings over the Rust engine.

Every heavy call releases the GIL. Engine errors arrive as `ValueError` (bad arguments, malformed
files, disallowed special tokens) or `OSError` (missing/unreadable paths), with a message naming the
problem.
"""

from collections.abc import Callable, Iterable, Sequence

__version__: str

def preset_patterns() -> dict[str, str]:
    """Named pre-tokenizer presets: name -> exact regex."""

class Tokenizer:
    @staticmethod
    def from_hf_json(path: str) -> Tokenizer: ...
    @staticmethod
    def from_hf_json_str(json: str) -> Tokenizer: ...
    @staticmethod
    def from_tiktoken(
        path: str, pattern: str | None = None, special_tokens: dict[str, int] | None = None
    ) -> Tokenizer:
        """Rank file; pattern/specials from the args, else from the `<path>.json` sidecar."""
    def save_hf_json(self, path: str) -> None: ...
    def to_hf_json_str(self) -> str: ...
    def save_tiktoken(self, path: str) -> None:
        """Write the rank file and its `<path>.json` sidecar (pattern, specials)."""
    @property
    def vocab_size(self) -> int: ...
    @property
    def pattern(self) -> str | None:
        """The pre-tokenizer regex (None for `none`)."""
    @property
    def pretokenizer(self) -> str:
        """The pre-tokenizer spec: a preset name, `none`, or the regex."""
    @property
    def normalizer(self) -> str: ...
    @property
    def ignore_merges(self) -> bool: ...
    @property
    def special_tokens(self) -> dict[str, int]: ...
    @property
    def num_merges(self) -> int: ...
    def merges(self) -> list[tuple[int, int, int]]:
        """(left, right, result) in rank order."""
    def encode_ordinary(self, text: str) -> list[int]: ...
    def encode(self, text: str, allowed: list[str], disallowed: list[str]) -> list[int]:
        """`allowed` specials become their ids; a `disallowed` one in the text raises ValueError;
        others are ordinary text."""
    def encode_bytes(self, data: bytes) -> list[int]: ...
    def encode_with_offsets(
        self, text: str, allowed: list[str], disallowed: list[str]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids and each token's (start, end) byte offsets in the UTF-8 text."""
    def encode_batch(
        self,
        texts: list[str],
        allowed: list[str],
        disallowed: list[str],
        num_threads: int | None = None,
    ) -> list[list[int]]:
        """In parallel on `num_threads` threads (default: the global pool, all cores)."""
    def encode_ordinary_batch(
        self, texts: list[str], num_threads: int | None = None
    ) -> list[list[int]]: ...
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Lists are read in place; raises ValueError naming a bad or unknown id."""
    def token_to_id(self, token: bytes) -> int | None: ...
    def id_to_token(self, id: int) -> bytes | None: ...
    def is_special(self, id: int) -> bool: ...
    def tokens(self) -> list[bytes | None]:
        """Bytes of every id (None for holes); specials give their UTF-8 content."""
    def prefix(self, n: int) -> Tokenizer:
        """The first `n` ids as a tokenizer (nested vocabularies; specials must come first)."""
    def with_special_tokens(self, names: list[str]) -> Tokenizer:
        """`names` appended as special tokens after the largest id."""
    def padded(self, multiple: int | None = None, power_of_two: bool = False) -> Tokenizer:
        """Padded with `<|reserved_N|>` specials to a multiple or the next power of two."""

class WordCounts:
    """Pre-token counts: the mergeable artifact of the counting phase."""

    @staticmethod
    def load(path: str) -> WordCounts: ...
    def save(self, path: str) -> None: ...
    def merge(self, other: WordCounts) -> None:
        """Add `other`'s counts (same pre-tokenizer and normalizer, else ValueError)."""
    def copy(self) -> WordCounts: ...
    def __len__(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def pretokenizer(self) -> str: ...
    @property
    def normalizer(self) -> str: ...
    def prune(self, max_distinct: int) -> tuple[int, int]:
        """Keep the `max_distinct` most frequent pre-tokens.

        Returns (removed_distinct, removed_mass)."""
    def most_common(self, n: int) -> list[tuple[bytes, int]]: ...

class Counter:
    def __init__(
        self,
        pretokenizer: str,
        normalizer: str = "none",
        special_tokens: Sequence[str] = (),
        utf8_errors: str = "strict",
    ) -> None:
        """`utf8_errors`: strict (error naming file and line), replace, or skip (the line)."""
    def add_texts(self, texts: list[str]) -> None:
        """Count a batch in parallel (GIL released)."""
    def add_bytes(self, chunks: list[bytes]) -> None: ...
    def add_files(
        self, paths: list[str], progress: Callable[[str, int, int], None] | None = None
    ) -> None:
        """Read UTF-8 text files in streaming chunks, in parallel; progress gets
        ("counting", bytes_done, bytes_total)."""
    def add_binary_files(
        self,
        paths: list[str],
        split_nul: bool = True,
        window: int = 256,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        """Count whole files as raw bytes (pre-tokenizer `none`): cut at NUL runs
        (`split_nul`) and into windows of `window` bytes."""
    @property
    def bytes_seen(self) -> int: ...
    def finish(self) -> WordCounts:
        """The counts so far (the counter can keep going)."""

def train(
    counts: WordCounts,
    vocab_size: int,
    min_frequency: int = 0,
    max_token_length: int | None = None,
    special_tokens: Sequence[str] = (),
    specials_at_end: bool = False,
    base: Tokenizer | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    max_token_chars: int | None = None,
    added_tokens: Sequence[bytes] = (),
) -> Tokenizer:
    """BPE merges identical to HF BpeTrainer; the tokenizer uses the counts' pre-tokenizer."""

SUPERBPE_PATTERN: str

def train_supertokens(
    counts: WordCounts,
    vocab_size: int,
    stage1: WordCounts | None = None,
    transition: int | None = None,
    transition_fraction: float | None = None,
    encode_pattern: str | None = None,
    max_words: int | None = None,
    no_cross: Sequence[str] = (),
    min_frequency: int = 0,
    max_token_length: int | None = None,
    special_tokens: Sequence[str] = (),
    specials_at_end: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Tokenizer:
    """SuperBPE (stage1 counts + transition, then `counts` under the merge rules) or one stage
    under the rules; the tokenizer encodes with `encode_pattern` (default: the counts')."""
