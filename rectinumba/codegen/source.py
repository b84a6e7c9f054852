"""Helpers shared by the code generators: an indenting source writer and free symbol names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["SourceWriter", "free_names"]


class SourceWriter:
    """Lines of generated Python source, each indented by four spaces per level of ``depth``.

    ``code(line)`` appends a line at the current depth; ``with code.indent():`` writes the lines
    of its body one level deeper; ``with code.block(header):`` writes ``header`` (a ``for``,
    ``if``, ``def`` ... line) and indents the body under it.
    """

    def __init__(self, depth: int = 0) -> None:
        self.lines: list[str] = []
        self.depth = depth

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    @contextmanager
    def indent(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def block(self, header: str) -> AbstractContextManager[None]:
        self(header)
        return self.indent()


def free_names(expr) -> set[str]:
    """Names of the free symbols of a sympy expression."""
    return {s.name for s in expr.free_symbols}
