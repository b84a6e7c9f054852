"""No code from names: hostile template, operator, variable names and node labels (issue 10.1).

A name that holds a line break is refused where it is written (TemplateError naming file and
template, NetworkError for a node label); a printable name full of quotes, backslashes, ``#`` and
Python text is accepted and reaches the generated kernels only through ``repr()`` in comments.
Every case checks that a sentinel file, which the payload would create, never appears.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import io
import os
import tokenize

import numpy as np
import pytest
import yaml

from rectinumba import Network, NodeTemplate, OperatorTemplate
from rectinumba.codegen.adjoint import BPTTSpec, render_bptt
from rectinumba.codegen.cuda_step import render_cuda
from rectinumba.codegen.step import render_network
from rectinumba.errors import NetworkError, TemplateError

LI_OP = "model_templates.rate_neurons.leaky_integrator.li_op"
DT, TAU = 0.1, 2.0


def payload(sentinel) -> str:
    """Python text that creates ``sentinel`` if it ever runs (no '/': template names refuse it)."""
    parts = str(sentinel).split(os.sep)
    return f"open(chr(47).join({parts!r}), 'w').write('x')"


def breaking_names(sentinel) -> dict[str, str]:
    """Names that would leave a comment line of generated source: each is refused."""
    code = payload(sentinel)
    return {
        "newline": f"leaky)\n{code}\nfor _ in ():\n #",
        "carriage_return": f"leaky)\r{code}\r#",
        "line_separator": f"leaky)\u2028{code}\u2028#",
        "next_line": f"leaky)\x85{code}\x85#",
        "nul": f"leaky\x00{code}",
        "form_feed": f"leaky\x0c{code}",
    }


def printable_name(sentinel) -> str:
    """A one-line name with quotes, backslashes, '#' and a payload: accepted, and inert."""
    return f"q\"'\\#'); {payload(sentinel)}; ('\\"


# ---- refused: YAML keys, operator lists, Python names, variable names, node labels ------------
@pytest.mark.parametrize("kind", sorted(breaking_names("x")))
def test_issue_reproducer_yaml_template_key_with_line_break_is_refused(kind, tmp_path):
    sentinel = tmp_path / "pwned"
    name = breaking_names(sentinel)[kind]
    file = tmp_path / "evil.yaml"
    file.write_text(yaml.safe_dump({name: {"base": "NodeTemplate", "operators": [LI_OP]}}))
    net = Network(DT)
    with pytest.raises(TemplateError, match=r"(?s)template name .* (line break|non-printable)"
                       r".*in file '.*evil\.yaml', template "):  # fmt: skip
        net.add_diffeq_node("li", str(file), N=3, input_var="I_ext", output_var="v")
    assert net.nodes == [] and not sentinel.exists()


@pytest.mark.parametrize("kind", sorted(breaking_names("x")))
def test_operator_key_with_line_break_in_an_operator_list_is_refused(kind, tmp_path):
    sentinel = tmp_path / "pwned"
    name = breaking_names(sentinel)[kind]
    file = tmp_path / "ops.yaml"
    doc = {
        name: {
            "base": "OperatorTemplate",
            "equations": "v' = -v/tau + I",
            "variables": {"v": "output(0.0)", "tau": TAU, "I": "input(0.0)"},
        },
        "node": {"base": "NodeTemplate", "operators": [f"ops.yaml/{name}"]},
    }
    file.write_text(yaml.safe_dump(doc))
    with pytest.raises(TemplateError, match=r"(?s)template name .*ops\.yaml"):
        Network(DT).add_diffeq_node("n", f"{file}/node", N=2, input_var="I", output_var="v")
    assert not sentinel.exists()


@pytest.mark.parametrize("kind", sorted(breaking_names("x")))
def test_python_template_names_and_node_labels_with_line_breaks_are_refused(kind, tmp_path):
    sentinel = tmp_path / "pwned"
    name = breaking_names(sentinel)[kind]
    variables = {"v": "output(0.0)", "tau": TAU, "I": "input(0.0)"}
    with pytest.raises(TemplateError, match=r"template name .* (line break|non-printable)"):
        OperatorTemplate(name, ["v' = -v/tau + I"], variables)
    op = OperatorTemplate("op", ["v' = -v/tau + I"], variables)
    with pytest.raises(TemplateError, match=r"template name .* (line break|non-printable)"):
        NodeTemplate(name, [op])
    net = Network(DT)
    with pytest.raises(NetworkError, match=r"node label .* (line break|non-printable)"):
        net.add_diffeq_node(name, NodeTemplate("n", [op]), N=2, input_var="I", output_var="v")
    with pytest.raises(NetworkError, match=r"node label .* (line break|non-printable)"):
        net.add_func_node(name, 2)
    assert net.nodes == [] and not sentinel.exists()


@pytest.mark.parametrize(
    "var", ["v\nimport os", "v\x00", "v'", 'v"', "v\\", "v#", "v\u2028x", "v)#"]
)
def test_variable_names_must_be_identifiers(var, tmp_path):
    file = tmp_path / "vars.yaml"
    doc = {"op": {"base": "OperatorTemplate", "equations": "v' = -v/tau",
                  "variables": {"v": "output(0.0)", "tau": 1.0, var: 2.0}}}  # fmt: skip
    file.write_text(yaml.safe_dump(doc))
    msg = r"(?s)variable name .* is not an identifier.*vars\.yaml"
    with pytest.raises(TemplateError, match=msg):
        Network(DT).add_diffeq_node("n", f"{file}/op", N=2, output_var="v")


# ---- accepted: printable hostile names, through run, forward, fit_bptt and every renderer -----
def hostile_network(tmp_path, sentinel) -> Network:
    """A leaky integrator whose template, operator and node label are all hostile names."""
    name = printable_name(sentinel)
    file = tmp_path / "hostile.yaml"
    doc = {
        name + " op": {
            "base": "OperatorTemplate",
            "equations": "v' = -v/tau + I",
            "variables": {"v": "output(0.0)", "tau": TAU, "I": "input(0.0)"},
        },
        name: {"base": "NodeTemplate", "operators": [f"hostile.yaml/{name} op"]},
    }
    file.write_text(yaml.safe_dump(doc))
    net = Network(DT)
    net.add_diffeq_node(name + " label", f"{file}/{name}", N=2, input_var="I", output_var="v",
                        train_params=["tau"])  # fmt: skip
    return net


def leaky_reference(x: np.ndarray, tau: float = TAU) -> np.ndarray:
    """Outputs (pre-update v) of v' = -v/tau + I by explicit Euler, a plain numpy loop."""
    v, out = np.zeros(x.shape[1]), []
    for row in x:
        out.append(v.copy())
        v = v + DT * (-v / tau + row)
    return np.array(out)


