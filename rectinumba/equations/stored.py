"""Compiled models remembered on disk as names and defaults, so that a process whose kernels are
already cached never imports sympy.

A :class:`StoredModel` answers everything the network needs to build itself (states, parameters,
inputs, defaults, name resolution) from a small JSON file in the cache folder, keyed by a hash of
the template's content and of the compiler's own source. The sympy expressions are compiled only
when something asks for them (rendering a new kernel, adjoints, the CUDA renderer).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..templates.template import NodeTemplate, OperatorTemplate
from .model import NodeModel

__all__ = ["StoredModel", "load_model", "template_key"]

_SUMMARY = (
    "name",
    "operators",
    "states",
    "initial",
    "params",
    "inputs",
    "outputs",
    "links",
    "complex_vars",
    "delays",
    "noises",
)


@lru_cache(maxsize=1)
def _compiler_fingerprint() -> str:
    """Hash of the equation compiler's source: a changed compiler never reuses stale summaries."""
    here = Path(__file__).resolve().parent
    files = sorted(here.glob("*.py")) + [here.parent / "templates" / "template.py"]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()


def template_key(template: NodeTemplate | OperatorTemplate) -> str:
    """Content hash of a template (name, operators, equations, variables) and the compiler."""
    ops = template.operators if isinstance(template, NodeTemplate) else (template,)
    canonical = [template.name, type(template).__name__]
    for op in ops:
        canonical.append(
            [op.name, list(op.equations), [[n, v.kind, repr(v.default)] for n, v in op.variables]]
        )
    text = json.dumps([_compiler_fingerprint(), canonical])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _encode(value):
    """JSON has no complex numbers: ``{"complex": [re, im]}`` stands for one."""
    if isinstance(value, complex):
        return {"complex": [value.real, value.imag]}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _summary(model: NodeModel) -> dict[str, Any]:
    data = {f: _encode(getattr(model, f)) for f in _SUMMARY}
    data["variable_names"] = model.variable_names
    return json.loads(json.dumps(data))  # tuples -> lists, exactly as they come back from disk


def _tuples(value):
    if isinstance(value, dict) and set(value) == {"complex"}:
        re_part, im_part = value["complex"]
        return complex(re_part, im_part)
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class StoredModel:
    """A NodeModel's names and defaults; expressions compile (sympy) on first access.

    Every NodeModel attribute is available: the summary fields directly, the rest (``algebraic``,
    ``derivatives``, ...) through the full model, compiled from the template when first needed.
    Equal keys mean equal models (the key hashes the template content and the compiler source).
    """

    def __init__(self, key: str, summary: dict[str, Any], template, full: NodeModel | None = None):
        self.key = key
        for field in _SUMMARY:
            setattr(self, field, _tuples(summary[field]))
        self.variable_names = _tuples(summary["variable_names"])
        self._template = template
        self._full = full

    @property
    def full(self) -> NodeModel:
        """The complete NodeModel (compiles the template with sympy on first use)."""
        if self._full is None:
            from .compile import compile_node

            self._full = compile_node(self._template)
        return self._full

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.full, attr)

    resolve = NodeModel.resolve
    is_complex = NodeModel.is_complex
    initial_values = NodeModel.initial_values
    param_defaults = NodeModel.param_defaults
    input_defaults = NodeModel.input_defaults

    def __hash__(self) -> int:
        return hash(("StoredModel", self.key))

    def __eq__(self, other) -> bool:
        return isinstance(other, StoredModel) and other.key == self.key

    def __repr__(self) -> str:
        # deterministic: kernel index keys are derived from the repr of specs holding models
        return f"StoredModel({self.name!r}, key={self.key!r})"


@lru_cache(maxsize=256)
def load_model(template: NodeTemplate | OperatorTemplate) -> StoredModel:
    """The model of ``template``: from the on-disk summary when present and intact, else compiled
    (sympy) and its summary (re)written."""
    from ..codegen.cache import read_entry, write_entry

    key = template_key(template)
    relative = f"models/{key}.json"

    def complete(entry: dict) -> bool:
        return entry.get("key") == key and all(f in entry for f in _SUMMARY + ("variable_names",))

    summary = read_entry(relative, check=complete)
    if summary is not None:
        return StoredModel(key, summary, template)
    from .compile import compile_node

    full = compile_node(template)
    summary = dict(_summary(full), key=key)
    write_entry(relative, summary)
    return StoredModel(key, summary, template, full)
