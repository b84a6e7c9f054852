"""Template loading: paths, inheritance, edits, the built-in library and hostile YAML."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from rectinumba.errors import TemplateError
from rectinumba.templates import (
    CircuitTemplate,
    EdgeTemplate,
    NodeTemplate,
    OperatorTemplate,
    Variable,
    builtin_dir,
    edit_equations,
    equation_names,
    load_template,
    replace_term,
    template_names,
)

pytestmark = pytest.mark.nocompile

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATES = FIXTURES / "templates"


@pytest.fixture(autouse=True)
def _fixtures_on_path(monkeypatch):
    # dot paths "templates.file.template" resolve through sys.path (a namespace folder)
    monkeypatch.syspath_prepend(str(FIXTURES))


def kinds(template: OperatorTemplate) -> dict[str, tuple[str, float]]:
    return {name: (var.kind, var.default) for name, var in template.variables}


# ---------------------------------------------------------------------------------------------
# built-in library (the table of docs/guide/templates.rst)

P, I, O, V = "parameter", "input", "output", "variable"

LI_VARS = {
    "v": (O, 0.0),
    "tau": (P, 10.0),
    "k": (P, 1.0),
    "eta": (P, 0.0),
    "r_in": (I, 0.0),
    "I_ext": (I, 0.0),
}
QIF_VARS = {
    "s": (O, 0.0),
    "v": (V, -2.0),
    "tau": (P, 1.0),
    "k": (P, 1.0),
    "tau_s": (P, 1.0),
    "eta": (P, -5.0),
    "I_ext": (I, 0.0),
    "spike": (I, 0.0),
    "s_in": (I, 0.0),
}
IK_VARS = {
    "s": (O, 0.0),
    "v": (V, -60.0),
    "u": (V, 0.0),
    "C": (P, 100.0),
    "k": (P, 0.7),
    "v_r": (P, -60.0),
    "v_theta": (P, -40.0),
    "eta": (P, 0.0),
    "g": (P, 1.0),
    "E_r": (P, 0.0),
    "b": (P, -2.0),
    "tau_u": (P, 33.33),
    "kappa": (P, 10.0),
    "tau_s": (P, 6.0),
    "I_ext": (I, 0.0),
    "spike": (I, 0.0),
    "s_in": (I, 0.0),
}
IK_V = "v' = (k*(v-v_r)*(v-v_theta) - u + I_ext + eta + g*s_in*(E_r - v)) / C"
JR_RPO = {
    "V": (O, 0.0),
    "X": (V, 0.0),
    "h": (P, 3.25e-3),
    "tau": (P, 10e-3),
    "m_in": (I, 0.0),
}
JRC_EQUATIONS = [
    "d/dt * V_ein = X_ein",
    "d/dt * X_ein =  h_e*c/tau_e * m - V_ein/tau_e^2 - 2.*X_ein/tau_e",
    "d/dt * V_iin = X_iin",
    "d/dt * X_iin =  h_e*c/(ei_ratio*tau_e) * m - V_iin/tau_e^2 - 2.*X_iin/tau_e",
    "d/dt * V_e = X_e",
    "d/dt * X_e =  h_e/tau_e * (c*0.8*m_max*sigmoid(r*(V_ein-V_thr)) + c*m_in/io_ratio + u) "
    "- V_e/tau_e^2 - 2.*X_e/tau_e",
    "d/dt * V_i = X_i",
    "d/dt * X_i =  h_i*c/(ei_ratio*tau_i) * m_max*sigmoid(r*(V_iin-V_thr)) - V_i/tau_i^2 "
    "- 2.*X_i/tau_i",
    "m = m_max*sigmoid(r*(V_e - V_i - V_thr))",
]
JRC_VARS = {
    "m": (O, 0.0),
    "h_e": (P, 3.25e-3),
    "tau_e": (P, 10e-3),
    "h_i": (P, 22e-3),
    "tau_i": (P, 20e-3),
    **{name: (V, 0.0) for name in ("V_ein", "X_ein", "V_iin", "X_iin", "V_e", "X_e", "V_i", "X_i")},
    "m_in": (I, 0.0),
    "m_max": (P, 5.0),
    "r": (P, 560.0),
    "V_thr": (P, 6e-3),
    "c": (P, 135.0),
    "ei_ratio": (P, 4.0),
    "io_ratio": (P, 3.0),
    "u": (I, 220.0),
}
KMO_VARS = {
    "z": (O, 0.5 + 0.1j),
    "omega": (P, 1.0),
    "Delta": (P, 1.0),
    "s_in": (I, 0.0),
    "s_ext": (I, 0.0),
}
IKU_U = "u' = (b*(mean(v)-v_r) - u)/tau_u + kappa*mean(spike)"
SYN = {"I_ext": (I, 0.0), "spike": (I, 0.0), "s_in": (I, 0.0)}

BUILTIN_OPERATORS = {
    "rate_neurons.leaky_integrator.li_op": (["v' = -v/tau + k*r_in + I_ext + eta"], LI_VARS),
    "rate_neurons.leaky_integrator.sigmoid_op": (
        ["r = r_max / (1 + exp(s*(v0-v)))"],
        {"r": (O, 0.0), "r_max": (P, 1.0), "s": (P, 1.0), "v0": (P, 0.0), "v": (I, 0.0)},
    ),
    "rate_neurons.leaky_integrator.tanh_op": (["r = tanh(v)"], {"r": (O, 0.0), "v": (I, 0.0)}),
    "spiking_neurons.lif.lif_op": (
        ["v' = -v/tau + k*s_in + I_ext + eta", "s' = -s/tau_s + spike + s_ext"],
        {
            "v": (V, 0.0),
            "tau": (P, 10.0),
            "k": (P, 1.0),
            "eta": (P, 0.0),
            "I_ext": (I, 0.0),
            "s": (O, 0.0),
            "tau_s": (P, 0.5),
            "spike": (I, 0.0),
            "s_in": (I, 0.0),
            "s_ext": (I, 0.0),
        },
    ),
    "spiking_neurons.qif.qif_op": (
        ["v' = (v^2 + eta + I_ext)/tau + k*s_in", "s' = -s/tau_s + spike"],
        QIF_VARS,
    ),
    "spiking_neurons.qif.qif_sfa_op": (
        [
            "v' = (v^2 + eta - x + I_ext)/tau + k*s_in",
            "s' = -s/tau_s + spike",
            "x' = -x/tau_x + alpha*spike",
        ],
        {**QIF_VARS, "x": (V, 0.0), "alpha": (P, 1.0), "tau_x": (P, 10.0)},
    ),
    "spiking_neurons.qif.qif_reset_op": (
        ["v' = (v^2 + eta + I_ext)/tau + k*s_in - 2.0*reset*v", "s' = -s/tau_s + spike"],
        {**QIF_VARS, "reset": (I, 0.0)},
    ),
    "spiking_neurons.ik.ik_op": (
        [IK_V, "u' = (b*(v-v_r) - u)/tau_u + kappa*spike", "s' = -s/tau_s + spike"],
        IK_VARS,
    ),
    "spiking_neurons.ik.iku_op": ([IK_V, IKU_U, "s' = -s/tau_s + spike"], IK_VARS),
    "spiking_neurons.ik.ik_biexp_op": (
        [IK_V, IKU_U, "s' = -s/tau_d + x", "x' = -x/tau_r + spike"],
        {
            **{k: v for k, v in IK_VARS.items() if k != "tau_s"},
            "x": (V, 0.0),
            "tau_r": (P, 2.0),
            "tau_d": (P, 6.0),
        },
    ),
    "spiking_neurons.izhikevich.izhikevich_op": (
        [
            "v' = 0.04*v^2 + 5*v + 140 - u + I_ext + k*s_in",
            "u' = a*(b*v - u) + d*spike",
            "s' = -s/tau_s + spike",
        ],
        {
            "s": (O, 0.0),
            "v": (V, -65.0),
            "u": (V, -13.0),
            "a": (P, 0.02),
            "b": (P, 0.2),
            "d": (P, 8.0),
            "tau_s": (P, 5.0),
            "k": (P, 1.0),
            **SYN,
        },
    ),
    "spiking_neurons.adex.adex_op": (
        [
            "v' = (-g_L*(v-E_L) + g_L*Delta_T*exp((v-v_T)/Delta_T) - w + I_ext + k*s_in)/C",
            "w' = (a*(v-E_L) - w)/tau_w + b*spike",
            "s' = -s/tau_s + spike",
        ],
        {
            "s": (O, 0.0),
            "v": (V, -70.6),
            "w": (V, 0.0),
            "C": (P, 281.0),
            "g_L": (P, 30.0),
            "E_L": (P, -70.6),
            "v_T": (P, -50.4),
            "Delta_T": (P, 2.0),
            "a": (P, 4.0),
            "tau_w": (P, 144.0),
            "b": (P, 80.5),
            "tau_s": (P, 5.0),
            "k": (P, 1.0),
            **SYN,
        },
    ),
    "spiking_neurons.theta.theta_op": (
        [
            "theta' = ((1 - cos(theta)) + (1 + cos(theta))*(eta + I_ext + k*s_in))/tau",
            "s' = -s/tau_s + spike",
        ],
        {
            "s": (O, 0.0),
            "theta": (V, 0.0),
            "eta": (P, -1.0),
            "tau": (P, 1.0),
            "tau_s": (P, 1.0),
            "k": (P, 1.0),
            **SYN,
        },
    ),
    "neural_mass_models.qif.qif_op": (
        [
            "r' = (Delta/(pi*tau) + 2.0*r*v) / tau",
            "v' = (v^2 + eta + I_ext + tau*r_in - (pi*tau*r)^2) / tau",
        ],
        {
            "r": (O, 0.01),
            "v": (V, -2.0),
            "Delta": (P, 1.0),
            "tau": (P, 1.0),
            "eta": (P, -5.0),
            "I_ext": (I, 0.0),
            "r_in": (I, 0.0),
        },
    ),
    "plasticity.stdp.stdp_op": (
        [
            "w' = a_plus*x_pre*s_post - a_minus*x_post*s_pre",
            "x_pre' = -x_pre/tau_plus + s_pre",
            "x_post' = -x_post/tau_minus + s_post",
            "r_out = w*r_in",
        ],
        {
            "r_out": (O, 0.0),
            "w": (V, 0.5),
            "x_pre": (V, 0.0),
            "x_post": (V, 0.0),
            "a_plus": (P, 0.01),
            "a_minus": (P, 0.0105),
            "tau_plus": (P, 20.0),
            "tau_minus": (P, 20.0),
            "r_in": (I, 0.0),
            "s_pre": (I, 0.0),
            "s_post": (I, 0.0),
        },
    ),
    "neural_mass_models.synaptic_plasticity.tsodyks_op": (
        [
            "x' = (1-x)/tau_x - k*x*u*r_in",
            "u' = (U0-u)/tau_u + U0*(1-u)*r_in",
            "r_eff = r_in*x*u",
        ],
        {
            "r_eff": (O, 0.0),
            "x": (V, 1.0),
            "u": (V, 0.2),
            "tau_x": (P, 100.0),
            "tau_u": (P, 200.0),
            "k": (P, 1.0),
            "U0": (P, 0.2),
            "r_in": (I, 0.0),
        },
    ),
    "neural_mass_models.synaptic_plasticity.depression_op": (
        ["x' = (1-x)/tau_x - k*x*r_in", "r_eff = r_in*x"],
        {"r_eff": (O, 0.0), "x": (V, 1.0), "tau_x": (P, 100.0), "k": (P, 1.0), "r_in": (I, 0.0)},
    ),
    "neural_mass_models.synaptic_plasticity.facilitation_op": (
        ["u' = (U0-u)/tau_u - U0*(1-u)*r_in", "r_eff = r_in*u"],
        {"r_eff": (O, 0.0), "u": (V, 0.2), "tau_u": (P, 100.0), "U0": (P, 0.2), "r_in": (I, 0.0)},
    ),
    # the Jansen-Rit populations (PyRates' names; pro/V sums the synapses' outputs V)
    "neural_mass_models.jansenrit.rpo_e": (
        ["V' = X", "X' = h*m_in/tau - 2*X/tau - V/tau**2"],
        JR_RPO,
    ),
    "neural_mass_models.jansenrit.rpo_i": (
        ["V' = X", "X' = h*m_in/tau - 2*X/tau - V/tau**2"],
        {**JR_RPO, "h": (P, 22e-3), "tau": (P, 20e-3)},
    ),
    "neural_mass_models.jansenrit.rpo_e_in": (
        ["V' = X", "X' = h*(m_in + u)/tau - 2*X/tau - V/tau**2"],
        {**JR_RPO, "u": (I, 220.0)},
    ),
    "neural_mass_models.jansenrit.pro": (
        ["m = m_max / (1 + exp(s*(V_thr - V)))"],
        {"m": (O, 0.0), "m_max": (P, 5.0), "s": (P, 560.0), "V_thr": (P, 6e-3), "V": (I, 0.0)},
    ),
    "neural_mass_models.jansenrit.jrc_op": (JRC_EQUATIONS, JRC_VARS),
    # a model without input
    "oscillators.stuartlandau.sl_op": (
        ["x' = omega*z + x*(mu - x^2 - z^2)", "z' = -omega*x + z*(mu - x^2 - z^2)"],
        {"x": (O, 1.0), "z": (V, 0.0), "omega": (P, 1.0), "mu": (P, 1.0)},
    ),
    # complex states (the defaults compare equal to real ones: complexness is checked apart)
    "oscillators.kuramoto.kmo_op": (
        ["z' = z*(I*omega - Delta) - 0.5*(s_in + s_ext)"],
        KMO_VARS,
    ),
    "oscillators.kuramoto.kmo_mf_op": (
        ["z' = z*(I*omega - Delta) - 0.5*(K*(conj(z)*z^2 - z) + s_ext)", "R = abs(z)",
         "psi = angle(z)"],
        {**{k: v for k, v in KMO_VARS.items() if k != "s_in"}, "K": (P, 4.0), "R": (V, 0.0),
         "psi": (V, 0.0)},
    ),
    "rate_neurons.mackey_glass.mackey_glass_op": (
        ["x' = beta*x(t-tau)/(1 + x(t-tau)^n) - gamma*x + I_ext"],
        {"x": (O, 1.2), "beta": (P, 0.2), "gamma": (P, 0.1), "n": (P, 10.0), "tau": (P, 17.0),
         "I_ext": (I, 0.0)},
    ),
    "rate_neurons.ornstein_uhlenbeck.ou_op": (
        ["x' = (mu - x)/tau + sigma*sqrt(2/tau)*xi + I_ext"],
        {"x": (O, 0.0), "mu": (P, 0.0), "tau": (P, 10.0), "sigma": (P, 1.0), "I_ext": (I, 0.0)},
    ),
}

BUILTIN_NODES = {
    "rate_neurons.leaky_integrator.sigmoid": ["li_op", "sigmoid_op"],
    "rate_neurons.leaky_integrator.tanh": ["li_op", "tanh_op"],
    "spiking_neurons.lif.lif": ["lif_op"],
    "spiking_neurons.qif.qif": ["qif_op"],
    "spiking_neurons.qif.qif_sfa": ["qif_sfa_op"],
    "spiking_neurons.qif.qif_reset": ["qif_reset_op"],
    "spiking_neurons.ik.ik": ["ik_op"],
    "spiking_neurons.ik.iku": ["iku_op"],
    "spiking_neurons.ik.ik_biexp": ["ik_biexp_op"],
    "spiking_neurons.izhikevich.izhikevich": ["izhikevich_op"],
    "spiking_neurons.adex.adex": ["adex_op"],
    "spiking_neurons.theta.theta": ["theta_op"],
    "neural_mass_models.qif.qif_pop": ["qif_op"],
    "neural_mass_models.qif.qif_inh_pop": ["qif_inh_op"],
    "neural_mass_models.jansenrit.PC": ["rpo_e_in", "rpo_i", "pro"],
    "neural_mass_models.jansenrit.IN": ["rpo_e", "pro"],
    "neural_mass_models.jansenrit.jrc_pop": ["jrc_op"],
    "oscillators.stuartlandau.sl_pop": ["sl_op"],
    "oscillators.kuramoto.kmo_pop": ["kmo_op"],
    "oscillators.kuramoto.kmo_mf_pop": ["kmo_mf_op"],
    "rate_neurons.mackey_glass.mackey_glass": ["mackey_glass_op"],
    "rate_neurons.ornstein_uhlenbeck.ou": ["ou_op"],
}

#: edge templates (operators) and the operators they hold, as (equations, variables)
BUILTIN_EDGES = {
    "plasticity.stdp.stdp_edge": ["stdp_op"],
    "neural_mass_models.synaptic_plasticity.tsodyks_edge": ["tsodyks_op"],
    "neural_mass_models.synaptic_plasticity.depression_edge": ["depression_op"],
    "neural_mass_models.synaptic_plasticity.facilitation_edge": ["facilitation_op"],
}

#: circuits: nodes (label -> node template name) and edges (source, target, edge template, values)
_DEP = "depression_edge"
BUILTIN_CIRCUITS = {
    "neural_mass_models.qif.qif": (
        {"p": "qif_pop"},
        [("p/qif_op/r", "p/qif_op/r_in", None, {"weight": 15.0})],
    ),
    "neural_mass_models.qif.qif_sd": (
        {"p": "qif_pop"},
        [("p/qif_op/r", "p/qif_op/r_in", _DEP, {"weight": 15.0, "delay": 0.75, "spread": 0.3})],
    ),
    "neural_mass_models.qif.qif_tsodyks": (
        {"p": "qif_pop"},
        [("p/qif_op/r", "p/qif_op/r_in", "tsodyks_edge", {"weight": 15.0})],
    ),
    "neural_mass_models.qif.qif_ei": (
        {"e": "qif_pop", "i": "qif_inh_pop"},
        [
            ("e/qif_op/r", "e/qif_op/r_in", None, {"weight": 10.0}),
            ("e/qif_op/r", "i/qif_inh_op/r_in", None, {"weight": 20.0}),
            ("i/qif_inh_op/r", "e/qif_op/r_in", None, {"weight": -20.0, "delay": 2.0}),
            ("i/qif_inh_op/r", "i/qif_inh_op/r_in", None, {"weight": -5.0}),
        ],
    ),
    "neural_mass_models.jansenrit.JRC": (
        {"pc": "PC", "ein": "IN", "iin": "IN"},
        [
            ("pc/pro/m", "ein/rpo_e/m_in", None, {"weight": 135.0}),
            ("pc/pro/m", "iin/rpo_e/m_in", None, {"weight": 33.75}),
            ("ein/pro/m", "pc/rpo_e_in/m_in", None, {"weight": 108.0}),
            ("iin/pro/m", "pc/rpo_i/m_in", None, {"weight": -33.75}),
        ],
    ),
    "neural_mass_models.jansenrit.JRC2": ({"jrc": "jrc_pop"}, []),
    "neural_mass_models.jansenrit.JRC_2delaycoupled": (
        {},
        [
            ("jrc1/pc/pro/m", "jrc2/pc/rpo_e_in/m_in", None,
             {"weight": 20.0, "delay": 0.004, "spread": 0.001}),
            ("jrc2/pc/pro/m", "jrc1/pc/rpo_e_in/m_in", None,
             {"weight": 40.0, "delay": 0.004, "spread": 0.001}),
        ],
    ),
}

#: variables of the built-in library that hold complex values
BUILTIN_COMPLEX = {
    "oscillators.kuramoto.kmo_op": {"z", "s_in", "s_ext"},
    "oscillators.kuramoto.kmo_mf_op": {"z", "s_ext"},
}


@pytest.mark.parametrize("path", sorted(BUILTIN_OPERATORS))
def test_builtin_operator_matches_table(path):
    equations, variables = BUILTIN_OPERATORS[path]
    op = load_template("model_templates." + path)
    assert isinstance(op, OperatorTemplate)
    assert op.name == path.rsplit(".", 1)[1]
    assert list(op.equations) == equations
    assert kinds(op) == variables
    assert {n for n, v in op.variables if v.is_complex} == BUILTIN_COMPLEX.get(path, set())
    # RectiPy's prefix reaches the same built-in file
    assert load_template("neuron_model_templates." + path) == op


@pytest.mark.parametrize("path", sorted(BUILTIN_NODES))
def test_builtin_node_operators(path):
    node = NodeTemplate.from_yaml("model_templates." + path)
    assert [op.name for op in node.operators] == BUILTIN_NODES[path]
    for op in node.operators:
        file = path.rsplit(".", 1)[0]
        assert op == load_template(f"model_templates.{file}.{op.name}")


@pytest.mark.parametrize("path", sorted(BUILTIN_EDGES))
def test_builtin_edge_templates(path):
    edge = load_template("model_templates." + path)
    assert isinstance(edge, EdgeTemplate)
    assert [op.name for op in edge.operators] == BUILTIN_EDGES[path]


@pytest.mark.parametrize("path", sorted(BUILTIN_CIRCUITS))
def test_builtin_circuits(path):
    nodes, edges = BUILTIN_CIRCUITS[path]
    circuit = CircuitTemplate.from_yaml("model_templates." + path)
    assert {label: node.name for label, node in circuit.nodes} == nodes
    got = [
        (e.source, e.target, e.template.name if e.template else None, e.value_dict)
        for e in circuit.edges
    ]
    assert got == edges


def test_builtin_library_lists_exactly_the_table():
    root = builtin_dir()
    files = sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))
    assert files == [
        "neural_mass_models/jansenrit",
        "neural_mass_models/qif",
        "neural_mass_models/synaptic_plasticity",
        "oscillators/kuramoto",
        "oscillators/stuartlandau",
        "plasticity/stdp",
        "rate_neurons/leaky_integrator",
        "rate_neurons/mackey_glass",
        "rate_neurons/ornstein_uhlenbeck",
        "spiking_neurons/adex",
        "spiking_neurons/ik",
        "spiking_neurons/izhikevich",
        "spiking_neurons/lif",
        "spiking_neurons/qif",
        "spiking_neurons/theta",
    ]
    listed = set(BUILTIN_OPERATORS) | set(BUILTIN_NODES) | set(BUILTIN_EDGES)
    listed |= set(BUILTIN_CIRCUITS) | {"neural_mass_models.qif.qif_inh_op"}
    for file in files:
        dotted = file.replace("/", ".")
        for name in template_names(root / f"{file}.yaml"):
            assert f"{dotted}.{name}" in listed


@pytest.mark.parametrize("model", ["izhikevich", "adex", "theta"])
def test_standard_models_document_every_parameter(model):
    text = (builtin_dir() / "spiking_neurons" / f"{model}.yaml").read_text()
    op = load_template(f"model_templates.spiking_neurons.{model}.{model}_op")
    for name, var in op.variables:
        line = next(ln for ln in text.splitlines() if re.match(rf"\s+{name}:", ln))
        comment = line.split("#", 1)[1].strip()
        assert len(comment) > 8, (name, comment)
        if var.kind == "parameter":
            assert "(" in comment, f"{name}: unit missing in {comment!r}"


def test_builtin_path_forms_agree():
    dotted = load_template("model_templates.rate_neurons.leaky_integrator.li_op")
    slash = load_template(str(builtin_dir() / "rate_neurons" / "leaky_integrator.li_op"))
    yaml_slash = load_template(str(builtin_dir() / "rate_neurons" / "leaky_integrator.yaml/li_op"))
    assert dotted == slash == yaml_slash
    pkg = load_template("rectinumba.model_templates.rate_neurons.leaky_integrator.li_op")
    assert pkg == dotted


# ---------------------------------------------------------------------------------------------
# whole-term replace and edits


@pytest.mark.parametrize(
    "equation, old, new, expected",
    [
        ("v' = -v/tau_v + k*v0 + I_in", "v", "x", "x' = -x/tau_v + k*v0 + I_in"),
        (
            "d/dt * v = (v)^2 + 1.v + v_v",
            "v",
            "(y - E)",
            "d/dt * (y - E) = ((y - E))^2 + 1.v + v_v",
        ),
        ("r = eta+eta2*eta", "eta", "eta - x", "r = eta - x+eta2*eta - x"),
        (
            "u' = (b*(v-v_r) - u)/tau_u",
            "b*(v-v_r)",
            "b*(mean(v)-v_r)",
            "u' = (b*(mean(v)-v_r) - u)/tau_u",
        ),
        ("s' = -s/tau_s + spike", "-s/tau_s + spike", "-s/tau_d + x", "s' = -s/tau_d + x"),
        ("a = ab + ba + b", "b", "c", "a = ab + ba + c"),
        ("x = 1e-3*e + e1", "e", "f", "x = 1e-3*f + e1"),
    ],
)
def test_replace_term_whole_terms_only(equation, old, new, expected):
    assert replace_term(equation, old, new) == expected


def test_replace_does_not_rescan_its_replacement():
    assert replace_term("y = x + z", "x", "x*x") == "y = x*x + z"


def test_equation_names_skip_exponents():
    assert equation_names("v' = -v/tau + 1e-3*k + 2.5E2") == {"v", "tau", "k"}


def test_edit_equations_all_edits():
    eqs = ("x' = -x + a", "y = 2*x")
    assert edit_equations(eqs, "z = 1") == ("z = 1",)
    assert edit_equations(eqs, ["z = 1", "w = 2"]) == ("z = 1", "w = 2")
    assert edit_equations(eqs, {"prepend": "0 +"}) == ("0 + x' = -x + a", "0 + y = 2*x")
    assert edit_equations(eqs, {"prepend": {"y": "#"}}) == ("x' = -x + a", "# y = 2*x")
    assert edit_equations(eqs, {"append": {"x": "+ b"}, "remove": " + a"}) == (
        "x' = -x + b",
        "y = 2*x",
    )
    assert edit_equations(eqs, {"remove": ["y = 2*x"], "add": "z = x"}) == ("x' = -x + a", "z = x")
    with pytest.raises(TemplateError, match=r"unknown equation edit\(s\) \['rename'\]"):
        edit_equations(eqs, {"rename": {"x": "y"}})
    with pytest.raises(TemplateError, match="append: no equation defines 'q'"):
        edit_equations(eqs, {"append": {"q": "+ 1"}})


def test_fixture_edits_replace():
    op = load_template("templates.edits.replaced_op")
    assert op.equations == (
        "v' = -v/tau_m + a*(v0 - E) + I_ext",
        "q' = -q/tau_u + v",
        "y = v + q",
    )
    assert kinds(op) == {
        "v": (O, 0.0),
        "y": (V, 0.0),
        "tau_u": (P, 2.0),
        "a": (P, 1.0),
        "v0": (P, 0.5),
        "I_ext": (I, 0.0),
        "E": (P, -1.0),
        "tau_m": (P, 3.0),
        "q": (V, 0.25),
    }


def test_fixture_edits_remove_append_add():
    removed = load_template("templates.edits.removed_op")
    assert removed.equations == ("v' = -v/tau + I_ext", "u' = -u/tau_u + v")
    assert set(removed.variable_dict) == {"v", "u", "tau", "I_ext", "tau_u"}
    appended = load_template("templates.edits.appended_op")
    assert appended.equations == (
        "v' = -v/tau + a*v0 + I_ext + g",
        "u' = -u/tau_u + v + g",
        "z = v",
    )
    assert appended.variable_dict["g"] == Variable("parameter", 0.1)
    assert "y" not in appended.variable_dict
    targeted = load_template("templates.edits.targeted_op")
    assert targeted.equations[1] == "u' = -u/tau_u + v + I_u"
    assert targeted.variable_dict["I_u"] == Variable("input", 0.0)
    replaced = load_template("templates.edits.replaced_list_op")
    assert replaced.equations == ("v' = -v/tau",)
    assert set(replaced.variable_dict) == {"v", "tau"}


# ---------------------------------------------------------------------------------------------
# inheritance, paths, aliases, numeric strings


def test_inheritance_chain_across_files_by_slash_path():
    op = load_template(str(TEMPLATES / "sub" / "child.by_slash"))
    assert op.name == "by_slash"
    assert op.equations == ("x' = -x/tau_v + k*v0 + I_in", "w' = -w/tau_w + x")
    assert kinds(op) == {
        "I_in": (I, 0.0),
        "k": (P, 2.0),
        "v0": (P, 0.25),
        "tau_v": (P, 0.01),
        "w": (V, -10.0),
        "tau_w": (P, 5.0),
        "x": (O, 3.0),
    }
    assert "v" not in op.variable_dict  # replaced away, so dropped
    assert op.path == str((TEMPLATES / "sub" / "child.yaml").resolve())


def test_three_level_chain_with_remove():
    op = load_template("templates.sub.child.grandchild")
    assert op.equations == ("x' = -x/tau_v + k*v0", "w' = -w/tau_w + x")
    assert "I_in" not in op.variable_dict
    assert op.variable_dict["tau_w"] == Variable("parameter", 7.0)


def test_dot_path_base_kind_change_and_numeric_string():
    op = load_template("templates.sub.child.by_dot")
    assert op.equations == ("v' = -v/tau_v + k*v0 + I_in",)
    assert op.variable_dict["v"] == Variable("variable", 0.5)
    assert op.variable_dict["v0"].default == pytest.approx(0.01)
    # the YAML 1.2 float 10e-3 behind an anchor is read as a number
    assert op.variable_dict["tau_v"] == Variable("parameter", 0.01)
    parent = load_template("templates.base_ops.decay_op")
    assert parent.variable_dict["v"] == Variable("output", 1.5)


def test_slash_path_with_yaml_and_template_name():
    op = load_template("templates.sub.child.by_slash_yaml")
    assert op.equations == ("r = tanh(v)",)
    assert op.name == "by_slash_yaml"


def test_relative_to_and_working_directory(monkeypatch, tmp_path):
    child = TEMPLATES / "sub" / "child.yaml"
    a = load_template("by_slash", relative_to=str(child))
    b = load_template("../base_ops.decay2_op", relative_to=str(child))
    assert a.name == "by_slash" and b.name == "decay2_op"
    monkeypatch.chdir(TEMPLATES)
    assert load_template("sub/child.by_dot") == load_template("templates.sub.child.by_dot")
    assert load_template("base_ops.yaml/rate_op") == load_template("./base_ops.rate_op")
    assert load_template("base_ops.yaml.rate_op").name == "rate_op"
    assert load_template("base_ops.decay_op").name == "decay_op"  # one dot: file in cwd
    with pytest.raises(TemplateError, match="defines 4 templates"):
        load_template("base_ops.yaml")


def test_single_template_file_by_file_path(tmp_path):
    (tmp_path / "one.yml").write_text("only:\n  base: OperatorTemplate\n  equations: x = 1\n")
    op = load_template(str(tmp_path / "one.yml"))
    assert op.name == "only" and op.equations == ("x = 1",)


def test_cache_rereads_changed_file(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("op:\n  base: OperatorTemplate\n  equations: x = a\n  variables: {a: 1.0}\n")
    assert load_template(f"{tmp_path}/m.op").variable_dict["a"].default == 1.0
    f.write_text("op:\n  base: OperatorTemplate\n  equations: x = a\n  variables: {a: 2.0}\n")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_template(f"{tmp_path}/m.op").variable_dict["a"].default == 2.0


def test_node_mapping_form_and_aliases():
    node = load_template("templates.nodes.mapped")
    assert isinstance(node, NodeTemplate)
    assert [op.name for op in node.operators] == ["decay_op", "lin_op", "rate_op"]
    decay, lin, rate = node.operators
    assert decay.variable_dict["tau_v"].default == 1.0 and decay.variable_dict["k"].default == 0.5
    assert decay.equations == ("v' = -v/tau_v + k*v0 + I_in",)
    assert lin.equations == ("y = c*x + 1",) and lin.variable_dict["c"].default == 3.0
    assert rate == load_template("templates.base_ops.rate_op")


def test_node_inheritance_replaces_operator_by_name():
    parent = load_template("templates.nodes.list_node")
    child = load_template("templates.nodes.child_node")
    assert [op.name for op in child.operators] == ["decay_op", "lin_op"]
    assert child.operators[0] == parent.operators[0]
    assert parent.operators[1].variable_dict["c"].default == 2.0
    assert child.operators[1].variable_dict["c"].default == 5.0


def test_edge_and_circuit_templates():
    edge = load_template("templates.nodes.plain_edge")
    assert isinstance(edge, EdgeTemplate) and [op.name for op in edge.operators] == ["edge_op"]
    assert EdgeTemplate.from_yaml("templates.nodes.empty_edge").operators == ()
    circuit = CircuitTemplate.from_yaml("templates.nodes.circuit")
    assert list(circuit.node_dict) == ["p1", "p2"]
    assert circuit.node_dict["p2"] == load_template("templates.nodes.mapped")
    first, second = circuit.edges
    assert (first.source, first.target, first.template) == (
        "p1/decay_op/v",
        "p2/decay_op/I_in",
        edge,
    )
    assert first.value_dict == {"weight": 0.5, "delay": 2}
    assert second.template is None and second.value_dict == {"weight": -1.0}
    bigger = load_template("templates.nodes.bigger_circuit")
    assert list(bigger.node_dict) == ["p1", "p2", "p3"]
    assert len(bigger.edges) == 3 and bigger.edges[2].source == "p3/lin_op/y"


def test_from_yaml_checks_the_class():
    with pytest.raises(TemplateError, match="is a NodeTemplate, not an OperatorTemplate"):
        OperatorTemplate.from_yaml("templates.base_ops.node_ab")
    with pytest.raises(TemplateError, match="is a OperatorTemplate, not a NodeTemplate"):
        NodeTemplate.from_yaml("templates.base_ops.rate_op")
    with pytest.raises(TemplateError, match="is a EdgeTemplate, not a NodeTemplate"):
        NodeTemplate.from_yaml("templates.nodes.plain_edge")


# ---------------------------------------------------------------------------------------------
# Python API


def test_python_api_construction():
    op = OperatorTemplate(
        "op", "x' = -x/tau + I", {"x": "variable(1)", "tau": "10e-3", "I": "input"}
    )
    assert op.equations == ("x' = -x/tau + I",)
    assert kinds(op) == {"x": (V, 1.0), "tau": (P, 0.01), "I": (I, 0.0)}
    same = OperatorTemplate(
        "op",
        ["x' = -x/tau + I"],
        [("x", Variable("variable", 1.0)), ("tau", 0.01), ("I", "input(0)")],
    )
    assert op == same and hash(op) == hash(same)
    node = NodeTemplate("n", {op: {"tau": 2.0}})
    assert node.operators[0].variable_dict["tau"].default == 2.0
    node2 = NodeTemplate("n", {op: {"equations": {"replace": {"I": "I + 1"}}}})
    assert node2.operators[0].equations == ("x' = -x/tau + I + 1",)
    assert NodeTemplate("n", [op]).operators == (op,)
    child = op.update(name="child", variables={"x": "output(0)"}, equations={"add": "y = x"})
    assert child.equations == ("x' = -x/tau + I", "y = x") and child.variable_dict["x"].kind == O
    circuit = CircuitTemplate("c", {"a": node}, [("a/op/x", "a/op/I", None, {"weight": "2"})])
    assert circuit.edges[0].value_dict == {"weight": 2.0}


def test_python_api_errors():
    op = OperatorTemplate("op", "x = a", {"x": "output(0)", "a": 1.0})
    with pytest.raises(TemplateError, match="appear more than once"):
        NodeTemplate("n", [op, op])
    with pytest.raises(TemplateError, match="at least one operator"):
        NodeTemplate("n", [])
    with pytest.raises(TemplateError, match="unknown key\\(s\\) \\['tau'\\]"):
        NodeTemplate("n", {op: {"variables": {"a": 2.0}, "tau": 1.0}})
    with pytest.raises(TemplateError, match="variable name 'x y' is not an identifier"):
        OperatorTemplate("op", "x = 1", {"x y": 1.0})
    with pytest.raises(TemplateError, match="edge endpoint 'b/op/x' names no node"):
        CircuitTemplate("c", {"a": NodeTemplate("n", [op])}, [("a/op/x", "b/op/x")])


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    "path, pattern",
    [
        ("templates.no_such_file.op", r"template file not found for 'templates.no_such_file.op'"),
        ("templates.base_ops.no_op", r"template 'no_op' not found; the file defines \[.*decay_op"),
        ("templates.base_ops.aliases", r"template 'aliases' not found"),
        (
            "templates.cycles.a_op",
            r"cyclic base: cycles.yaml:a_op -> cycles.yaml:b_op -> "
            r"cycles.yaml:c_op -> cycles.yaml:a_op",
        ),
        ("templates.cycles.self_op", r"cyclic base: cycles.yaml:self_op -> cycles.yaml:self_op"),
        (
            "templates.cycles.to_other",
            r"cyclic base: cycles.yaml:to_other -> "
            r"cycles_other.yaml:back -> cycles.yaml:to_other",
        ),
        ("templates.broken.no_base", r"has no 'base'(.|\n)*template 'no_base'"),
        ("templates.broken.not_a_mapping", r"must be a mapping with a 'base' key"),
        ("templates.broken.unknown_base", r"unknown base 'nowhere.missing_file.op'"),
        (
            "templates.broken.missing_in_file",
            r"unknown base 'base_ops.no_such_op': template "
            r"'no_such_op' not found",
        ),
        (
            "templates.broken.bad_variable",
            r"cannot read variable declaration 'ten'"
            r"(.|\n)*broken.yaml(.|\n)*template 'bad_variable', variable 'tau'",
        ),
        ("templates.broken.typo_key", r"unknown key\(s\) \['equation'\]"),
        ("templates.broken.edits_without_parent", r"edits \{add, replace, ...\} need a base"),
        ("templates.broken.bad_edit", r"unknown equation edit\(s\) \['rename'\]"),
        ("templates.broken.node_of_node", r"operator 'base_ops.node_ab' is a NodeTemplate"),
        ("templates.broken.bad_circuit_edge", r"edge endpoint 'p9/decay_op/I_in' names no node"),
        ("no_dots_here", r"bare template name"),
        ("nowhere/file.op", r"template file not found for 'nowhere/file.op'"),
        ("nowhere/file", r"cannot read template path"),
        ("", r"non-empty string"),
    ],
)
def test_template_errors(path, pattern):
    with pytest.raises(TemplateError, match=pattern):
        load_template(path)


def test_error_names_the_file():
    with pytest.raises(TemplateError, match=r"file '.*broken\.yaml'"):
        load_template("templates.broken.unknown_base")


# ---------------------------------------------------------------------------------------------
# hostile templates: refused, nothing executed

HOSTILE = {
    "python_tag_value": """