def code_tokens(source: str) -> str:
    """The source without its comments (what Python executes)."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(t.string for t in tokens if t.type != tokenize.COMMENT)


def test_printable_hostile_names_only_reach_generated_comments(tmp_path):
    """Step, CUDA (block and grid) and BPTT sources: the names appear in comments only, through
    repr(); the code itself never calls open and parses as Python."""
    sentinel = tmp_path / "pwned"
    net = hostile_network(tmp_path, sentinel)
    spec, _ = net._spec()
    name = printable_name(sentinel)
    trained = tuple(net.get_node(name + " label").train_params)
    bspec = BPTTSpec(spec, (trained,), (False,), ())
    sources = {
        "step": render_network(spec).source,
        "cuda block": render_cuda(spec, "block").source,
        "cuda grid": render_cuda(spec, "grid").source,
        "bptt": render_bptt(bspec).source,
    }
    for what, source in sources.items():
        tree = ast.parse(source)
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Name)}  # fmt: skip
        assert "open" not in calls and "chr" not in calls, what
        assert repr(name + " label") in source, what  # the label, through repr()
        assert repr(name) in source, what  # the template name, through repr()
        assert "pwned" not in code_tokens(source), what
    assert not sentinel.exists()


def test_renderers_stay_safe_for_names_that_skipped_validation(tmp_path):
    """Defence in depth: a label and a model name with line breaks (as if a future path let one
    through validation) still render to source whose code holds no payload."""
    sentinel = tmp_path / "pwned"
    net = hostile_network(tmp_path, sentinel)
    spec, _ = net._spec()
    evil = breaking_names(sentinel)["newline"]
    model = copy.copy(spec.nodes[0].model)
    model.name = evil
    node = dataclasses.replace(spec.nodes[0], label=evil, model=model)
    spec = dataclasses.replace(spec, nodes=(node,))
    trained = tuple(net.get_node(printable_name(sentinel) + " label").train_params)
    for source in (
        render_network(spec).source,
        render_cuda(spec, "block").source,
        render_bptt(BPTTSpec(spec, (trained,), (False,), ())).source,
    ):
        assert "pwned" not in code_tokens(source)
        assert all(line.isprintable() for line in source.splitlines())
    assert not sentinel.exists()


def test_printable_hostile_names_run_forward_and_train_correctly(tmp_path):
    sentinel = tmp_path / "pwned"
    net = hostile_network(tmp_path, sentinel)
    label = printable_name(sentinel) + " label"
    x = np.random.default_rng(0).standard_normal((20, 2))
    out = net.run(x, verbose=False)["out"]
    np.testing.assert_allclose(out, leaky_reference(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.forward(x[0]), leaky_reference(np.vstack([x, x[:1]]))[-1],
                               rtol=1e-12)  # fmt: skip
    net.reset()
    obs = net.fit_bptt(x, np.zeros((20, 2)), lr=0.0, update_steps=10, verbose=False)
    # lr = 0: the loss is the mse of the untrained outputs of each window
    ref = leaky_reference(x)
    np.testing.assert_allclose(obs["loss"], [np.mean(ref[:10] ** 2), np.mean(ref[10:] ** 2)],
                               rtol=1e-12)  # fmt: skip
    assert label in net.nodes and not sentinel.exists()
