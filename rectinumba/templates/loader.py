"""Load templates from YAML: path resolution, ``base:`` inheritance, node/edge/circuit assembly.

Paths (the user guide, docs/guide/templates.rst, teaches them):

- dot paths ``pkg.sub.file.template`` -> ``pkg/sub/file.yaml`` (or ``.yml``). The top-level
  package is found with :func:`importlib.util.find_spec` (which imports nothing); deeper folders
  are looked up on disk, or through ``find_spec`` when their parent package is already imported.
  No module code of a package named in a template is ever run by the loader;
- ``model_templates.`` and ``neuron_model_templates.`` (RectiPy's name) resolve to the built-in
  library first;
- ``file.template`` (one dot): ``file.yaml`` next to the referring YAML file, then in the working
  directory;
- slash paths ``path/to/file.template``, ``path/to/file.yaml/template``,
  ``path/to/file.yaml.template`` or ``path/to/file.yaml`` (a file with a single template), absolute
  or relative to the referring YAML file (or ``relative_to``) and then to the working directory;
- a bare name refers to a template of the referring file; among the operators of a child
  node, a bare name that the file does not define names the base node's operator of that name.

YAML is read with ``yaml.safe_load`` only and parsed files are cached by path and mtime.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import (
    TemplateError,
    TemplateKeyError,
    TemplateNameError,
    TemplateNotFoundError,
    short,
)
from .template import (
    CircuitEdge,
    CircuitTemplate,
    EdgeTemplate,
    NodeTemplate,
    OperatorTemplate,
    _check_name,
    apply_changes,
)

__all__ = ["load_template", "builtin_dir", "template_names", "clear_cache", "ROOT_BASES"]

Template = OperatorTemplate | NodeTemplate | EdgeTemplate | CircuitTemplate

#: the names a ``base:`` chain ends in, and the class each selects
ROOT_BASES = {
    "OperatorTemplate": OperatorTemplate,
    "NodeTemplate": NodeTemplate,
    "EdgeTemplate": EdgeTemplate,
    "CircuitTemplate": CircuitTemplate,
}
_BUILTIN_PREFIXES = ("model_templates", "neuron_model_templates")
_SUFFIXES = (".yaml", ".yml")
_KEYS = {
    OperatorTemplate: {"base", "equations", "variables", "description"},
    NodeTemplate: {"base", "operators", "description", "label"},
    EdgeTemplate: {"base", "operators", "description", "label"},
    CircuitTemplate: {"base", "nodes", "edges", "circuits", "description", "label"},
}
#: largest YAML file read (templates are small; a huge file is a mistake or an attack)
_MAX_BYTES = 4 * 1024 * 1024
#: most values (mappings, lists, scalars) a file may hold once its aliases are expanded: an alias
#: is a reference, so 800 bytes of nested aliases can stand for 10^8 values ("billion laughs")
_MAX_VALUES = 200_000
#: most characters of all strings of a file, aliases expanded
_MAX_TEXT = 4 * _MAX_BYTES


class _NotFound(TemplateError):
    """A path that names no template (raised while resolving, before anything is built).

    ``public`` is the class it leaves the loader as: a missing file or package is a
    :class:`TemplateNotFoundError` (a ``FileNotFoundError``), a name missing from its file a
    :class:`TemplateNameError` (an ``AttributeError``), as PyRates raised them for RectiPy.
    """

    public: type[TemplateError] = TemplateNotFoundError


class _NameNotFound(_NotFound):
    public = TemplateNameError


def builtin_dir() -> Path:
    """The folder of the built-in template library (``rectinumba.model_templates``).

    Returns
    -------
    pathlib.Path
        The installed ``model_templates`` folder.
    """
    try:
        spec = importlib.util.find_spec("rectinumba.model_templates")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "model_templates"


def clear_cache() -> None:
    """Forget every parsed YAML file (files are also re-read when their mtime changes)."""
    _parse_file.cache_clear()


@functools.lru_cache(maxsize=256)
def _parse_file(path: str, mtime_ns: int, size: int) -> Mapping[str, Any]:
    # mtime_ns and size are part of the cache key only: an edited file is read again
    import yaml  # pyyaml imports in ~10 ms; keep `import rectinumba` lighter still

    if size > _MAX_BYTES:
        raise TemplateError(f"template file is larger than {_MAX_BYTES} bytes", file=path)
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except yaml.constructor.ConstructorError as exc:
        raise TemplateError(
            f"refused YAML construct: {exc.problem or exc}",
            file=path,
            hint="templates are data: YAML python tags (!!python/...) are never executed",
        ) from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"invalid YAML: {exc}", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read template file: {exc}", file=path) from None
    if data is None:
        data = {}
    _check_expanded_size(data, path)
    if not isinstance(data, Mapping):
        raise TemplateError(
            f"a template file must hold a mapping of templates, got a {type(data).__name__}",
            file=path,
        )
    return data


def _check_expanded_size(data: Any, path: str) -> None:
    """Refuse a document whose aliases expand beyond _MAX_VALUES values or _MAX_TEXT characters.

    Walks the data as everything downstream will (every alias counted each time it is used) and
    stops at the bound, so a bomb costs at most _MAX_VALUES steps; recursive aliases (a list that
    contains itself) are refused the same way.
    """
    values, text = 0, 0
    stack = [data]
    while stack:
        item = stack.pop()
        values += 1
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (str, bytes)):
            text += len(item)
        if values > _MAX_VALUES or text > _MAX_TEXT:
            raise TemplateError(
                f"the YAML document expands to more than {_MAX_VALUES} values or {_MAX_TEXT} "
                "characters once its aliases are resolved",
                file=path,
                hint="aliases (*name) that repeat other aliases multiply; templates are small",
            )


def _read(path: Path) -> Mapping[str, Any]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise _NotFound(f"cannot read template file: {exc}", file=str(path)) from None
    return _parse_file(str(path), stat.st_mtime_ns, stat.st_size)


def template_names(path: str | os.PathLike) -> list[str]:
    """Names of the templates defined in a YAML file (the ``aliases:`` key excluded).

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file.

    Returns
    -------
    list of str
        Template names in file order.
    """
    data = _read(Path(path).resolve())
    return [str(k) for k in data if k != "aliases"]


def _existing_file(candidates: list[Path]) -> Path | None:
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def _with_suffixes(stem: Path) -> list[Path]:
    return [stem.with_name(stem.name + suffix) for suffix in _SUFFIXES]


def _package_dirs(parts: list[str]) -> list[Path]:
    """Folders of the package ``parts`` without importing any module that is not loaded yet."""
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level spec imports nothing
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs = [Path(p) for p in spec.submodule_search_locations]
    for i in range(1, len(parts)):
        parent, name = ".".join(parts[:i]), ".".join(parts[: i + 1])
        if parent in sys.modules:
            # the parent is already imported, so find_spec runs no new code; it also honours
            # package_dir mappings of editable installs (rectinumba.model_templates)
            try:
                sub = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                sub = None
            if sub is not None and sub.submodule_search_locations:
                dirs = [Path(p) for p in sub.submodule_search_locations]
                continue
        dirs = [d / parts[i] for d in dirs if (d / parts[i]).is_dir()]
        if not dirs:
            return []
    return dirs


def _base_dirs(referrer: Path | None) -> list[Path]:
    """Folders a relative path is tried against: the referrer's, then the working directory."""
    dirs = []
    if referrer is not None:
        dirs.append(referrer if referrer.is_dir() else referrer.parent)
    dirs.append(Path.cwd())
    return list(dict.fromkeys(dirs))


