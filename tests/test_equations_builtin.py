"""Every built-in template compiles, and its NodeModel matches the table of the built-in library:
states with initial values, parameters with defaults, inputs, and derivative / algebraic
expressions (sympy equality of expressions built here from the table, never string comparison)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import sympy

from rectinumba.equations import NodeModel, compile_node
from rectinumba.templates import CircuitTemplate, EdgeTemplate, NodeTemplate
from rectinumba.templates.flatten import flatten_circuit
from rectinumba.templates.loader import builtin_dir, load_template, template_names

pytestmark = pytest.mark.nocompile

PREFIX = "model_templates."


def S(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def same(a, b) -> bool:
    return sympy.simplify(a - b) == 0


class Op:
    """Symbols of one operator: ``Op("li_op").v`` is ``Symbol("li_op/v")``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, var: str) -> sympy.Symbol:
        return S(f"{self.name}/{var}")

    def q(self, mapping: dict[str, float]) -> dict[str, float]:
        return {f"{self.name}/{k}": float(v) for k, v in mapping.items()}


@dataclass
class Expected:
    states: dict[str, float]
    params: dict[str, float]
    inputs: dict[str, float]
    derivatives: dict[str, Any]
    algebraic: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def li_parts(o: Op, coupling: sympy.Expr) -> Any:
    return -o.v / o.tau + o.k * coupling + o.I_ext + o.eta


def expected_li_op() -> Expected:
    o = Op("li_op")
    return Expected(
        states=o.q(dict(v=0)),
        params=o.q(dict(tau=10, k=1, eta=0)),
        inputs=o.q(dict(r_in=0, I_ext=0)),
        derivatives={"li_op/v": li_parts(o, o.r_in)},
    )


def expected_sigmoid_op(v: sympy.Expr | None = None) -> Expected:
    o = Op("sigmoid_op")
    v = o.v if v is None else v
    return Expected(
        states={},
        params=o.q(dict(r_max=1, s=1, v0=0)),
        inputs={} if v != o.v else o.q(dict(v=0)),
        derivatives={},
        algebraic={"sigmoid_op/r": (o.r_max / (1 + sympy.exp(o.s * (o.v0 - v))), None)},
    )


def expected_tanh_op(v: sympy.Expr | None = None) -> Expected:
    o = Op("tanh_op")
    v = o.v if v is None else v
    return Expected(
        states={},
        params={},
        inputs={} if v != o.v else o.q(dict(v=0)),
        derivatives={},
        algebraic={"tanh_op/r": (sympy.tanh(v), None)},
    )


def expected_rate_node(out: str) -> Expected:
    li = expected_li_op()
    v = Op("li_op").v
    other = expected_sigmoid_op(v) if out == "sigmoid_op" else expected_tanh_op(v)
    return Expected(
        states=li.states,
        params={**li.params, **other.params},
        inputs=li.inputs,
        derivatives=li.derivatives,
        algebraic=other.algebraic,
        links={f"{out}/v": "li_op/v"},
    )


def expected_lif_op() -> Expected:
    o = Op("lif_op")
    return Expected(
        states=o.q(dict(v=0, s=0)),
        params=o.q(dict(tau=10, k=1, eta=0, tau_s=0.5)),
        inputs=o.q(dict(I_ext=0, spike=0, s_in=0, s_ext=0)),
        derivatives={
            "lif_op/v": li_parts(o, o.s_in),
            "lif_op/s": -o.s / o.tau_s + o.spike + o.s_ext,
        },
    )


def expected_qif(name: str) -> Expected:
    o = Op(name)
    eta = o.eta - o.x if name == "qif_sfa_op" else o.eta
    dv = (o.v**2 + eta + o.I_ext) / o.tau + o.k * o.s_in
    states = o.q(dict(v=-2, s=0))
    params = o.q(dict(tau=1, k=1, tau_s=1, eta=-5))
    inputs = o.q(dict(I_ext=0, spike=0, s_in=0))
    derivatives = {f"{name}/s": -o.s / o.tau_s + o.spike}
    if name == "qif_sfa_op":
        states.update(o.q(dict(x=0)))
        params.update(o.q(dict(alpha=1, tau_x=10)))
        derivatives[f"{name}/x"] = -o.x / o.tau_x + o.alpha * o.spike
    if name == "qif_reset_op":
        inputs.update(o.q(dict(reset=0)))
        dv = dv - 2.0 * o.reset * o.v
    derivatives[f"{name}/v"] = dv
    return Expected(states, params, inputs, derivatives)


