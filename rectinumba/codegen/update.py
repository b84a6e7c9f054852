"""Update rules: the new value of every state after one step, as sympy expressions.

An update rule is data. It says how many times a step evaluates the right-hand side (``stages``),
at which state each later stage evaluates it (:meth:`UpdateRule.stage_state`) and what the new
value of a state is (:meth:`UpdateRule.new_value`), all as sympy expressions over

- the model's own symbols (a state's symbol stands for its value *before* the step),
- :func:`stage_symbol` ``(s, state)``: the right-hand side of ``state`` evaluated at stage ``s``,
- :data:`DT`: the step.

The renderers (:mod:`rectinumba.codegen.plan`) print these expressions; the BPTT renderer
(:mod:`rectinumba.codegen.adjoint`) differentiates them. Nothing else knows what Euler is.

Stochastic equations (white noise ``xi`` in a derivative, :mod:`rectinumba.equations.noise`): the
plan splits each derivative into its drift ``f`` and diffusion coefficients ``g_j``, builds the
new value from the drift as usual and adds :meth:`UpdateRule.noise_term`. Euler's is
Euler-Maruyama, ``+ sqrt(dt) * sum_j g_j * N_j`` with :func:`normal_symbol` ``(j)`` a standard
normal drawn for this neuron and step (Itô calculus). Rules without an SDE scheme refuse noise.

Rules are registered in :data:`RULES` (name -> rule). Adding one: subclass :class:`UpdateRule`
(or instantiate :class:`ExplicitRK` with a Butcher tableau), add it to ``RULES`` and to
``METHODS`` in :mod:`rectinumba.codegen.spec`, and add a convergence test.

This module imports sympy only inside functions: ``Network(dt, method=...)`` checks names against
:data:`rectinumba.codegen.spec.METHODS` without loading it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ..errors import EquationError

__all__ = [
    "UpdateRule",
    "ExplicitRK",
    "ExponentialEuler",
    "RULES",
    "get_rule",
    "stage_symbol",
    "state_symbol",
    "dt_symbol",
    "normal_symbol",
    "parse_normal_symbol",
    "phi1",
]

# Internal symbol names start with "@": model names are identifiers or "op/var", so they never
# collide with these.
_DT = "@dt"


def dt_symbol():
    """The sympy symbol of the integration step.

    Returns
    -------
    sympy.Symbol
        ``@dt``.
    """
    import sympy

    return sympy.Symbol(_DT, real=True)


def state_symbol(state: str):
    """The sympy symbol of a state (its value before the step): the model's own symbol.

    Parameters
    ----------
    state : str
        Qualified state name.

    Returns
    -------
    sympy.Symbol
        The symbol.
    """
    import sympy

    return sympy.Symbol(state, real=True)


def stage_symbol(stage: int, state: str):
    """The sympy symbol of the right-hand side of ``state`` evaluated at stage ``stage``.

    Parameters
    ----------
    stage : int
        Stage index.
    state : str
        Qualified state name.

    Returns
    -------
    sympy.Symbol
        ``@k<stage>:<state>``.
    """
    import sympy

    return sympy.Symbol(f"@k{stage}:{state}", real=True)


def normal_symbol(j: int):
    """The sympy symbol of the standard normal drawn for noise ``j`` of a node in this step.

    Parameters
    ----------
    j : int
        Index into the node model's ``noises``.

    Returns
    -------
    sympy.Symbol
        ``@n<j>``.
    """
    import sympy

    return sympy.Symbol(f"@n{j}", real=True)


def parse_normal_symbol(name: str) -> int | None:
    """Noise index of a :func:`normal_symbol` name.

    Parameters
    ----------
    name : str
        A symbol name.

    Returns
    -------
    int or None
        None for any other name.
    """
    if name.startswith("@n") and name[2:].isdigit():
        return int(name[2:])
    return None


def parse_stage_symbol(name: str) -> tuple[int, str] | None:
    """(stage, state) of a :func:`stage_symbol` name.

    Parameters
    ----------
    name : str
        A symbol name.

    Returns
    -------
    tuple of (int, str) or None
        None for any other name.
    """
    if not name.startswith("@k"):
        return None
    stage, _, state = name[2:].partition(":")
    return int(stage), state


class UpdateRule:
    """How one step advances the states of a node.

    Subclasses set ``name``, ``stages`` (right-hand side evaluations per step), ``order`` (global
    order of accuracy) and ``differentiable`` (BPTT can differentiate :meth:`new_value`), and
    implement :meth:`new_value`; multi-stage rules also implement :meth:`stage_state`.
    """

    name: str = ""
    stages: int = 1
    order: int = 1
    differentiable: bool = True

    def stage_state(self, stage: int, state: str) -> Any:
        """Value of ``state`` at which stage ``stage`` (>= 1) evaluates the right-hand side.

        Parameters
        ----------
        stage : int
            Stage index, ``1 <= stage < self.stages``.
        state : str
            Qualified name of the state.

        Returns
        -------
        sympy.Expr
            An expression of the state's symbol, earlier stage symbols and :func:`dt_symbol`.
        """
        raise NotImplementedError(f"{self.name} has a single stage")

    def stage_time(self, stage: int) -> float:
        """Fraction of the step at which stage ``stage`` evaluates (the time symbol ``t``).

        Parameters
        ----------
        stage : int
            Stage index.

        Returns
        -------
        float
            ``c_stage`` (0 for the first stage).
        """
        return 0.0

    def new_value(self, state: str, rhs: Callable[[], Any]) -> Any:
        """The value of ``state`` after the step.

        Parameters
        ----------
        state : str
            Qualified name of the state.
        rhs : callable
            Returns the state's right-hand side with every element-wise algebraic definition
            substituted (so that its dependence on the state is explicit); called only by rules
            that need it.

        Returns
        -------
        sympy.Expr
            An expression of model symbols, stage symbols and :func:`dt_symbol`.
        """
        raise NotImplementedError

    #: the rule integrates stochastic equations (:meth:`noise_term`)
    stochastic: bool = False

    def noise_term(self, terms: Sequence[tuple[int, Any]]) -> Any:
        """What white noise adds to a state's new value.

        Parameters
        ----------
        terms : sequence of (int, sympy.Expr)
            ``(j, g_j)``: noise index and diffusion coefficient (the factor of ``xi_j`` in the
            derivative), in model symbols at the state before the step.

        Returns
        -------
        sympy.Expr
            The term, over model symbols, :func:`normal_symbol` and :func:`dt_symbol`.
        """
        raise EquationError(
            f"white noise (xi) needs an SDE scheme: method='euler' integrates it by "
            f"Euler-Maruyama; method={self.name!r} has none here",
            hint="build the network with Network(dt, method='euler') for noisy models",
        )

    def __repr__(self) -> str:
        return f"<update rule {self.name!r}>"


class ExplicitRK(UpdateRule):
    """An explicit Runge-Kutta method given by its Butcher tableau.

    Parameters
    ----------
    name : str
        Registered name.
    a : tuple of tuple of Fraction
        ``a[s]``: coefficients of stages ``0 .. s-1`` in stage ``s`` (``a[0]`` is empty).
    b : tuple of Fraction
        Weights of the final combination.
    order : int
        Global order of accuracy.
    """

    def __init__(self, name: str, a, b, order: int) -> None:
        self.name, self.a, self.b, self.order = name, tuple(a), tuple(b), int(order)

    @property
    def stages(self) -> int:  # type: ignore[override]
        return len(self.b)

    @property
    def differentiable(self) -> bool:  # type: ignore[override]
        # the adjoint renderer differentiates single-stage updates only
        return len(self.b) == 1

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        # a one-stage explicit rule is Euler: with noise, Euler-Maruyama
        return len(self.b) == 1

    def noise_term(self, terms: Sequence[tuple[int, Any]]) -> Any:
        """Euler-Maruyama: ``sqrt(dt) * sum_j g_j * N_j`` (single-stage rules only).

        Parameters
        ----------
        terms : sequence of (int, sympy.Expr)
            ``(j, g_j)`` pairs (see :meth:`UpdateRule.noise_term`).

        Returns
        -------
        sympy.Expr
            The term.
        """
        if not self.stochastic:
            return super().noise_term(terms)
        import sympy

        total = sympy.Add(*[g * normal_symbol(j) for j, g in terms])
        return sympy.sqrt(dt_symbol()) * total

    def _combination(self, state: str, coefficients: Sequence[Fraction]) -> Any:
        import sympy

        terms = [
            sympy.Rational(c.numerator, c.denominator) * stage_symbol(s, state)
            for s, c in enumerate(coefficients)
            if c != 0
        ]
        total = terms[0] if len(terms) == 1 else sympy.Add(*terms)
        return state_symbol(state) + dt_symbol() * total

    def stage_state(self, stage: int, state: str) -> Any:
        """``y + dt * sum_r a[stage][r] k_r``.

        Parameters
        ----------
        stage : int
            Stage index (>= 1).
        state : str
            Qualified state name.

        Returns
        -------
        sympy.Expr
            The stage state.
        """
        return self._combination(state, self.a[stage])

    def stage_time(self, stage: int) -> float:
        """``c_stage = sum_r a[stage][r]``.

        Parameters
        ----------
        stage : int
            Stage index.

        Returns
        -------
        float
            The fraction of the step.
        """
        return float(sum(self.a[stage], Fraction(0)))

    def new_value(self, state: str, rhs: Callable[[], Any]) -> Any:
        """``y + dt * sum_s b[s] k_s``.

        Parameters
        ----------
        state : str
            Qualified state name.
        rhs : callable
            Unused (see :meth:`UpdateRule.new_value`).

        Returns
        -------
        sympy.Expr
            The new value.
        """
        return self._combination(state, self.b)


class _Phi1Function:
    """Lazily built sympy function ``phi1(h) = (exp(h) - 1) / h`` with ``phi1(0) = 1``."""

    @staticmethod
    @lru_cache(maxsize=1)
    def classes():
        import sympy

        class phi1_prime(sympy.Function):  # noqa: N801 - printed name
            """d phi1 / dh = (exp(h) - phi1(h)) / h, 1/2 at h = 0."""

            nargs = 1

            @classmethod
            def eval(cls, arg):  # noqa: D102 - sympy hook
                if arg == 0:
                    return sympy.Rational(1, 2)
                return None

        class phi1(sympy.Function):  # noqa: N801 - printed name
            """(exp(h) - 1) / h, continuous at h = 0 (= 1)."""

            nargs = 1

            @classmethod
            def eval(cls, arg):  # noqa: D102 - sympy hook
                if arg == 0:
                    return sympy.S.One
                return None

            def fdiff(self, argindex=1):
                return phi1_prime(self.args[0])

            def _eval_is_real(self):
                return self.args[0].is_real

        return phi1, phi1_prime


def phi1(arg):
    """``phi1(arg)`` as a sympy expression (see :class:`ExponentialEuler`).

    Parameters
    ----------
    arg : sympy.Expr
        The argument ``A dt``.

    Returns
    -------
    sympy.Expr
        ``(exp(arg) - 1)/arg``, 1 at 0.
    """
    return _Phi1Function.classes()[0](arg)


class ExponentialEuler(UpdateRule):
    """Exponential Euler for states whose derivative is linear in themselves (Brian2's rule).

    With ``f = A*y + B`` (A and B free of y, element-wise algebraic definitions substituted),
    ``y_new = y + dt * phi1(A dt) * f`` where ``phi1(h) = (exp(h) - 1)/h``: exact for a linear
    leak with a constant drive. Where A is identically 0 the update is Euler's; the printed
    ``phi1`` switches to its Taylor series for ``|A dt| < 1e-5``, so a vanishing A gives Euler's
    value to rounding. A state that is not linear in itself is an :class:`EquationError`.
    """

    name = "exp_euler"
    stages = 1
    order = 1

    def new_value(self, state: str, rhs: Callable[[], Any]) -> Any:
        """``y + dt * phi1(A dt) * k0`` (Euler's update where A is identically 0).

        Parameters
        ----------
        state : str
            Qualified state name.
        rhs : callable
            Returns the state's right-hand side with algebraic definitions substituted.

        Returns
        -------
        sympy.Expr
            The new value (an EquationError when the state is not linear in itself).
        """
        import sympy

        y = state_symbol(state)
        f = rhs()
        A = sympy.simplify(sympy.diff(f, y))
        if sympy.simplify(sympy.diff(A, y)) != 0 or A.has(sympy.Derivative):
            raise EquationError(
                f"method='exp_euler' needs the derivative of every state to be linear in that "
                f"state (d/dt {state} = A*{state} + B, with A and B free of {state}); here "
                f"d/dt {state} = {f}",
                variable=state,
                hint="use method='euler', 'heun' or 'rk4' for this model",
            )
        k0 = stage_symbol(0, state)
        if A == 0:
            return y + dt_symbol() * k0
        return y + dt_symbol() * phi1(A * dt_symbol()) * k0


def _fractions(*rows) -> tuple:
    return tuple(tuple(Fraction(x) for x in row) for row in rows)


#: name -> update rule; the one place where rules are registered
RULES: dict[str, UpdateRule] = {
    "euler": ExplicitRK("euler", _fractions(()), _fractions((1,))[0], 1),
    "heun": ExplicitRK("heun", _fractions((), (1,)), _fractions((Fraction(1, 2),) * 2)[0], 2),
    "rk4": ExplicitRK(
        "rk4",
        _fractions((), (Fraction(1, 2),), (0, Fraction(1, 2)), (0, 0, 1)),
        _fractions((Fraction(1, 6), Fraction(1, 3), Fraction(1, 3), Fraction(1, 6)))[0],
        4,
    ),
    "exp_euler": ExponentialEuler(),
}


def get_rule(name: str) -> UpdateRule:
    """The registered update rule called ``name``.

    Parameters
    ----------
    name : str
        A name of :data:`RULES`.

    Returns
    -------
    UpdateRule
        The rule (KeyError for an unknown name).
    """
    return RULES[name]
