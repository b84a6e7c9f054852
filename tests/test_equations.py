"""Equation compiler: parsing (forms, operators, functions, constants), NodeModel assembly
(classification, linking, ordering, reductions, caching, name resolution) and every error, with
the caret checked. Pure sympy; no numba."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest
import sympy

from rectinumba.equations import Definition, NodeModel, compile_node
from rectinumba.equations.functions import FUNCTIONS, Round
from rectinumba.equations.parse import parse_expression, split_equation
from rectinumba.errors import EquationError, NetworkError, RectinumbaError, TemplateError
from rectinumba.templates import NodeTemplate, OperatorTemplate

pytestmark = pytest.mark.nocompile


def S(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def same(a, b) -> bool:
    return sympy.simplify(a - b) == 0


def caret(err: pytest.ExceptionInfo | Exception) -> tuple[str, int]:
    """(equation line, caret column) of a formatted error message."""
    exc = err.value if isinstance(err, pytest.ExceptionInfo) else err
    lines = str(exc).splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "^":
            return lines[i - 1][4:], line.index("^") - 4
    raise AssertionError(f"no caret in message:\n{exc}")


def op(equations, variables, name="op", path=None) -> OperatorTemplate:
    return OperatorTemplate(name, equations, variables, path=path)


LI = dict(v="output(0)", tau=10, k=1, eta=0, r_in="input(0)", I_ext="input(0)")
LI_EQ = "v' = -v/tau + k*r_in + I_ext + eta"


def li_op() -> OperatorTemplate:
    return op(LI_EQ, LI, name="li_op")


def tanh_op() -> OperatorTemplate:
    return op("r = tanh(v)", dict(r="output(0)", v="input(0)"), name="tanh_op")


# ---- equation forms ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, kind, target, col, rhs",
    [
        ("x' = -x", "ode", "x", 0, "-x"),
        ("  x '=-x", "ode", "x", 2, "-x"),
        ("d/dt * x = -x", "ode", "x", 7, "-x"),
        ("d/dt*x = -x", "ode", "x", 5, "-x"),
        ("d / dt *x=  -x", "ode", "x", 8, "-x"),
        ("a = b + 1", "alg", "a", 0, "b + 1"),
        ("a = b == c", "alg", "a", 0, "b == c"),
        ("a = b <= c", "alg", "a", 0, "b <= c"),
    ],
)
def test_split_equation_forms(text, kind, target, col, rhs):
    eq = split_equation(text)
    assert (eq.kind, eq.target, eq.target_col, eq.rhs) == (kind, target, col, rhs)
    assert text[eq.rhs_col :] == rhs


@pytest.mark.parametrize("text", ["x' = -x/tau", "d/dt * x = -x/tau", "d/dt*x=-x/tau"])
def test_derivative_forms_compile_alike(text):
    model = compile_node(op(text, dict(x="variable(1.5)", tau=2)))
    assert model.states == ("op/x",)
    assert model.initial == (("op/x", 1.5),)
    assert same(model.derivative_map["op/x"], -S("op/x") / S("op/tau"))


def test_caret_and_power_both_mean_power_with_power_precedence():
    v, eta, a = S("v"), S("eta"), S("a")
    names = {"v": v, "eta": eta, "a": a}
    assert parse_expression("v^2 + eta", names) == v**2 + eta
    assert parse_expression("v**2 + eta", names) == v**2 + eta
    assert parse_expression("a*v^2", names) == a * v**2
    assert parse_expression("-v^2", names) == -(v**2)
    # right-associative like **: 2^3^2 = 2^9 (numbers fold to floats)
    assert float(parse_expression("2^3^2")) == 512.0
    assert parse_expression("(v+1)^(a-1)", names) == (v + 1) ** (a - 1)


def test_caret_column_exact_after_power_rewrite():
    # '^' becomes '**' internally; the caret must still point into the text as written
    with pytest.raises(EquationError, match="undefined variable 'w'") as err:
        parse_expression("v^2^3 + w", {"v": S("v")})
    assert caret(err) == ("v^2^3 + w", 8)


def test_numbers_and_arithmetic():
    x = S("x")
    assert parse_expression("7") == sympy.Integer(7)
    assert parse_expression("2.5e-3") == sympy.Float(2.5e-3)
    # constant operations fold in float64, the arithmetic of the generated code
    assert parse_expression("1/2") == sympy.Float(0.5)
    assert parse_expression("0.1 + 0.2") == sympy.Float(0.1 + 0.2)
    assert parse_expression("exp(1) * 2") == sympy.Float(np.exp(1.0) * 2)
    assert parse_expression("(1 < 2) + (3 <= 2)") == sympy.Float(1.0)
    assert parse_expression("+x - -x", {"x": x}) == 2 * x
    assert parse_expression("(x + 1)*(x - 1)/x", {"x": x}) == (x + 1) * (x - 1) / x


@pytest.mark.parametrize(
    "text, match, col",
    [
        # exact sympy arithmetic would hang on these; float64 folding refuses them at once
        ("9**9**9", "overflows double precision", 0),
        ("exp(exp(exp(1e308)))", "overflows double precision", 8),
        ("x**(9**9**9)", "overflows double precision", 4),
        ("1e999 + x", "too large for double precision", 0),
        ("x * 1e308 * 10", "beyond double precision", 0),
        ("2 + 1/(3 - 3)", "division by zero in a constant", 4),
        ("x + log(-1)", "undefined .outside the function's domain", 4),
        ("x + (-8)^(1/3)", "the constant is a complex number", 4),
    ],
)
def test_constant_folding_refuses_what_float64_cannot_hold(text, match, col):
    with pytest.raises(EquationError, match=match) as err:
        parse_expression(text, {"x": S("x")})
    assert caret(err) == (text, col)


EXPECTED_FUNCTIONS = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "absv": sympy.Abs,
    "sign": sympy.sign,
    "sigmoid": lambda x: 1 / (1 + sympy.exp(-x)),
    "round": Round,
    "heaviside": lambda x: sympy.Heaviside(x, 1),
    # complex numbers (on a real argument: x, x, 0, |x|, angle)
    "abs": sympy.Abs,
    "conj": sympy.conjugate,
    "conjugate": sympy.conjugate,
    "real": sympy.re,
    "imag": sympy.im,
    "angle": sympy.arg,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FUNCTIONS))
def test_unary_functions(name):
    x = S("x")
    got = parse_expression(f"{name}(2*x)", {"x": x})
    assert same(got, EXPECTED_FUNCTIONS[name](2 * x))


def test_function_table_is_exactly_the_documented_one():
    assert set(FUNCTIONS) == set(EXPECTED_FUNCTIONS) | {"maxi", "mini"}


def test_maxi_mini():
    x, y = S("x"), S("y")
    assert parse_expression("maxi(x, y)", {"x": x, "y": y}) == sympy.Max(x, y)
    assert parse_expression("mini(x, 2)", {"x": x}) == sympy.Min(x, 2)
    assert float(parse_expression("maxi(3, 2.0)")) == 3.0


def test_round_is_half_to_even_like_numpy_with_zero_derivative():
    x = S("x")
    values = [0.5, 1.5, 2.5, -0.5, -2.5, 2.4, 2.6]
    for value in values:
        assert float(Round(sympy.Float(value))) == np.round(value)
    assert Round(sympy.Rational(5, 2)) == 2 and Round(sympy.Rational(7, 2)) == 4
    expr = parse_expression("round(x)", {"x": x})
    assert sympy.diff(expr, x) == 0
    f = sympy.lambdify(x, expr, modules="numpy")
    np.testing.assert_array_equal(f(np.array(values)), np.round(values))


def test_heaviside_is_one_at_zero():
    x = S("x")
    expr = parse_expression("heaviside(x)", {"x": x})
    assert [expr.subs(x, v) for v in (-1, 0, 2)] == [0, 1, 1]


def test_sigmoid_value():
    expr = parse_expression("sigmoid(0.5)")
    assert float(expr) == pytest.approx(1 / (1 + np.exp(-0.5)))


@pytest.mark.parametrize(
    "text, truth",
    [
        ("x < 1", lambda x: x < 1),
        ("x <= 1", lambda x: x <= 1),
        ("x > 1", lambda x: x > 1),
        ("x >= 1", lambda x: x >= 1),
        ("x == 1", lambda x: x == 1),
        ("x != 1", lambda x: x != 1),
        ("0 < x < 2", lambda x: 0 < x < 2),
    ],
)
def test_comparisons_are_one_or_zero(text, truth):
    x = S("x")
    expr = parse_expression(text, {"x": x})
    assert isinstance(expr, sympy.Piecewise)
    for value in (-1, 0, 1, 1.5, 2, 3):
        assert expr.subs(x, value) == (1 if truth(value) else 0), value


def test_time_pi_e_constants_and_declared_names_win():
    model = compile_node(op("x' = t + pi + E", dict(x="variable(0)")))
    assert model.derivative_map["op/x"] == S("t") + sympy.pi + sympy.E
    declared = compile_node(op("x' = t + pi*E", dict(x="variable(0)", E=2, t=3, pi=4)))
    assert declared.derivative_map["op/x"] == S("op/t") + S("op/pi") * S("op/E")
    assert declared.param_defaults == {"op/E": 2.0, "op/t": 3.0, "op/pi": 4.0}


# ---- NodeModel assembly ---------------------------------------------------------------------
def test_li_tanh_node_links_and_classifies():
    model = compile_node(NodeTemplate("tanh", [li_op(), tanh_op()]))
    assert isinstance(model, NodeModel)
    assert model.name == "tanh" and model.operators == ("li_op", "tanh_op")
    assert model.states == ("li_op/v",)
    assert model.initial == (("li_op/v", 0.0),)
    assert model.param_defaults == {"li_op/tau": 10.0, "li_op/k": 1.0, "li_op/eta": 0.0}
    assert model.input_defaults == {"li_op/r_in": 0.0, "li_op/I_ext": 0.0}
    assert model.outputs == ("li_op/v", "tanh_op/r")
    assert model.links == (("tanh_op/v", "li_op/v"),)
    assert model.algebraic == (Definition("tanh_op/r", sympy.tanh(S("li_op/v"))),)
    v, tau, k, r_in, I_ext, eta = (
        S(f"li_op/{n}") for n in ("v", "tau", "k", "r_in", "I_ext", "eta")
    )
    assert same(model.derivative_map["li_op/v"], -v / tau + k * r_in + I_ext + eta)


def test_link_works_when_the_output_operator_comes_later():
    model = compile_node(NodeTemplate("n", [tanh_op(), li_op()]))
    assert model.links == (("tanh_op/v", "li_op/v"),)
    assert model.algebraic[0].expr == sympy.tanh(S("li_op/v"))
    assert "tanh_op/v" not in model.input_defaults


def test_operator_template_compiles_as_one_operator_node():
    model = compile_node(li_op())
    assert model.name == "li_op" and model.operators == ("li_op",)
    assert model.states == ("li_op/v",) and model.links == ()


def test_declared_but_undefined_variables_are_parameters():
    model = compile_node(
        op("x' = -x + a + b", dict(x="variable(1)", a="variable(2)", b="output(3)", c=4))
    )
    assert model.params == (("op/a", 2.0), ("op/b", 3.0), ("op/c", 4.0))
    assert model.outputs == ("op/b",)


def test_algebraic_definitions_are_ordered_topologically():
    tmpl = op(
        ["c = b + 1", "x' = c - x", "b = 2*a", "a = x^2"],
        dict(x="variable(0)", a="variable(0)", b="variable(0)", c="variable(0)"),
    )
    model = compile_node(tmpl)
    assert model.algebraic_names == ("op/a", "op/b", "op/c")
    x = S("op/x")
    # substituting in order reproduces the closed form
    rhs = model.derivative_map["op/x"]
    for d in reversed(model.algebraic):
        rhs = rhs.subs(S(d.name), d.expr)
    assert same(rhs, 2 * x**2 + 1 - x)


def test_reductions_are_named_deduplicated_and_ordered_after_their_inputs():
    tmpl = op(
        ["x' = mean(r) - x + mean( r ) + vsum(r^2)", "r = tanh(x)", "m = mean(r)"],
        dict(x="variable(0)", r="variable(0)", m="output(0)"),
    )
    model = compile_node(tmpl)
    names = model.algebraic_names
    assert set(names) == {"op/r", "op/mean(r)", "op/vsum(r^2)", "op/m"}
    assert names.index("op/r") < names.index("op/mean(r)") < names.index("op/m")
    by_name = {d.name: d for d in model.algebraic}
    assert by_name["op/mean(r)"] == Definition("op/mean(r)", S("op/r"), "mean")
    assert by_name["op/vsum(r^2)"] == Definition("op/vsum(r^2)", S("op/r") ** 2, "vsum")
    assert by_name["op/m"] == Definition("op/m", S("op/mean(r)"))
    assert same(model.derivative_map["op/x"], 2 * S("op/mean(r)") - S("op/x") + S("op/vsum(r^2)"))
    assert "op/mean(r)" not in model.variable_names


def test_compile_is_cached_and_models_hash_and_compare_equal():
    first = compile_node(NodeTemplate("tanh", [li_op(), tanh_op()]))
    again = compile_node(NodeTemplate("tanh", [li_op(), tanh_op()]))
    assert again is first
    from rectinumba.equations import compile as compile_module

    compile_module._compile_cached.cache_clear()
    fresh = compile_node(NodeTemplate("tanh", [li_op(), tanh_op()]))
    assert fresh is not first and fresh == first and hash(fresh) == hash(first)
    assert len({first, fresh}) == 1


def test_compile_node_refuses_non_templates():
    with pytest.raises(TemplateError, match="expects a NodeTemplate or an OperatorTemplate"):
        compile_node("model_templates.rate_neurons.leaky_integrator.tanh")


# ---- name resolution ------------------------------------------------------------------------
@pytest.fixture()
def tanh_model() -> NodeModel:
    return compile_node(NodeTemplate("tanh", [li_op(), tanh_op()]))


@pytest.mark.parametrize(
    "name, op_name, expected",
    [
        ("li_op/v", None, "li_op/v"),
        ("all/li_op/tau", None, "li_op/tau"),
        ("tanh/li_op/I_ext", None, "li_op/I_ext"),
        ("tau", None, "li_op/tau"),
        ("r", None, "tanh_op/r"),
        ("v", None, "li_op/v"),  # li_op/v and its link tanh_op/v are the same variable
        ("tanh_op/v", None, "li_op/v"),
        ("v", "tanh_op", "li_op/v"),
        ("r_in", "li_op", "li_op/r_in"),
    ],
)
def test_resolve(tanh_model, name, op_name, expected):
    assert tanh_model.resolve(name, op=op_name) == expected


def test_resolve_errors(tanh_model):
    with pytest.raises(
        NetworkError,
        match=r"unknown variable 'u'[\s\S]*known variables: "
        r"li_op/v, tanh_op/r",
    ):
        tanh_model.resolve("u")
    with pytest.raises(NetworkError, match=r"unknown variable 'li_op/r'"):
        tanh_model.resolve("li_op/r")
    with pytest.raises(NetworkError, match=r"unknown operator 'lif_op'[\s\S]*li_op, tanh_op"):
        tanh_model.resolve("v", op="lif_op")
    with pytest.raises(NetworkError, match=r"unknown variable 'tau' in operator 'tanh_op'"):
        tanh_model.resolve("tau", op="tanh_op")
    two = compile_node(
        NodeTemplate(
            "two",
            [
                op("x' = -x", dict(x="variable(0)"), name="a"),
                op("x' = -x", dict(x="variable(0)"), name="b"),
            ],
        )
    )
    with pytest.raises(NetworkError, match=r"ambiguous variable 'x'.*candidates a/x, b/x"):
        two.resolve("x")
    assert two.resolve("x", op="b") == "b/x"


# ---- errors: parsing ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rhs, match, col",
    [
        ("-v/tau +* 2", r"syntax error", 8),
        ("(v + 1", r"syntax error: '\(' was never closed", 0),
        ("v +", r"syntax error", 3),
        ("foo(v)", r"unknown function 'foo'[\s\S]*available functions: abs, absv", 0),
        ("sigmod(v)", r"unknown function 'sigmod'[\s\S]*did you mean sigmoid\(\)\?", 0),
        ("-v/tau2", r"undefined variable 'tau2'[\s\S]*declared variables: tau, v", 3),
        ("maxi(v)", r"function 'maxi' takes exactly 2 arguments, got 1", 0),
        ("exp(v, v)", r"function 'exp' takes exactly 1 argument, got 2", 0),
        ("mean(v, v)", r"reduction 'mean' takes exactly 1 argument, got 2", 0),
        ("mean(v - mean(v))", r"nested population reductions", 9),
        ("v.real", r"attribute access", 1),
        ("v[0]", r"indexing with \[\.\.\.\] is not supported", 1),
        ("exp(x=v)", r"keyword arguments are not allowed", 4),
        ("exp(*v)", r"starred arguments", 4),
        ("tau(v)", r"'tau' is a variable: call it only with a delayed time, tau\(t - d\)", 4),
        ("tau(v, v)", r"'tau' is a variable, not a function", 0),
        ("exp", r"'exp' is a function; call it", 0),
        ("f(v)(v)", r"only functions called by name", 4),
        ("maxi(2j*v, v)", r"maxi\(\) takes real arguments; this argument is complex", 5),
        ("(2j*v > 0)", r"comparisons need real values", 1),
        ("'abc'", r"strings are not allowed", 0),
        ("v + True", r"True is not a number", 4),
        ("v + None", r"None is not a number", 4),
        ("v % 2", r"the operator '%' is not supported", 2),
        ("v // 2", r"the operator '//' is not supported", 2),
        ("v if tau else 0", r"conditional expressions", 0),
        ("v and tau", r"'and'/'or' are not supported", 0),
        ("not v", r"the operator 'not' is not supported", 0),
        ("~v", r"the operator '~' is not supported", 0),
        ("v is tau", r"the comparison 'is' is not supported", 0),
        ("[v, tau]", r"lists are not allowed", 0),
        ("(v, tau)", r"tuples are not allowed", 0),
        ("v/(tau - tau)", r"undefined number .e.g. a division by zero", 0),
        ("sqrt(-1)*v", r"outside the function's domain", 0),
    ],
)
def test_parse_errors_with_caret(rhs, match, col):
    text = f"v' = {rhs}"
    tmpl = op(text, dict(v="variable(0)", tau=1), path="somewhere/model.yaml")
    with pytest.raises(EquationError, match=match) as err:
        compile_node(tmpl)
    assert caret(err) == (text, 5 + col)
    assert err.value.context["template"] == "op"
    assert err.value.context["variable"] == "v"
    assert "file 'somewhere/model.yaml'" in str(err.value)


@pytest.mark.parametrize(
    "text, match, col",
    [
        ("v + 1", r"needs '=' between its sides", 5),
        ("2*v = 1", r"cannot read the left-hand side '2\*v'", 0),
        ("v'' = 1", r"cannot read the left-hand side", 0),
        ("d/dt v = 1", r"cannot read the left-hand side", 0),
        ("v =  ", r"right-hand side is empty", 5),
        ("lambda = 1", r"'lambda' is a reserved word", 0),
    ],
)
def test_left_hand_side_errors(text, match, col):
    with pytest.raises(EquationError, match=match) as err:
        compile_node(op(text, dict(v="variable(0)")))
    assert caret(err) == (text, col)


def test_non_ascii_text_keeps_the_caret_on_the_character():
    text = "v' = -v/τ + w"
    with pytest.raises(EquationError, match="undefined variable 'w'") as err:
        compile_node(op(text, {"v": "variable(0)", "τ": 1}))
    assert caret(err) == (text, 12)


# ---- errors: compiling ----------------------------------------------------------------------
def test_derivative_of_input_is_refused():
    text = "r_in' = -r_in"
    with pytest.raises(EquationError, match=r"derivative of input variable 'r_in'") as err:
        compile_node(op([LI_EQ, text], LI))
    assert caret(err) == (text, 0)
    assert err.value.context["variable"] == "r_in"


def test_derivative_of_undeclared_variable_is_refused():
    text = "d/dt * w = -w"
    with pytest.raises(
        EquationError,
        match=r"derivative of undeclared variable 'w'[\s\S]*"
        r"hint: declare it",
    ) as err:
        compile_node(op([LI_EQ, text], LI))
    assert caret(err) == (text, 7)


def test_algebraic_definition_of_undeclared_or_constant_is_refused():
    with pytest.raises(EquationError, match=r"equation for undeclared variable 'q'") as err:
        compile_node(op([LI_EQ, "q = v"], LI))
    assert caret(err) == ("q = v", 0)
    with pytest.raises(
        EquationError,
        match=r"equation for the constant 'tau'[\s\S]*"
        r"variable\(10\)",
    ) as err:
        compile_node(op([LI_EQ, "  tau = v"], LI))
    assert caret(err) == ("  tau = v", 2)


def test_duplicate_definition_is_refused():
    second = "v = 2*eta"
    with pytest.raises(
        EquationError,
        match=r"duplicate definition of variable 'v'[\s\S]*"
        r"already defined by \"v' = ",
    ) as err:
        compile_node(op([LI_EQ, second], LI))
    assert caret(err) == (second, 0)


def test_algebraic_cycle_lists_the_names():
    tmpl = op(
        ["x' = a - x", "a = b + 1", "b = 2*c", "c = a"],
        dict(x="variable(0)", a="variable(0)", b="variable(0)", c="variable(0)"),
    )
    with pytest.raises(
        EquationError, match=r"algebraic cycle: op/a -> op/b -> op/c -> op/a"
    ) as err:
        compile_node(tmpl)
    assert caret(err) == ("a = b + 1", 4)
    with pytest.raises(EquationError, match=r"algebraic cycle: op/a -> op/a"):
        compile_node(op("a = a + 1", dict(a="output(0)")))
    with pytest.raises(EquationError, match=r"algebraic cycle: op/a -> op/mean\(a\) -> op/a"):
        compile_node(op("a = mean(a)", dict(a="output(0)")))


def test_cycle_across_linked_operators():
    a = op("x = y + 1", dict(x="output(0)", y="input(0)"), name="A")
    b = op("y = 2*x", dict(y="output(0)", x="input(0)"), name="B")
    with pytest.raises(EquationError, match=r"algebraic cycle: A/x -> B/y -> A/x"):
        compile_node(NodeTemplate("n", [a, b]))


def test_an_input_matching_several_outputs_receives_their_sum():
    """PyRates' rule (OperatorGraph links every operator whose output has the input's name; the
    circuit sums several sources): C/r = A/r + B/r, an ordinary algebraic definition."""
    a = op("r = 1 + 0*q", dict(r="output(0)", q=1), name="A")
    b = op("r' = -r", dict(r="output(2)"), name="B")
    c = op("z' = r - z", dict(z="output(0)", r="input(0)"), name="C")
    model = compile_node(NodeTemplate("n", [a, b, c]))
    defs = {d.name: d.expr for d in model.algebraic}
    assert same(defs["C/r"], S("A/r") + S("B/r"))
    assert same(model.derivative_map["C/z"], S("C/r") - S("C/z"))
    assert [n for n, _ in model.inputs] == [] and "C/r" in model.variable_names
    assert model.links == ()  # no input is linked to one output
    assert model.resolve("r", op="C") == "C/r"
    with pytest.raises(NetworkError, match=r"ambiguous variable 'r'.*candidates B/r, A/r, C/r"):
        model.resolve("r")
    # the sum is ordered like any definition: a cycle through it is reported
    d = op("q = 2*r", dict(q="output(0)", r="input(0)"), name="D")
    e = op("r = q", dict(r="output(0)", q="input(0)"), name="E")
    with pytest.raises(EquationError, match=r"algebraic cycle"):
        f = op("x = r", dict(x="output(0)", r="input(0)"), name="F")
        compile_node(NodeTemplate("n", [a, e, d, f]))


def test_keyword_variable_name_is_refused():
    with pytest.raises(EquationError, match=r"variable name 'lambda' is not a valid identifier"):
        compile_node(op("x' = -x", {"x": "variable(0)", "lambda": 1}))


def test_errors_are_value_errors_of_the_package():
    with pytest.raises(ValueError, match="unknown function 'nope'") as err:
        compile_node(op("x' = nope(x)", dict(x="variable(0)")))
    assert isinstance(err.value, RectinumbaError)


# ---- hostile text ---------------------------------------------------------------------------
HOSTILE = [
    "__import__('os').system('touch {s}')",
    "open('{s}', 'w')",
    "eval(\"open('{s}', 'w')\")",
    "exec(\"open('{s}', 'w')\")",
    "(lambda: open('{s}', 'w'))()",
    "[open('{s}', 'w') for i in (1,)][0]",
    "().__class__.__bases__[0].__subclasses__()",
    "f\"{{open('{s}', 'w')}}\"",
    "getattr(__builtins__, 'open')('{s}', 'w')",
    "(x := open('{s}', 'w'))",
    "{{open('{s}', 'w')}}",
    "x.__init__.__globals__['os'].system('touch {s}')",
    "__builtins__['open']('{s}', 'w')",
    "1 if open('{s}', 'w') else 0",
    "sympify(\"open('{s}', 'w')\")",
    "exp(*[open('{s}', 'w')])",
    "compile('open(1)', 'f', 'exec')",
    "exp(x, key=open('{s}', 'w'))",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_equations_are_refused_and_execute_nothing(hostile, tmp_path):
    sentinel = tmp_path / "sentinel"
    text = "x' = " + hostile.format(s=sentinel)
    with pytest.raises(
        EquationError,
        match=r"not allowed|not supported|unknown function|"
        r"only functions called by name",
    ) as err:
        compile_node(op(text, dict(x="variable(0)")))
    assert caret(err)[0] == text
    assert not sentinel.exists()


def test_hostile_left_hand_side_is_refused(tmp_path):
    sentinel = tmp_path / "sentinel"
    text = f"__import__('os').system('touch {sentinel}') = 1"
    with pytest.raises(EquationError, match="cannot read the left-hand side"):
        compile_node(op(text, dict(x="variable(0)")))
    assert not sentinel.exists()


def test_equation_package_never_calls_eval_exec_or_sympify():
    root = Path(__file__).resolve().parents[1] / "rectinumba" / "equations"
    forbidden = {"eval", "exec", "sympify", "parse_expr", "S"}  # sympy.S("...") sympifies
    for path in sorted(root.glob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        prev = before = None
        for tok in tokens:
            # a forbidden name immediately called, e.g. "eval(" or "sympy.sympify(" (a method
            # *defined* with such a name, sympy's "def eval(cls, arg)" hook, is no call)
            if prev is not None and tok.string == "(" and prev.type == tokenize.NAME:
                called = before is None or before.string != "def"
                bare = before is None or before.string != "."
                bad = prev.string in forbidden or (bare and prev.string == "compile")
                assert not (called and bad), f"{path.name}:{prev.start[0]} calls {prev.string}"
            if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
                prev, before = tok, prev
    assert re.search(r"render_Call", (root / "parse.py").read_text())


@pytest.mark.parametrize(
    "text, col",
    [
        ("v' = -v/tau +\n   w\n", 17),  # YAML literal block (|)
        ("v' = -v/tau\n+ w + 2\n", 14),  # YAML folded block (>) keeps the last break
        ("v' =\t-v/tau + w", 14),
    ],
)
def test_multi_line_equation_keeps_the_caret_under_the_token(text, col):
    # line breaks used to print the equation over several lines, the caret under none of them
    with pytest.raises(EquationError, match="undefined variable 'w'") as err:
        compile_node(op(text, {"v": "variable(0)", "tau": 1}))
    line, column = caret(err)
    assert "\n" not in line and line[column] == "w"
    assert column == col
