"""NodeModel: the compiled description (IR) of one neuron type.

Produced by :func:`rectinumba.equations.compile_node` from a NodeTemplate. All names are qualified
``op/var`` strings; every expression is a sympy expression whose free symbols are
``sympy.Symbol(qualified_name, real=True)`` for states, parameters, inputs, algebraic definitions
(including reductions), plus ``sympy.Symbol("t", real=True)`` for time; the variables listed in
``complex_vars`` are ``sympy.Symbol(qualified_name, complex=True)`` and hold complex values.

Evaluation order of one right-hand side (what codegen emits):
  1. every ``algebraic`` definition in the given (topological) order; a definition with
     ``reduce="mean"``/``"vsum"`` is a population scalar: mean / sum over the node's neurons of
     ``expr`` evaluated per neuron;
  2. every derivative, in the order of ``states``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import NetworkError, VariableNotFoundError

__all__ = ["Definition", "NodeModel", "TIME", "first_dependency"]

#: name of the time symbol in expressions
TIME = "t"


@dataclass(frozen=True)
class Definition:
    """One algebraic definition ``name = expr``.

    Parameters
    ----------
    name : str
        Qualified ``op/var`` name.
    expr : sympy.Expr
        The right-hand side.
    reduce : {None, "mean", "vsum"}, default None
        None for an element-wise (per neuron) definition, or ``"mean"`` / ``"vsum"`` for a
        population reduction over the neurons of the node (its value is one scalar per trial).
    """

    name: str
    expr: Any  # sympy.Expr
    reduce: str | None = None


@dataclass(frozen=True)
class NodeModel:
    """A compiled neuron type; hashable and comparable.

    Made by :func:`rectinumba.equations.compile_node`; all names are qualified ``op/var``.

    Parameters
    ----------
    name : str
        Name of the node template.
    operators : tuple of str
        Operator names, in template order.
    states : tuple of str
        Qualified names of state variables (have a derivative), in declaration order.
    initial : tuple of (str, float)
        ``(state, initial value)`` pairs, same order as ``states``.
    params : tuple of (str, float)
        ``(name, default)`` pairs of parameters (constants per neuron).
    inputs : tuple of (str, float)
        ``(name, default)`` pairs of input variables that are not linked to another operator's
        output (set by the network: edges, coupling, spikes; otherwise constant at the default).
    outputs : tuple of str
        Qualified names of variables declared ``output(...)`` (states or algebraic).
    algebraic : tuple of Definition
        Ordered algebraic definitions, reductions included.
    derivatives : tuple of (str, sympy.Expr)
        ``(state, rhs)`` pairs, same order as ``states``.
    links : tuple of (str, str), default ()
        ``(input name, output name)`` pairs: operator inputs replaced by another operator's output.
    complex_vars : tuple of str, default ()
        Names of the complex-valued variables (states, parameters, inputs, algebraic definitions
        and reductions), sorted. Defaults of complex variables are Python complex numbers.
    delays : tuple of (str, str, float, str or None), default ()
        ``(symbol, state, scale, parameter)`` per delayed read ``past(state, scale*parameter)``
        (``parameter`` None: the delay is the number ``scale``); expressions read it through
        ``symbol`` (:mod:`rectinumba.equations.delays`).
    noises : tuple of str, default ()
        Names of the white noises (``xi``, ``xi_1``, ...) of the derivatives; expressions read
        noise ``name`` through the symbol ``@xi:<name>`` (:mod:`rectinumba.equations.noise`).
    """

    name: str
    operators: tuple[str, ...]
    states: tuple[str, ...]
    initial: tuple[tuple[str, float], ...]
    params: tuple[tuple[str, float], ...]
    inputs: tuple[tuple[str, float], ...]
    outputs: tuple[str, ...]
    algebraic: tuple[Definition, ...]
    derivatives: tuple[tuple[str, Any], ...]
    links: tuple[tuple[str, str], ...] = ()
    complex_vars: tuple[str, ...] = ()
    delays: tuple[tuple[str, str, float, str | None], ...] = ()
    noises: tuple[str, ...] = ()

    # ---- convenient views -------------------------------------------------------------
    @property
    def initial_values(self) -> dict[str, float]:
        """State -> initial value."""
        return dict(self.initial)

    @property
    def param_defaults(self) -> dict[str, float]:
        """Parameter -> default value."""
        return dict(self.params)

    @property
    def input_defaults(self) -> dict[str, float]:
        """Unlinked input -> default value."""
        return dict(self.inputs)

    @property
    def derivative_map(self) -> dict[str, Any]:
        """State -> right-hand side of its derivative (sympy)."""
        return dict(self.derivatives)

    @property
    def algebraic_names(self) -> tuple[str, ...]:
        """Names of the algebraic definitions, in evaluation order."""
        return tuple(d.name for d in self.algebraic)

    def is_complex(self, name: str) -> bool:
        """Whether the variable ``name`` (qualified) holds complex values.

        Parameters
        ----------
        name : str
            A qualified ``op/var`` name (or a reduction's name).

        Returns
        -------
        bool
            True for a complex-valued variable.
        """
        return name in self.complex_vars

    @property
    def variable_names(self) -> tuple[str, ...]:
        """Every named variable: states, algebraic (non-reduction), inputs, parameters."""
        alg = tuple(d.name for d in self.algebraic if d.reduce is None)
        inputs = tuple(n for n, _ in self.inputs)
        return self.states + alg + inputs + tuple(n for n, _ in self.params)

    # ---- name resolution --------------------------------------------------------------
    def resolve(self, name: str, op: str | None = None) -> str:
        """Qualified ``op/var`` name of the variable a user refers to.

        Parameters
        ----------
        name : str
            ``"var"``, ``"op/var"`` or ``"all/op/var"`` (any first part before ``op/var`` is
            ignored, as RectiPy's node prefix).
        op : str, optional
            Operator that bare names belong to; without it a bare name must be unique among
            the node's operators.

        Returns
        -------
        str
            The qualified name; a linked input (``tanh_op/v``) resolves to its source
            (``li_op/v``).

        Raises
        ------
        VariableNotFoundError
            Unknown names (listing the known names) or unknown ``op``; a ``NetworkError`` that is
            also a ``KeyError``, as RectiPy raised for unknown variables.
        NetworkError
            Ambiguous names (listing the candidates).
        """
        if not isinstance(name, str) or not name:
            raise NetworkError(
                f"a variable name must be a non-empty string, got {name!r}", template=self.name
            )
        links = dict(self.links)
        known = self.variable_names
        known_set = set(known)
        parts = name.split("/")
        if len(parts) > 2:
            parts = parts[-2:]
        if len(parts) == 2:
            qualified = "/".join(parts)
            qualified = links.get(qualified, qualified)
            if qualified in known_set:
                return qualified
            raise VariableNotFoundError(
                f"unknown variable {name!r} in model {self.name!r}",
                template=self.name,
                hint="known variables: " + ", ".join(known),
            )
        bare = parts[0]
        if op is not None:
            if op not in self.operators:
                raise VariableNotFoundError(
                    f"unknown operator {op!r} in model {self.name!r}",
                    template=self.name,
                    variable=name,
                    hint="operators: " + ", ".join(self.operators),
                )
            qualified = f"{op}/{bare}"
            qualified = links.get(qualified, qualified)
            if qualified in known_set:
                return qualified
            in_op = [n for n in known if n.startswith(op + "/")]
            raise VariableNotFoundError(
                f"unknown variable {name!r} in operator {op!r} of model {self.name!r}",
                template=self.name,
                hint=f"variables of {op}: " + ", ".join(in_op),
            )
        candidates: list[str] = []
        for qualified in (*known, *links):
            if qualified.partition("/")[2] == bare:
                target = links.get(qualified, qualified)
                if target not in candidates:
                    candidates.append(target)
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise VariableNotFoundError(
                f"unknown variable {name!r} in model {self.name!r}",
                template=self.name,
                hint="known variables: " + ", ".join(known),
            )
        raise NetworkError(
            f"ambiguous variable {name!r} in model {self.name!r}: candidates "
            + ", ".join(candidates),
            template=self.name,
            hint="write 'op/var' or pass op=",
        )


def first_dependency(model, name: str, targets) -> str | None:
    """The first of ``targets`` that variable ``name`` depends on within one evaluation of the
    right-hand side (itself, or through algebraic definitions), or None.

    Parameters
    ----------
    model : NodeModel
        The model (its algebraic definitions).
    name : str
        A qualified variable name.
    targets : collection of str
        Qualified names looked for (e.g. the inputs an edge drives).

    Returns
    -------
    str or None
        A target reached, or None when ``name`` depends on none of them.
    """
    alg = {d.name: d for d in model.algebraic}
    seen: set[str] = set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in targets:
            return n
        if n in seen or n not in alg:
            continue
        seen.add(n)
        todo.extend(sorted(s.name for s in alg[n].expr.free_symbols))
    return None
