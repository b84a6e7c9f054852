"""Fuzzing the equation compiler: random and mutated equation strings give a NodeModel or the
package's error, never any other exception; compiled models only mention known symbols."""

from __future__ import annotations

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rectinumba.equations import NodeModel, compile_node
from rectinumba.errors import EquationError, TemplateError
from rectinumba.templates import NodeTemplate, OperatorTemplate

pytestmark = pytest.mark.nocompile

VARIABLES = dict(
    v="output(0)",
    a="variable(0)",
    x="variable(1)",
    tau=10,
    k=1,
    eta=0,
    r_in="input(0)",
    I_ext="input(0)",
)

VALID = [
    "v' = -v/tau + k*r_in + I_ext + eta",
    "d/dt * x = (x^2 + eta - a)/tau + mean(v)",
    "a = tanh(v) + sigmoid(x) * heaviside(v - 1) + maxi(v, x)",
    "a = (v > 0)*exp(-t/tau) + vsum(x**2)/k - round(pi*E)",
    "d/dt*v = sqrt(absv(v)) - log(1 + x^2) + sign(v)*mini(eta, 2.5e-3)",
]

TOKENS = [
    "v",
    "a",
    "x",
    "tau",
    "k",
    "eta",
    "r_in",
    "I_ext",
    "t",
    "pi",
    "E",
    "exp",
    "tanh",
    "mean",
    "vsum",
    "maxi",
    "round",
    "__import__",
    "open",
    "lambda",
    "for",
    "in",
    "if",
    "else",
    "not",
    "and",
    "0",
    "1",
    "2.5",
    "1e-3",
    "9",
    "+",
    "-",
    "*",
    "/",
    "**",
    "^",
    "%",
    "//",
    "@",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    ":",
    ":=",
    "=",
    "==",
    "<",
    ">=",
    "!=",
    "'",
    '"',
    "d/dt",
    " ",
    "  ",
    "j",
    "\n",
    "\\",
    "#",
]
CHARS = "vaxtk_0123456789+-*/^%()[]{}.,:;='\"<>!# \t\nλ"


def outcome(equations: list[str]) -> NodeModel | None:
    """Compile, accepting only a NodeModel or the package's template/equation errors."""
    try:
        template = OperatorTemplate("op", equations, VARIABLES)
        model = compile_node(NodeTemplate("node", [template]))
    except (EquationError, TemplateError):
        return None
    known = {
        *model.states,
        *model.param_defaults,
        *model.input_defaults,
        *model.algebraic_names,
        "t",
    }
    exprs = [d.expr for d in model.algebraic] + [rhs for _, rhs in model.derivatives]
    for expr in exprs:
        assert isinstance(expr, sympy.Expr)
        assert {s.name for s in expr.free_symbols} <= known
    hash(model)
    return model


def mutate(data: st.DataObject, text: str) -> str:
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        where = data.draw(st.integers(0, len(text)), label="position")
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]), label="action")
        piece = data.draw(
            st.one_of(st.sampled_from(TOKENS), st.sampled_from(list(CHARS))), label="piece"
        )
        if action == "insert":
            text = text[:where] + piece + text[where:]
        elif action == "delete":
            text = text[:where] + text[where + 1 :]
        else:
            text = text[:where] + piece + text[where + len(piece) :]
    return text


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("equation", VALID)
def test_unmutated_equations_compile(equation):
    assert isinstance(outcome([equation]), NodeModel)


@FUZZ
@given(st.data())
def test_mutated_equations_compile_or_raise_equation_error(data):
    equations = [
        mutate(data, eq)
        for eq in data.draw(
            st.lists(st.sampled_from(VALID), min_size=1, max_size=2, unique=True), label="base"
        )
    ]
    outcome(equations)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(TOKENS), max_size=25).map("".join),
        st.text(alphabet=CHARS, max_size=40),
        st.text(max_size=30),
    )
)
def test_random_text_compiles_or_raises_equation_error(text):
    outcome([text])
    outcome([f"a = {text}"])
