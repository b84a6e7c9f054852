"""numpydoc validation of the public API's docstrings (no numba, no sympy needed).

Every public function, class, method and property of the modules in :data:`PUBLIC_MODULES` (the
names in their ``__all__``) must pass numpydoc's checks :data:`CHECKS`: every parameter
documented with a type (PR01, PR02, PR04), a Returns section where something is returned (RT01),
only standard sections (GL06), and a docstring at all (GL08). The main entry points must also have
an Examples section (EX01). The API reference (``docs/api``) renders these docstrings.
"""

from __future__ import annotations

import importlib
import inspect
import sys

import pytest
from numpydoc import validate as numpydoc_validate  # noqa: E402 - numpydoc is in the test extra

#: modules whose ``__all__`` is the public API
PUBLIC_MODULES = (
    "rectinumba",
    "rectinumba.observer",
    "rectinumba.templates",
    "rectinumba.equations",
    "rectinumba.training",
    "rectinumba.training.losses",
    "rectinumba.training.optimizers",
    "rectinumba.utility",
    "rectinumba.errors",
    "rectinumba.nodes",
    "rectinumba.edges",
    "rectinumba.edge_model",
    "rectinumba.circuits",
    "rectinumba.demo",
    "rectinumba.sweeps",
)

#: numpydoc checks every public object must pass
CHECKS = {"PR01", "PR02", "PR04", "RT01", "GL06", "GL08"}

#: the main entry points: they must also show an Examples section (EX01)
ENTRY_POINTS = {
    "rectinumba.observer.Observer",
    "rectinumba.templates.template.OperatorTemplate",
    "rectinumba.templates.template.NodeTemplate",
    "rectinumba.templates.loader.load_template",
    "rectinumba.equations.compile.compile_node",
    "rectinumba.training.losses.get_loss",
    "rectinumba.training.optimizers.get_optimizer",
    "rectinumba.sweeps.driver.sweep",
    "rectinumba.network.Network",
    "rectinumba.network.Network.run",
    "rectinumba.network.Network.add_diffeq_node",
    "rectinumba.network.Network.from_circuit",
    "rectinumba.network.Network.fit_ridge",
    "rectinumba.network.Network.fit_rls",
    "rectinumba.network.Network.fit_bptt",
    "rectinumba.network.Network.test",
    # what a RectiPy script calls first
    "rectinumba.network.Network.from_yaml",
    "rectinumba.network.Network.add_func_node",
    "rectinumba.network.Network.add_edge",
    "rectinumba.network.Network.get_var",
    "rectinumba.network.Network.forward",
    "rectinumba.feedback_network.FeedbackNetwork",
    "rectinumba.utility.random_connectivity",
    "rectinumba.utility.input_connections",
    "rectinumba.utility.wta_score",
}

def _is_member(value: object) -> bool:
    return inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod))


def _inherits_docstring(cls: type, name: str, value: object) -> bool:
    """An override without a docstring of its own shows its base's (as autodoc renders it)."""
    func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
    if getattr(func, "__doc__", None):
        return False
    return any(
        name in vars(base) and getattr(vars(base)[name], "__doc__", None)
        for base in cls.__mro__[1:]
    )


def _members(cls: type) -> list[str]:
    """Import paths of the public methods and properties of ``cls`` and of its rectinumba bases,
    each under the class that defines it; undocumented overrides are checked in their base."""
    paths = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("rectinumba"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or not _is_member(value):
                continue
            if _inherits_docstring(klass, name, value):
                continue
            paths.append(f"{klass.__module__}.{klass.__qualname__}.{name}")
    return paths


def public_objects() -> list[str]:
    """Import paths of every public function, class, method and property (deduplicated)."""
    found: dict[str, None] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # constants, tables and re-exported modules
            if not obj.__module__.startswith("rectinumba"):
                continue
            found[f"{obj.__module__}.{obj.__qualname__}"] = None
            if inspect.isclass(obj):
                found.update(dict.fromkeys(_members(obj)))
    return list(found)


PUBLIC = public_objects()


def test_the_public_api_is_found_and_loads_neither_numba_nor_sympy():
    assert "rectinumba.observer.Observer.plot" in PUBLIC
    assert "rectinumba.templates.loader.load_template" in PUBLIC
    assert "rectinumba.training.losses.Loss.value" in PUBLIC
    assert "rectinumba.training.losses.MSELoss.value" not in PUBLIC  # inherits Loss.value's docs
    assert "rectinumba.network.Network.fit_ridge" in PUBLIC  # delegated to a trainer object
    assert len(PUBLIC) > 120
    assert ENTRY_POINTS <= set(PUBLIC)
    numpydoc_validate.validate("rectinumba.observer.Observer.plot")
    # the validator imports and inspects; it must not compile anything
    assert "numba" not in sys.modules or "numba" in _PRELOADED
    assert "sympy" not in sys.modules or "sympy" in _PRELOADED


_PRELOADED = {name for name in ("numba", "sympy") if name in sys.modules}


def _errors(path: str, codes: set[str]) -> list[str]:
    result = numpydoc_validate.validate(path)
    return [f"{code}: {message}" for code, message in result["errors"] if code in codes]


@pytest.mark.parametrize("path", PUBLIC)
def test_docstring_passes_numpydoc(path):
    codes = CHECKS | ({"EX01"} if path in ENTRY_POINTS else set())
    errors = _errors(path, codes)
    assert not errors, f"{path}:\n  " + "\n  ".join(errors)


def test_the_validator_catches_a_missing_parameter_type(tmp_path, monkeypatch):
    """The check is real: a docstring without types fails PR01/PR04/RT01."""
    (tmp_path / "rn_docstring_probe.py").write_text(
        'def f(a, b=1):\n'
        '    """Add.\n\n    Parameters\n    ----------\n    a\n        First.\n    """\n'
        '    return a + b\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    codes = {code for code, _ in numpydoc_validate.validate("rn_docstring_probe.f")["errors"]}
    assert {"PR01", "PR04", "RT01"} <= codes


#: modules whose docstring Examples are run as doctests
DOCTEST_MODULES = (
    "rectinumba.observer",
    "rectinumba.templates.template",
    "rectinumba.templates.loader",
    "rectinumba.equations.compile",
    "rectinumba.equations.parse",
    "rectinumba.training.losses",
    "rectinumba.training.optimizers",
    # the entry points' examples (Network, run, fit_*, test, bptt_gradients, sweep): small
    # networks and short horizons, a few seconds cold
    "rectinumba.network",
    "rectinumba.training.readout",
    "rectinumba.training.bptt",
    "rectinumba.sweeps.driver",
    "rectinumba.utility",
    "rectinumba.feedback_network",
)


@pytest.mark.parametrize("module_name", DOCTEST_MODULES)
def test_docstring_examples_run(module_name):
    import doctest

    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module_name} has no examples to run"
    assert result.failed == 0