op:
  base: OperatorTemplate
  equations: "x = a"
  variables:
    x: output(0)
    a: !!python/object/apply:os.system ["touch {sentinel}"]
""",
    "python_tag_top": '!!python/object/apply:os.system ["touch {sentinel}"]\n',
    "python_name_tag": "op: !!python/name:os.system\n",
    "python_new_tag": """
op:
  base: OperatorTemplate
  equations: !!python/object/new:subprocess.Popen [["touch", "{sentinel}"]]
""",
    "code_in_value": """
op:
  base: OperatorTemplate
  equations: "x = a"
  variables:
    x: output(0)
    a: "__import__('os').system('touch {sentinel}')"
""",
    "code_in_default": """
op:
  base: OperatorTemplate
  equations: "x' = -x"
  variables:
    x: "variable(__import__('os').system('touch {sentinel}'))"
""",
    "code_in_base": """
op:
  base: "__import__('os').system('touch {sentinel}')"
""",
    "code_in_base_dotted": """
op:
  base: "__import__('os').system('id')"
""",
    "module_as_base": """
op:
  base: os.system
""",
    "code_in_operator_path": """
n:
  base: NodeTemplate
  operators: ["exec('open(\\"{sentinel}\\", \\"w\\")')"]
""",
    "code_in_variable_name": """
