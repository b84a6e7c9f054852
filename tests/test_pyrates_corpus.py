"""A PyRates-style corpus (tests/fixtures/templates/pyrates_corpus, written for these tests in
the layout and idioms of PyRates' ``model_templates/``): what rectinumba does with each template.

Every node template compiles (or fails with the documented message); circuit and edge
templates load as data. The theta-neuron mean field (complex state, the imaginary unit as a
complex parameter ``i``, a provably real rate ``r``, coupled to itself like PyRates' ``kmo_theta``
circuit) runs against a numpy complex Euler loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.equations import compile_node
from rectinumba.errors import EquationError, TemplateError
from rectinumba.templates import CircuitTemplate, EdgeTemplate, load_template, template_names

CORPUS = Path(__file__).parent / "fixtures" / "templates" / "pyrates_corpus"
FILES = sorted(p.relative_to(CORPUS) for p in CORPUS.rglob("*.yaml"))

#: node template -> what compiling it gives: "ok", or (error class, message pattern)
NODES = {
    "base_templates/li_node": "ok",
    "base_templates/nonlinear_li_node": "ok",
    "neural_mass_models/jansenrit/PC": "ok",
    "neural_mass_models/jansenrit/IN": "ok",
    "neural_mass_models/theta/theta_pop": "ok",
    "neural_mass_models/theta/conductance_pop": (
        TemplateError,
        r"unknown equation edit\(s\) \['variables'\][\s\S]*belongs beside 'equations:'",
    ),
    "neural_mass_models/wilsoncowan/exc_pop": "ok",
    "neural_mass_models/wilsoncowan/inh_pop": "ok",
    "oscillators/stuartlandau/sl_pop": "ok",
    "oscillators/stuartlandau/sl_burst_pop": "ok",
    "oscillators/vanderpol/vdp_pop": "ok",
    "oscillators/kuramoto/phase_pop": "ok",
    "oscillators/kuramoto/sin_pop": "ok",
    "oscillators/kuramoto/kmo_pop": "ok",
    "test_resources/legacy/pop_a": "ok",
    "test_resources/legacy/pop_sum": "ok",
    "test_resources/legacy/pop_pi": (EquationError, r"undefined variable 'PI'[\s\S]*write pi"),
    "test_resources/legacy/pop_leftover": (
        TemplateError,
        r"replace: the term 'u_in' occurs in no equation[\s\S]*PyRates ignored an edit",
    ),
    "test_resources/legacy/pop_missing_base": (
        TemplateError,
        r"unknown operator 'model_templates.base_templates.exp_op': template 'exp_op' not "
        r"found; the file defines \['li_op', 'sigmoid_op', 'alpha_op'",
    ),
}


@pytest.fixture(autouse=True)
def _in_the_corpus(monkeypatch):
    # PyRates' files name each other model_templates.<file>.<template>: after rectinumba's
    # built-in library, such a path resolves in the working directory
    monkeypatch.chdir(CORPUS)


def load(key: str):
    *folders, file, name = key.split("/")
    return load_template(str(Path("model_templates", *folders, f"{file}.yaml")) + f"/{name}")


@pytest.mark.nocompile
def test_every_template_of_the_corpus_is_accounted_for():
    import yaml

    nodes, others = [], []
    for rel in FILES:
        stem = str(rel.relative_to("model_templates").with_suffix(""))
        data = yaml.safe_load((CORPUS / rel).read_text())
        for name in template_names(CORPUS / rel):
            key, base = f"{stem}/{name}", data[name]["base"]
            if base == "NodeTemplate":
                nodes.append(key)
            elif base in ("CircuitTemplate", "EdgeTemplate"):
                assert isinstance(load(key), (CircuitTemplate, EdgeTemplate))
                others.append(key)
    assert sorted(nodes) == sorted(NODES)
    # circuits and edges (with operators) load as data; the circuit layer builds networks
    assert sorted(others) == [
        "neural_mass_models/jansenrit/JRC",
        "neural_mass_models/theta/kmo_theta",
        "oscillators/kuramoto/kmo_edge",
        "oscillators/kuramoto/kmo_mf",
        "oscillators/kuramoto/kmo_mf_2coupled",
        "oscillators/kuramoto/sin_edge",
        "oscillators/stuartlandau/sl",
    ]


@pytest.mark.nocompile
@pytest.mark.parametrize("key", sorted(NODES))
def test_node_templates_compile_or_say_why_not(key):
    expected = NODES[key]
    if expected == "ok":
        assert compile_node(load(key)).states
        return
    error, match = expected
    with pytest.raises(error, match=match):
        compile_node(load(key))


@pytest.mark.nocompile
def test_what_the_corpus_models_are():
    # a cross-file base, two synapse outputs summed: the same model as the built-in PC
    corpus_pc = compile_node(load("neural_mass_models/jansenrit/PC"))
    builtin_pc = compile_node(load_template("model_templates.neural_mass_models.jansenrit.PC"))
    assert corpus_pc.derivative_map == builtin_pc.derivative_map
    assert [(d.name, d.expr) for d in corpus_pc.algebraic] == [
        (d.name, d.expr) for d in builtin_pc.algebraic
    ]
    # the theta mean field: z and the imaginary unit i are complex, the rate r is real
    theta = compile_node(load("neural_mass_models/theta/theta_pop"))
    assert theta.complex_vars == ("theta_op/i", "theta_op/z")
    assert dict(theta.params)["theta_op/i"] == 1j
    # no input at all; an input linked to an output; the older {default: ...} form
    assert compile_node(load("oscillators/stuartlandau/sl_pop")).inputs == ()
    assert compile_node(load("oscillators/stuartlandau/sl_burst_pop")).links == (
        ("burst_op/x", "sl_op/x"),
    )
    assert compile_node(load("oscillators/kuramoto/kmo_pop")).complex_vars == (
        "kmo_op/i", "kmo_op/r", "kmo_op/s_ext", "kmo_op/s_in",
    )  # fmt: skip
    edge = load("oscillators/kuramoto/kmo_edge")
    assert edge.operators[0].variable_dict["s"].is_complex
    legacy = compile_node(load("test_resources/legacy/pop_sum"))
    sums = {d.name: str(d.expr) for d in legacy.algebraic}
    assert sums["op_in/u"] == "op_u/u + op_u2/u" and legacy.param_defaults["op_u2/c"] == 3.0


def theta_mean_field(z0, J, eta, delta, tau, I_ext, dt):
    """Euler loop of the theta mean field coupled to itself (s = J r): outputs r, final z."""
    z = np.array(z0, complex)
    outs = []
    for x in I_ext:
        r = ((1 - np.abs(z) ** 2) / (np.pi * tau * (1 + z + np.conj(z) + np.abs(z) ** 2))).real
        outs.append(r)
        s = J @ r
        z = z + dt * ((z + 1) ** 2 * (1j * (eta + x + s) - delta) - 1j * (z - 1) ** 2) / (2 * tau)
    return np.array(outs), z


def test_the_theta_mean_field_runs_against_numpy():
    J = np.diag([15.0, 5.0])
    net = Network(1e-3)
    net.add_diffeq_node("p", load("neural_mass_models/theta/theta_pop"), weights=J,
                        source_var="r", target_var="s", input_var="I_ext", output_var="r")
    T = 3000
    I_ext = np.zeros((T, 2))
    I_ext[1000:2000] = 3.0
    obs = net.run(I_ext, verbose=False)
    outs, z = theta_mean_field([-0.6 - 0.8j] * 2, J, -5.0, 1.0, 1.0, I_ext, 1e-3)
    assert obs["out"].dtype == np.float64
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(net.get_var("p", "z"), z, rtol=1e-10)
    assert (outs[1999] > 1.4 * outs[999]).all()  # the step input raised the rates
