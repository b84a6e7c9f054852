"""Helpers shared by the code generators: an indenting source writer and free symbol names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

__all__ = ["SourceWriter", "free_names"]


class SourceWriter:
    """Lines of generated Python source, each indented by four spaces per level of ``depth``.

    ``code(line)`` appends a line at the current depth (a line that is not printable, e.g. one
    holding a line break, is refused: user strings reach it only mangled or through ``repr()``);
    ``with code.indent():`` writes the lines of its body one level deeper;
    ``with code.block(header):`` writes ``header`` (a ``for``, ``if``, ``def`` ... line) and
    indents the body under it.
    """

    def __init__(self, depth: int = 0) -> None:
        self.lines: list[str] = []
        self.depth = depth

    def __call__(self, line: str) -> None:
        # safe by construction: a line break (or any control character) inside a line would let
        # text that was meant for a comment start a statement of its own
        if not line.isprintable():
            raise AssertionError(f"codegen: a generated line is not one printable line: {line!r}")
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