def _split_slash_path(path: str) -> tuple[Path, str | None, list[Path]]:
    """``(path as written, template name or None, candidate files relative to a folder)``."""
    p = Path(path)
    last = p.name
    lower = last.lower()
    if lower.endswith(_SUFFIXES):
        return p, None, [p]
    for suffix in _SUFFIXES:
        if suffix + "." in lower:  # path/to/file.yaml.template
            cut = lower.index(suffix + ".") + len(suffix)
            return p, last[cut + 1 :], [p.with_name(last[:cut])]
    if p.parent.name.lower().endswith(_SUFFIXES):  # path/to/file.yaml/template
        return p, last, [p.parent]
    if "." in last:  # path/to/file.template
        stem, name = last.rsplit(".", 1)
        return p, name, _with_suffixes(p.with_name(stem))
    raise _NotFound(
        f"cannot read template path {short(path)}",
        hint="write path/to/file.template (file.yaml or file.yml) or path/to/file.yaml/template",
    )


def _resolve(path: Any, referrer: Path | None) -> tuple[Path, str | None]:
    """Find the file and template name a path refers to; raises _NotFound."""
    if not isinstance(path, str) or not path.strip():
        raise _NotFound(f"a template path must be a non-empty string, got {short(path)}")
    path = path.strip()
    lower = path.lower()
    if (
        "/" in path
        or "\\" in path
        or lower.endswith(_SUFFIXES)
        or any(suffix + "." in lower for suffix in _SUFFIXES)
    ):
        p, name, relatives = _split_slash_path(path)
        if p.is_absolute():
            candidates = relatives
        else:
            candidates = [d / rel for d in _base_dirs(referrer) for rel in relatives]
        found = _existing_file(candidates)
        if found is None:
            raise _NotFound(
                f"template file not found for {short(path)}; looked for "
                + ", ".join(str(c) for c in candidates)
            )
        return found, name

    parts = path.split(".")
    if not all(part.isidentifier() for part in parts):
        raise _NotFound(
            f"{short(path)} is not a template path",
            hint="use a template name, a dot path pkg.file.template or a path/to/file.template",
        )
    if len(parts) == 1:
        if referrer is None or not referrer.is_file():
            raise _NotFound(
                f"{short(path)} is a bare template name, which refers to the YAML file it is "
                "written in",
                hint="give the file too: file.template, pkg.file.template or path/to/file.template",
            )
        return referrer, path

    name, stem, packages = parts[-1], parts[-2], parts[:-2]
    candidates: list[Path] = []
    if packages and packages[0] in _BUILTIN_PREFIXES:
        candidates += _with_suffixes(builtin_dir().joinpath(*packages[1:], stem))
    if packages:
        for folder in _package_dirs(packages):
            candidates += _with_suffixes(folder / stem)
    for folder in _base_dirs(referrer):
        candidates += _with_suffixes(folder.joinpath(*packages, stem))
    candidates = list(dict.fromkeys(candidates))
    found = _existing_file(candidates)
    if found is None:
        raise _NotFound(
            f"template file not found for {short(path)}; looked for "
            + ", ".join(str(c) for c in candidates),
            hint=_search_hint(packages),
        )
    return found, name


