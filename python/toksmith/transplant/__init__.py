"""Tokenizer transplantation: give a Hugging Face causal LM a new vocabulary.

``toksmith.transplant(model, new_tokenizer, method="hybrid", **options)`` (this module is
callable) or `transplant` below. `model`: a local HF model directory (config.json, safetensors,
tokenizer files) or a transformers model object; `new_tokenizer`: a toksmith `Tokenizer`, a path
to one, or an HF tokenizer directory. Rows of tokens whose bytes exist in the old vocabulary are
copied; the others are built by `method` (see `methods`): ``hybrid`` (TokenAdapt), ``omp``,
``focus``, ``subword-mean``, ``mean``, ``random``.

The math lives in `methods` (numpy/scipy); `hf` (torch/transformers, the ``toksmith[hf]`` extra)
loads, rewrites and saves models; `evaluate` measures bits per byte.
"""

from __future__ import annotations

import sys
import types
from typing import Any

METHODS = ("hybrid", "omp", "focus", "subword-mean", "mean", "random")


def transplant(model: Any, new_tokenizer: Any, method: str = "hybrid", **options: Any) -> Any:
    """See `toksmith.transplant.hf.transplant` for the options."""
    from .hf import transplant as _transplant

    return _transplant(model, new_tokenizer, method, **options)


class _CallableModule(types.ModuleType):
    """Lets ``toksmith.transplant(...)`` call `transplant` although it names this package."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return transplant(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["METHODS", "transplant"]
