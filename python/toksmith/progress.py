"""Progress reporting (tqdm bars on stderr) for counting (bytes) and merging (merges).

`Reporter(enabled=False)` is silent; `merge_callback()` returns the callable handed to
`_core.train` (or None when silent, so the engine does no reporting work).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class Reporter:
    """Owns the bars of one `count`/`train` call."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bars: dict[str, Any] = {}

    def _bar(
        self, key: str, total: int | None, desc: str, unit: str, scale: bool, delay: float = 0.0
    ) -> Any:
        bar = self._bars.get(key)
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=total,
                desc=desc,
                unit=unit,
                unit_scale=scale,
                unit_divisor=1024 if scale else 1000,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
                delay=delay,
            )
            self._bars[key] = bar
        return bar

    def counting(self, counter: Any, total_bytes: int | None) -> Callable[[], None]:
        """A callback to call after each batch: advances the bytes bar to `counter.bytes_seen`."""
        if not self.enabled:
            return lambda: None
        # Made now, not at the first update, so that its clock (and the rate) starts with the
        # counting: a small corpus is one batch, and a bar made after it showed GB/s. Shown only
        # once counting has taken half a second, so quick runs and early errors print no bar.
        bar = self._bar("count", total_bytes, "counting", "B", True, delay=0.5)

        def update() -> None:
            seen = counter.bytes_seen
            if bar.total is not None and seen > bar.total:
                bar.total = seen  # decompressed input is larger than the files
            bar.update(seen - bar.n)

        return update

    def merge_callback(self) -> Callable[[str, int, int], None] | None:
        """The `_core.train` progress callback: `(stage, done, total)`."""
        if not self.enabled:
            return None

        def update(stage: str, done: int, total: int) -> None:
            bar = self._bar(stage, total or None, stage, "it", False)
            if total and bar.total != total:
                bar.total = total
            bar.update(max(0, done - bar.n))

        return update

    def note(self, message: str) -> None:
        """A one-line message on stderr (suppressed when silent)."""
        if self.enabled:
            print(message, file=sys.stderr)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