def _search_hint(packages: list[str]) -> str:
    """Where a dot path ``pkg.file.template`` is searched, and what to do when it is not found."""
    order = (
        "a dot path pkg.file.template is searched in rectinumba's built-in library (for the "
        "prefixes model_templates. and neuron_model_templates.), in importable packages "
        "(sys.path), then next to the file that refers to it and in the working directory"
    )
    if packages and packages[0] in _BUILTIN_PREFIXES:
        root = builtin_dir()
        files = sorted(str(f.relative_to(root).with_suffix("")) for f in root.rglob("*.yaml"))
        order += (
            "; the built-in library holds " + ", ".join(files) + " (PyRates' own files are not "
            "part of it: copy the file you need next to yours, keeping its folders, e.g. "
            + "/".join(packages)
            + "/<file>.yaml, or refer to it by a relative path)"
        )
    return order


def _lookup(file: Path, name: str | None) -> tuple[str, Any]:
    """The YAML entry of template ``name`` in ``file``; raises _NotFound."""
    data = _read(file)
    names = [str(k) for k in data if k != "aliases"]
    if name is None:
        if len(names) != 1:
            raise _NameNotFound(
                f"the file defines {len(names)} templates {names}: name one as file.yaml/template",
                file=str(file),
            )
        name = names[0]
    if name == "aliases" or name not in data:
        close = difflib.get_close_matches(name, names, n=1)
        raise _NameNotFound(
            f"template {short(name)} not found; the file defines {short(names)}",
            file=str(file),
            template=name,
            hint=f"did you mean {close[0]!r}?" if close else None,
        )
    return name, data[name]


