"""toksmith: tokenizer engineering toolkit with a Rust core.

>>> import toksmith
>>> tok = toksmith.train(["corpus/"], vocab_size=32000, special_tokens=["<|endoftext|>"])
>>> tok.encode("hello world")
"""

from . import _core, patterns, transplant
from ._core import WordCounts
from .tokenizer import Tokenizer
from .train import count, train

__version__: str = _core.__version__

__all__ = [
    "Tokenizer",
    "WordCounts",
    "__version__",
    "count",
    "patterns",
    "train",
    "transplant",
]
