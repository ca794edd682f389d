"""Named pre-tokenizer regexes and the resolution of a user's `pattern` argument.

A pattern argument is either a preset name (``gpt2``, ``cl100k``, ``o200k``, ``llama3``, ``qwen2``;
``r50k``/``p50k`` and ``*_base`` spellings are accepted), ``none`` (no pre-tokenization),
or a regex.
A bare word that is not a preset is reported as an unknown name rather than compiled as a regex.
"""

from __future__ import annotations

import re

from . import _core

#: Preset name -> exact regex, as the engine defines them.
PRESETS: dict[str, str] = dict(_core.preset_patterns())

_ALIASES = {"r50k": "gpt2", "p50k": "gpt2"}
_NAME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def names() -> list[str]:
    """The preset names."""
    return list(PRESETS)


def preset_name(spec: str) -> str | None:
    """The canonical preset name for `spec` (``cl100k_base`` -> ``cl100k``), or None."""
    name = spec.strip().lower()
    name = name.removesuffix("_base")
    name = _ALIASES.get(name, name)
    return name if name in PRESETS else None


def spec(name_or_regex: str) -> str:
    """The pre-tokenizer spec to hand to the engine: a canonical preset name, ``none`` or a
    validated regex. Raises ValueError saying whether a name was unknown or a regex invalid."""
    if not isinstance(name_or_regex, str):
        raise TypeError(f"pattern must be a str, got {type(name_or_regex).__name__}")
    if name_or_regex.strip().lower() == "none":
        return "none"
    name = preset_name(name_or_regex)
    if name is not None:
        return name
    if not name_or_regex.strip():
        raise ValueError("empty pattern; give a preset name, 'none', or a regex")
    if _NAME_LIKE.match(name_or_regex):
        raise ValueError(
            f"unknown pattern name {name_or_regex!r}; presets are {', '.join(PRESETS)} "
            "(or pass a regex)"
        )
    _validate_regex(name_or_regex)
    return name_or_regex


def _validate_regex(pattern: str) -> None:
    """Compile `pattern` with the engine's regex dialect, raising a ValueError that says so."""
    try:
        _core.Counter(pattern)
    except ValueError as e:
        raise ValueError(f"invalid pattern regex {pattern!r}: {e}") from None


def resolve(name_or_regex: str) -> str | None:
    """The regex for a preset name or a (validated) regex; None for ``none``."""
    s = spec(name_or_regex)
    if s == "none":
        return None
    return PRESETS.get(s, s)