def expected_ik(name: str) -> Expected:
    o = Op(name)
    glob = name != "ik_op"
    mean_v = S(f"{name}/mean(v)") if glob else o.v
    mean_spike = S(f"{name}/mean(spike)") if glob else o.spike
    states = o.q(dict(v=-60, u=0, s=0))
    params = o.q(
        dict(C=100, k=0.7, v_r=-60, v_theta=-40, eta=0, g=1, E_r=0, b=-2, tau_u=33.33, kappa=10)
    )
    derivatives = {
        f"{name}/v": (
            o.k * (o.v - o.v_r) * (o.v - o.v_theta)
            - o.u
            + o.I_ext
            + o.eta
            + o.g * o.s_in * (o.E_r - o.v)
        )
        / o.C,
        f"{name}/u": (o.b * (mean_v - o.v_r) - o.u) / o.tau_u + o.kappa * mean_spike,
    }
    if name == "ik_biexp_op":
        states.update(o.q(dict(x=0)))
        params.update(o.q(dict(tau_r=2, tau_d=6)))
        derivatives[f"{name}/s"] = -o.s / o.tau_d + o.x
        derivatives[f"{name}/x"] = -o.x / o.tau_r + o.spike
    else:
        params.update(o.q(dict(tau_s=6)))
        derivatives[f"{name}/s"] = -o.s / o.tau_s + o.spike
    algebraic = {}
    if glob:
        algebraic = {f"{name}/mean(v)": (o.v, "mean"), f"{name}/mean(spike)": (o.spike, "mean")}
    return Expected(states, params, o.q(dict(I_ext=0, spike=0, s_in=0)), derivatives, algebraic)


def expected_mackey_glass() -> Expected:
    o = Op("mackey_glass_op")
    past = S("@past0")  # x(t - tau): the model's one delayed read, past(x, tau)
    return Expected(
        states=o.q(dict(x=1.2)),
        params=o.q(dict(beta=0.2, gamma=0.1, n=10, tau=17)),
        inputs=o.q(dict(I_ext=0)),
        derivatives={
            "mackey_glass_op/x": o.beta * past / (1 + past**o.n) - o.gamma * o.x + o.I_ext
        },
    )


def expected_ou() -> Expected:
    o = Op("ou_op")
    return Expected(
        states=o.q(dict(x=0)),
        params=o.q(dict(mu=0, tau=10, sigma=1)),
        inputs=o.q(dict(I_ext=0)),
        derivatives={
            "ou_op/x": (o.mu - o.x) / o.tau + o.sigma * sympy.sqrt(2 / o.tau) * S("@xi:xi")
            + o.I_ext
        },
    )


# dot path -> (expected model, expected NodeModel name)
TABLE = {
    "rate_neurons.leaky_integrator.li_op": (expected_li_op, "li_op"),
    "rate_neurons.leaky_integrator.sigmoid_op": (expected_sigmoid_op, "sigmoid_op"),
    "rate_neurons.leaky_integrator.tanh_op": (expected_tanh_op, "tanh_op"),
    "rate_neurons.leaky_integrator.sigmoid": (lambda: expected_rate_node("sigmoid_op"), "sigmoid"),
    "rate_neurons.leaky_integrator.tanh": (lambda: expected_rate_node("tanh_op"), "tanh"),
    "spiking_neurons.lif.lif_op": (expected_lif_op, "lif_op"),
    "spiking_neurons.lif.lif": (expected_lif_op, "lif"),
    "spiking_neurons.qif.qif_op": (lambda: expected_qif("qif_op"), "qif_op"),
    "spiking_neurons.qif.qif_sfa_op": (lambda: expected_qif("qif_sfa_op"), "qif_sfa_op"),
    "spiking_neurons.qif.qif_reset_op": (lambda: expected_qif("qif_reset_op"), "qif_reset_op"),
    "spiking_neurons.qif.qif": (lambda: expected_qif("qif_op"), "qif"),
    "spiking_neurons.qif.qif_sfa": (lambda: expected_qif("qif_sfa_op"), "qif_sfa"),
    "spiking_neurons.ik.ik_op": (lambda: expected_ik("ik_op"), "ik_op"),
    "spiking_neurons.ik.iku_op": (lambda: expected_ik("iku_op"), "iku_op"),
    "spiking_neurons.ik.ik_biexp_op": (lambda: expected_ik("ik_biexp_op"), "ik_biexp_op"),
    "spiking_neurons.ik.ik": (lambda: expected_ik("ik_op"), "ik"),
    "spiking_neurons.ik.iku": (lambda: expected_ik("iku_op"), "iku"),
    "spiking_neurons.ik.ik_biexp": (lambda: expected_ik("ik_biexp_op"), "ik_biexp"),
    "rate_neurons.mackey_glass.mackey_glass_op": (expected_mackey_glass, "mackey_glass_op"),
    "rate_neurons.mackey_glass.mackey_glass": (expected_mackey_glass, "mackey_glass"),
    "rate_neurons.ornstein_uhlenbeck.ou_op": (expected_ou, "ou_op"),
    "rate_neurons.ornstein_uhlenbeck.ou": (expected_ou, "ou"),
}