class _Loader:
    """One load: builds templates recursively, detects cycles, memoises within the call."""

    def __init__(self) -> None:
        self._built: dict[tuple[Path, str], Template] = {}

    def load(
        self, path: Any, referrer: Path | None, chain: tuple[tuple[Path, str], ...]
    ) -> Template:
        file, name = _resolve(path, referrer)
        name, spec = _lookup(file, name)
        return self.build(file, name, spec, chain)

    def _reference(
        self, path: Any, what: str, key: tuple[Path, str], chain: tuple[tuple[Path, str], ...]
    ) -> Template:
        file, name = key
        try:
            return self.load(path, file, chain + (key,))
        except _NotFound as exc:
            raise exc.public(
                f"unknown {what} {short(path)}: {exc.raw_message}",
                file=str(file),
                template=name,
                hint=exc.context.get("hint"),
            ) from None

    def build(
        self, file: Path, name: str, spec: Any, chain: tuple[tuple[Path, str], ...]
    ) -> Template:
        key = (file, name)
        if key in chain:
            loop = chain[chain.index(key) :] + (key,)
            raise TemplateError(
                "cyclic base: " + " -> ".join(f"{f.name}:{n}" for f, n in loop),
                file=str(file),
                template=name,
            )
        if key in self._built:
            return self._built[key]
        _check_name(name, "template name", file=str(file))
        context = {"file": str(file), "template": name}
        if not isinstance(spec, Mapping):
            raise TemplateError(
                f"a template must be a mapping with a 'base' key, got {type(spec).__name__}",
                **context,
            )
        base = spec.get("base")
        if base is None:
            raise TemplateKeyError(
                "the template has no 'base' (OperatorTemplate, NodeTemplate, EdgeTemplate, "
                "CircuitTemplate or another template)",
                **context,
            )
        if isinstance(base, str) and base.strip() in ROOT_BASES:
            cls, parent = ROOT_BASES[base.strip()], None
        else:
            parent = self._reference(base, "base", key, chain)
            cls = type(parent)
        unknown = sorted(str(k) for k in spec if k not in _KEYS[cls])
        if unknown:
            raise TemplateError(
                f"unknown key(s) {unknown} for a {cls.__name__}; expected some of "
                f"{sorted(_KEYS[cls])}",
                **context,
            )
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            raise TemplateError("description must be a string", **context)
        builder = {
            OperatorTemplate: self._operator,
            NodeTemplate: self._graph,
            EdgeTemplate: self._graph,
            CircuitTemplate: self._circuit,
        }[cls]
        template = builder(cls, key, spec, parent, chain, description)
        self._built[key] = template
        return template

    def _operator(self, cls, key, spec, parent, chain, description) -> OperatorTemplate:
        file, name = key
        if parent is not None:
            return parent.update(
                name=name,
                equations=spec.get("equations"),
                variables=spec.get("variables"),
                path=str(file),
                description=description,
            )
        equations = spec.get("equations")
        if equations is None or isinstance(equations, Mapping):
            raise TemplateError(
                "an OperatorTemplate needs 'equations' (a string or a list); edits "
                "{add, replace, ...} need a base template to edit",
                file=str(file),
                template=name,
            )
        if isinstance(equations, list) and not all(isinstance(e, str) for e in equations):
            raise TemplateError(
                f"equations must be strings, got {short(equations)}", file=str(file), template=name
            )
        variables = spec.get("variables") or {}
        return OperatorTemplate(
            name, equations, variables, path=str(file), description=description or ""
        )

    def _operators(self, key, entries, chain, inherited=None) -> list[OperatorTemplate]:
        """The operators of a node/edge template; ``inherited`` are its base's, by name."""
        file, name = key
        inherited = inherited or {}
        context = {"file": str(file), "template": name}
        if isinstance(entries, str):
            entries = [entries]
        if isinstance(entries, Mapping):
            pairs = list(entries.items())
        elif isinstance(entries, list):
            pairs = [(entry, None) for entry in entries]
        else:
            raise TemplateError(
                f"operators must be a list of operator paths or a mapping path -> changes, "
                f"got {short(entries)}",
                **context,
            )
        ops = []
        defined = _read(file)
        for path, changes in pairs:
            bare = path.strip() if isinstance(path, str) else None
            if bare in inherited and bare not in defined:
                # a child node names its base's operator by its bare name to change it, though
                # the operator lives in another file (a template of this file would win)
                op = inherited[bare]
            else:
                op = self._reference(path, "operator", key, chain)
            if not isinstance(op, OperatorTemplate):
                raise TemplateError(
                    f"operator {short(path)} is a {type(op).__name__}, not an OperatorTemplate",
                    **context,
                )
            ops.append(apply_changes(op, changes, **context))
        return ops

    def _graph(self, cls, key, spec, parent, chain, description):
        file, name = key
        entries = spec.get("operators")
        inherited = {} if parent is None else parent.operator_dict
        ops = [] if entries is None else self._operators(key, entries, chain, inherited)
        if parent is not None:
            # a child's operator replaces the parent's operator of the same name; others append
            merged = {op.name: op for op in parent.operators}
            merged.update({op.name: op for op in ops})
            ops = list(merged.values())
            description = parent.description if description is None else description
        return cls(name, ops, path=str(file), description=description or "")

    def _circuit(self, cls, key, spec, parent, chain, description) -> CircuitTemplate:
        file, name = key
        context = {"file": str(file), "template": name}
        nodes = dict(parent.nodes) if parent is not None else {}
        circuits = dict(parent.circuits) if parent is not None else {}
        edges: list[Any] = list(parent.edges) if parent is not None else []
        for field_name, target, expected in (
            ("nodes", nodes, NodeTemplate),
            ("circuits", circuits, CircuitTemplate),
        ):
            entries = spec.get(field_name) or {}
            if not isinstance(entries, Mapping):
                raise TemplateError(
                    f"{field_name} must be a mapping label -> template path", **context
                )
            for label, path in entries.items():
                tmpl = self._reference(path, field_name[:-1], key, chain)
                if not isinstance(tmpl, expected):
                    raise TemplateError(
                        f"{field_name[:-1]} {short(label)} ({short(path)}) is a "
                        f"{type(tmpl).__name__}, not a {expected.__name__}",
                        **context,
                    )
                target[str(label)] = tmpl
        raw_edges = spec.get("edges") or []
        if not isinstance(raw_edges, list):
            raise TemplateError(
                "edges must be a list of [source, target, template, values]", **context
            )
        for edge in raw_edges:
            if not isinstance(edge, list) or not 2 <= len(edge) <= 4:
                raise TemplateError(
                    "an edge must be [source, target, template_or_null, values], got "
                    f"{short(edge)}",
                    **context,
                )
            source, target, *rest = edge
            template_path = rest[0] if rest else None
            values = rest[1] if len(rest) > 1 else None
            template = None
            if template_path is not None:
                template = self._reference(template_path, "edge template", key, chain)
                if not isinstance(template, EdgeTemplate):
                    raise TemplateError(
                        f"edge template {short(template_path)} is a {type(template).__name__}, "
                        "not an EdgeTemplate",
                        **context,
                    )
            edges.append(CircuitEdge(source, target, template, values, context=context))
        if parent is not None and description is None:
            description = parent.description
        return cls(name, nodes, edges, circuits, path=str(file), description=description or "")