op:
  base: OperatorTemplate
  equations: "x = 1"
  variables:
    "__import__('os').system('touch {sentinel}')": 1.0
""",
    "tag_in_node_changes": """
lin:
  base: OperatorTemplate
  equations: "y = c"
  variables: {{y: output(0), c: 1.0}}
n:
  base: NodeTemplate
  operators:
    lin: !!python/object/apply:os.system ["touch {sentinel}"]
""",
    "tag_in_replace": """
op:
  base: model_templates.rate_neurons.leaky_integrator.li_op
  equations:
    replace: !!python/object/apply:os.system ["touch {sentinel}"]
""",
    "non_yaml_base": """
op:
  base: /etc/passwd
""",
    "nested_alias_bomb": """
a: &a ["x = 1", "x = 1"]
b: &b [*a, *a, *a, *a]
c: &c [*b, *b, *b, *b]
d: &d [*c, *c, *c, *c]
op:
  base: OperatorTemplate
  equations: [*d, *d, *d, *d]
""",
    "bytes_value": """
op:
  base: OperatorTemplate
  equations: "x = a"
  variables:
    x: output(0)
    a: !!binary aW1wb3J0IG9z
""",
}

HOSTILE_MESSAGES = {
    "python_tag_value": "refused YAML construct",
    "python_tag_top": "refused YAML construct",
    "python_name_tag": "refused YAML construct",
    "python_new_tag": "refused YAML construct",
    "code_in_value": "cannot read variable declaration",
    "code_in_default": "cannot read variable declaration",
    "code_in_base": "unknown base .__import__",
    "code_in_base_dotted": "unknown base .__import__.*is not a template path",
    "module_as_base": "unknown base 'os.system': template file not found",
    "code_in_operator_path": "unknown operator",
    "code_in_variable_name": "is not an identifier",
    "tag_in_node_changes": "refused YAML construct",
    "tag_in_replace": "refused YAML construct",
    "non_yaml_base": "unknown base '/etc/passwd': cannot read template path",
    "nested_alias_bomb": "equations must be strings",
    "bytes_value": "cannot read variable declaration",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_templates_are_refused(case, tmp_path, monkeypatch):
    sentinel = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    file = tmp_path / f"{case}.yaml"
    file.write_text(HOSTILE[case].format(sentinel=sentinel))
    name = "n" if "operator" in case or "node" in case else "op"
    with pytest.raises(TemplateError, match=HOSTILE_MESSAGES[case]) as info:
        load_template(f"{case}.{name}")
    assert f"{case}.yaml" in str(info.value)
    assert not sentinel.exists()


def test_yaml_python_tag_error_names_the_file(tmp_path):
    file = tmp_path / "tagged.yaml"
    file.write_text(HOSTILE["python_tag_value"].format(sentinel=tmp_path / "pwned"))
    with pytest.raises(TemplateError, match=r"file '.*tagged\.yaml'(.|\n)*python tags"):
        load_template(str(tmp_path / "tagged.op"))
    assert not (tmp_path / "pwned").exists()


def test_dot_path_runs_no_package_code(tmp_path, monkeypatch):
    # a package whose __init__ would leave a sentinel: resolving a dot path through it must not
    # import it (the top-level spec is found with find_spec, sub-folders on disk)
    sentinel = tmp_path / "pwned"
    pkg = tmp_path / "evilpkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    (pkg / "sub" / "__init__.py").write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    (pkg / "sub" / "lib.yml").write_text(
        "op:\n  base: OperatorTemplate\n  equations: y = 2*x\n"
        "  variables: {y: output(0), x: input(0)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    op = load_template("evilpkg.sub.lib.op")
    assert op.equations == ("y = 2*x",) and op.variable_dict["x"] == Variable("input", 0.0)
    assert not sentinel.exists()
    assert "evilpkg" not in sys.modules and "evilpkg.sub" not in sys.modules


# ---------------------------------------------------------------------------------------------
# review R1: typos in edits and overrides, Unicode names, where errors point


def test_unicode_variable_names_survive_inheritance_and_replace():
    parent = OperatorTemplate(
        "p", "v' = -v/τ + k*r_in", {"v": "output(0)", "τ": 2.0, "k": 1.0, "r_in": "input"}
    )
    child = parent.update(name="c", variables={"k": 3.0})
    # τ was dropped as "used by no equation" (the scan knew only ASCII names)
    assert child.variable_dict["τ"] == Variable("parameter", 2.0)
    assert equation_names("x = vτ + 1e-3*w") == {"x", "vτ", "w"}
    assert replace_term("x = vτ + v", "v", "u") == "x = vτ + u"


@pytest.mark.parametrize(
    "edits, match",
    [
        ({"replace": {"k * r_in": "k*s_in"}}, r"replace: the term 'k \* r_in' occurs in no"),
        ({"replace": {"tua": "tau_m"}}, r"replace: the term 'tua' occurs in no equation"),
        ({"remove": "+ etaa"}, r"remove: the term '\+ etaa' occurs in no equation"),
    ],
)
def test_edit_of_a_term_that_occurs_nowhere_is_an_error(edits, match):
    # a typo used to leave the equations unedited without a word
    with pytest.raises(TemplateError, match=match):
        edit_equations(("v' = -v/tau + k*r_in + eta",), edits, template="t")


def test_override_of_an_unknown_variable_is_an_error():
    li = OperatorTemplate("li", "v' = -v/tau", {"v": "output(0)", "tau": 1.0})
    with pytest.raises(TemplateError, match=r"variable\(s\) \['tua'\] of operator 'li' are used"):
        NodeTemplate("n", {li: {"tua": 5.0}})
    with pytest.raises(TemplateError, match=r"\['tua'\] of operator 'li' are used by no equation"):
        li.update(name="c", variables={"tua": 5.0})
    # a parent's variable that an edit leaves unused is still dropped silently (lif_op, r_in)
    assert "tau" not in li.update(equations={"replace": {"/tau": ""}}).variable_dict
    assert li.update(variables={"w": 1.0}, equations={"add": "x = w"}).variable_dict["w"]


def test_node_override_errors_name_the_node_file_and_template(tmp_path):
    from rectinumba.equations import compile_node
    from rectinumba.errors import EquationError

    f = tmp_path / "over.yaml"
    f.write_text(
        "bad_value:\n  base: NodeTemplate\n  operators:\n"
        "    model_templates.rate_neurons.leaky_integrator.li_op: {tau: '1e-3x'}\n"
        "bad_eq:\n  base: NodeTemplate\n  operators:\n"
        "    model_templates.rate_neurons.leaky_integrator.li_op:\n"
        "      equations: {replace: {eta: 'eta + nope'}}\n"
    )
    with pytest.raises(TemplateError, match="changes to operator 'li_op'") as err:
        load_template(f"{f}/bad_value")
    assert err.value.context["file"] == str(f.resolve())
    assert err.value.context["template"] == "bad_value"
    assert err.value.context["variable"] == "tau"
    node = load_template(f"{f}/bad_eq")
    with pytest.raises(EquationError, match="undefined variable 'nope'") as err:
        compile_node(node)
    # used to name the built-in library's file, where the user wrote nothing wrong
    assert err.value.context["file"] == str(f.resolve())


def test_child_node_changes_its_base_operator_by_bare_name(tmp_path):
    f = tmp_path / "child.yaml"
    f.write_text(
        "fast:\n  base: model_templates.rate_neurons.leaky_integrator.tanh\n"
        "  operators:\n    li_op: {tau: 5.0}\n"
    )
    node = load_template(f"{f}/fast")
    assert [op.name for op in node.operators] == ["li_op", "tanh_op"]
    assert node.operators[0].variable_dict["tau"] == Variable("parameter", 5.0)
    assert node.operators[1] == load_template(
        "model_templates.rate_neurons.leaky_integrator.tanh_op"
    )
    # a bare name that is neither in the file nor an operator of the base stays an error
    f.write_text(
        "fast:\n  base: model_templates.rate_neurons.leaky_integrator.tanh\n"
        "  operators:\n    lif_op: {tau: 5.0}\n"
    )
    with pytest.raises(TemplateError, match="unknown operator 'lif_op'"):
        load_template(f"{f}/fast")