def check(model: NodeModel, exp: Expected) -> None:
    assert model.initial_values == exp.states
    for symbol, state, scale, param in model.delays:  # the library's delays: past(x, tau)
        assert (symbol, state, scale, param) == ("@past0", model.states[0], 1.0,
                                                 model.states[0].split("/")[0] + "/tau")
    assert set(model.states) == set(exp.states)
    assert model.param_defaults == exp.params
    assert model.input_defaults == exp.inputs
    assert dict(model.links) == exp.links
    assert set(model.derivative_map) == set(exp.derivatives)
    for state, rhs in exp.derivatives.items():
        assert same(model.derivative_map[state], rhs), (state, model.derivative_map[state], rhs)
    got = {d.name: d for d in model.algebraic}
    assert set(got) == set(exp.algebraic)
    for name, (expr, reduce) in exp.algebraic.items():
        assert got[name].reduce == reduce
        assert same(got[name].expr, expr), (name, got[name].expr, expr)


@pytest.mark.parametrize("path", sorted(TABLE))
def test_builtin_template_matches_the_table(path):
    build, name = TABLE[path]
    template = load_template(PREFIX + path)
    model = compile_node(template)
    assert model.name == name
    check(model, build())


@pytest.mark.parametrize("prefix", ["model_templates.", "neuron_model_templates."])
def test_rectipy_prefix_gives_the_same_model(prefix):
    model = compile_node(load_template(prefix + "rate_neurons.leaky_integrator.tanh"))
    assert model == compile_node(load_template(PREFIX + "rate_neurons.leaky_integrator.tanh"))
    assert model.resolve("r_in") == "li_op/r_in"
    assert model.resolve("tanh_op/v") == "li_op/v"


def all_builtin_templates() -> list[str]:
    root = builtin_dir()
    found = []
    for file in sorted(root.rglob("*.y*ml")):
        dotted = ".".join(file.relative_to(root).with_suffix("").parts)
        found += [f"{PREFIX}{dotted}.{name}" for name in template_names(file)]
    return found


def test_the_library_holds_the_table_and_the_three_standard_models():
    names = set(all_builtin_templates())
    assert {PREFIX + p for p in TABLE} <= names
    for model in ("izhikevich", "adex", "theta"):
        assert any(n.rsplit(".", 1)[1] == model for n in names), model


@pytest.mark.parametrize("path", all_builtin_templates())
def test_every_builtin_template_compiles(path):
    template = load_template(path)
    if isinstance(template, CircuitTemplate):  # every node of the circuit compiles
        for node in flatten_circuit(template).nodes.values():
            assert compile_node(node).states
        return
    if isinstance(template, EdgeTemplate):  # a model per connection, with one output
        template = NodeTemplate(template.name, template.operators)
    model = compile_node(template)
    if isinstance(template, NodeTemplate):
        assert model.states, "a built-in neuron model has at least one state"
    assert model.outputs, "every built-in template has an output"
    known = {*model.states, *model.param_defaults, *model.input_defaults, *model.algebraic_names}
    known |= {d[0] for d in model.delays} | {f"@xi:{n}" for n in model.noises}
    exprs = [rhs for _, rhs in model.derivatives] + [d.expr for d in model.algebraic]
    for expr in exprs:
        assert {s.name for s in expr.free_symbols} <= known


def standard_model(path: str, op: str):
    """Derivatives of a standard model with the network inputs (spikes, coupling) at zero."""
    model = compile_node(load_template(PREFIX + path))
    zero = {S(f"{op}/{n}"): 0 for n in ("spike", "s_in")}
    return model, {k: v.subs(zero) for k, v in model.derivatives}


def test_izhikevich_is_the_2003_model():
    model, d = standard_model("spiking_neurons.izhikevich.izhikevich", "izhikevich_op")
    o = Op("izhikevich_op")
    assert same(d["izhikevich_op/v"], 0.04 * o.v**2 + 5 * o.v + 140 - o.u + o.I_ext)
    assert same(d["izhikevich_op/u"], o.a * (o.b * o.v - o.u))
    p = model.param_defaults
    assert (p["izhikevich_op/a"], p["izhikevich_op/b"], p["izhikevich_op/d"]) == (0.02, 0.2, 8.0)


def test_adex_is_brette_gerstner_2005():
    _, d = standard_model("spiking_neurons.adex.adex", "adex_op")
    o = Op("adex_op")
    dv = (
        -o.g_L * (o.v - o.E_L)
        + o.g_L * o.Delta_T * sympy.exp((o.v - o.v_T) / o.Delta_T)
        - o.w
        + o.I_ext
    ) / o.C
    assert same(d["adex_op/v"], dv)
    assert same(d["adex_op/w"], (o.a * (o.v - o.E_L) - o.w) / o.tau_w)


def test_theta_is_ermentrout_kopell():
    _, d = standard_model("spiking_neurons.theta.theta", "theta_op")
    o = Op("theta_op")
    c = sympy.cos(o.theta)
    assert same(d["theta_op/theta"], ((1 - c) + (1 + c) * (o.eta + o.I_ext)) / o.tau)