def load_template(path: str, *, relative_to: str | os.PathLike | None = None) -> Template:
    """Load a template from a YAML file.

    Parameters
    ----------
    path : str
        Dot path (``model_templates.rate_neurons.leaky_integrator.tanh``,
        ``pkg.sub.file.template``) or slash path (``path/to/file.template``,
        ``path/to/file.yaml/template``); see the module docstring for the rules.
    relative_to : str or os.PathLike, optional
        A YAML file (bare names then refer to its templates, relative paths to its folder) or a
        folder that relative paths are resolved against before the working directory.

    Returns
    -------
    OperatorTemplate, NodeTemplate, EdgeTemplate or CircuitTemplate
        Selected by the ``base:`` chain's root. Inheritance and edits are applied.

    Raises
    ------
    TemplateError
        Missing file or template, unknown or cyclic base, malformed template, bad variable
        declaration, refused YAML (python tags), naming the file and the template.

    Examples
    --------
    >>> tanh = load_template("model_templates.rate_neurons.leaky_integrator.tanh")
    >>> type(tanh).__name__, [op.name for op in tanh.operators]
    ('NodeTemplate', ['li_op', 'tanh_op'])
    >>> load_template("neuron_model_templates.spiking_neurons.lif.lif_op").equations
    ("v' = -v/tau + k*s_in + I_ext + eta", "s' = -s/tau_s + spike + s_ext")
    """
    referrer = None if relative_to is None else Path(relative_to).resolve()
    try:
        return _Loader().load(path, referrer, ())
    except _NotFound as exc:
        # re-raise as the public class (a TemplateError that is also the builtin PyRates raised)
        raise exc.public(exc.raw_message, **exc.context) from None
