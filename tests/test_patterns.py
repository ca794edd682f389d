"""Pattern resolution: preset names, aliases, unknown names and invalid regexes."""

from __future__ import annotations

import pytest
from toksmith import patterns


def test_presets_and_aliases():
    assert set(patterns.names()) >= {"gpt2", "cl100k", "o200k", "llama3", "qwen2"}
    assert patterns.resolve("cl100k_base") == patterns.PRESETS["cl100k"]
    assert patterns.resolve("r50k_base") == patterns.PRESETS["gpt2"]
    assert patterns.spec("O200K") == "o200k"
    assert patterns.resolve("none") is None


def test_regex_passes_through():
    assert patterns.resolve(r"\w+|\s+") == r"\w+|\s+"


def test_unknown_name_vs_invalid_regex():
    with pytest.raises(ValueError, match="unknown pattern name 'o300k'"):
        patterns.resolve("o300k")
    with pytest.raises(ValueError, match="invalid pattern regex"):
        patterns.resolve(r"(\w+")
    with pytest.raises(ValueError, match="empty pattern"):
        patterns.resolve("  ")
