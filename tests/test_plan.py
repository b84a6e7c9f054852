"""The shared step plan and the update rules, read as data and as generated text (nothing is
compiled here): argument table, names, storage, the renderers' use of the plan, update rules."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest
import sympy

from rectinumba import Network
from rectinumba.codegen.adjoint import BPTTSpec, render_bptt
from rectinumba.codegen.cuda_step import render_cuda
from rectinumba.codegen.plan import CPU, CUDA, Assign, Loop, build_plan, mangle
from rectinumba.codegen.step import render_network
from rectinumba.codegen.update import RULES, dt_symbol, phi1, stage_symbol, state_symbol
from rectinumba.errors import NetworkError
from rectinumba.templates import NodeTemplate, OperatorTemplate

pytestmark = pytest.mark.nocompile

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
IKU = "model_templates.spiking_neurons.ik.iku"
HOSTILE = "n'); import os  # \"'"  # printable (names are one line), quotes and code


def unicode_template() -> NodeTemplate:
    op = OperatorTemplate(
        "δ_op",
        equations=["d/dt * v = -v/τ + I_in + ρ", "ρ = tanh(v)"],
        variables={"v": "output(0.0)", "τ": 2.0, "I_in": "input(0.0)", "ρ": "variable(0.0)"},
    )
    return NodeTemplate("Ω-model", operators=[op])


def spec_of(net: Network, B: int = 1):
    return net._runner.spec({}, B)[0]


def hostile_net() -> Network:
    net = Network(0.1)
    net.add_func_node("inp", 2)
    net.add_diffeq_node(HOSTILE, unicode_template(), weights=np.ones((3, 3)), source_var="ρ",
                        target_var="I_in", input_var="I_in", output_var="v")  # fmt: skip
    net.add_edge("inp", HOSTILE, weights=np.ones((3, 2)))
    return net


# ---- names ---------------------------------------------------------------------------------------
def test_argument_names_are_mangled_model_names_with_a_positional_prefix():
    spec = spec_of(hostile_net())
    plan = build_plan(spec, CPU)
    names = [a.name for a in plan.args]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", n) for n in names)
    by_detail = {a.detail: a.name for a in plan.args if a.role in ("state", "const")}
    assert by_detail["δ_op/v"] == "n1_s0_op_v"
    assert by_detail["δ_op/τ"] == "n1_p0_op"  # nothing of "τ" is ASCII: the prefix keeps it unique
    assert mangle("a/b c-d") == "a_b_c_d" and mangle("é" * 50) == "v"
    assert len(mangle("x" * 99)) == 24


def test_user_strings_reach_generated_source_only_through_repr():
    """A label with quotes and code, Unicode names: the sources parse, and the label occurs
    only as its repr() in comments (issue 10 item 1, by construction of the renderers)."""
    net = hostile_net()
    spec = spec_of(net)
    bspec = BPTTSpec(spec, ((), ("δ_op/τ",)), (False, True), (True,))
    sources = [render_network(spec).source, render_cuda(spec, "block").source,
               render_bptt(bspec).source]  # fmt: skip
    for src in sources:
        ast.parse(src)
        assert "import os" not in src.replace(repr(HOSTILE), "")
        assert "τ" not in src and "Ω" not in src.replace(repr("Ω-model"), "")
        shown = [line for line in src.splitlines() if repr(HOSTILE) in line]
        assert shown and all("#" in line.split(repr(HOSTILE))[0] for line in shown)


# ---- the plan ----------------------------------------------------------------------------------
def iku_net(method="euler") -> Network:
    net = Network(0.1, method=method)
    net.add_diffeq_node("ik", IKU, weights=np.ones((4, 4)), source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", op="iku_op", spike_var="spike",
                        spike_def="v")  # fmt: skip
    return net


def test_loops_follow_the_population_barriers_and_the_stages():
    """iku: pass 0 (spikes, means, coupling source), pass 1 (coupling, update); RK4 repeats
    both passes per stage, values crossing a loop live in arrays, the rest in locals."""
    for method, stages in (("euler", 1), ("rk4", 4)):
        plan = build_plan(spec_of(iku_net(method)), CPU)
        node = plan.nodes[0]
        assert node.L == 1 and len(node.loops) == 2 * stages
        assert [loop.coupling for loop in node.loops] == [False, True] * stages
        assert sum(len(loop.reductions) for loop in node.loops) == 2 * stages
        kept = {a.detail for a in plan.args if a.role == "scratch" and isinstance(a.detail, tuple)}
        assert ("keep", "spk") in kept  # spike flags: pass 0 -> reset in the last pass
        if stages == 4:
            assert {("stage", "iku_op/v"), ("k", 0, "iku_op/v"), ("k", 2, "iku_op/u")} <= kept
        else:
            assert not any(d[0] in ("stage", "k") for d in kept)


def test_single_pass_nodes_run_every_stage_in_one_loop_with_locals():
    net = Network(0.1, method="rk4")
    net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=3,
                        input_var="I_ext", output_var="v")  # fmt: skip
    plan = build_plan(spec_of(net), CPU)
    (loop,) = plan.nodes[0].loops
    assert [s.key[:2] for s in loop.body if isinstance(s, Assign) and s.key[0] == "k"] == [
        ("k", s) for s in range(4)
    ]
    assert not any(a.role == "scratch" and isinstance(a.detail, tuple) for a in plan.args)


def test_one_self_dependency_check_serves_every_renderer():
    variables = {"v": "output(0.0)", "u": "input(0.0)", "r": "variable(0.0)"}
    op = OperatorTemplate("c_op", equations=["d/dt * v = -v + u", "r = tanh(u)"],
                          variables=variables)  # fmt: skip
    net = Network(0.1)
    net.add_diffeq_node("c", NodeTemplate("c", operators=[op]), weights=np.eye(2),
                        source_var="r", target_var="u", input_var="u", output_var="v")  # fmt: skip
    spec = spec_of(net)
    for render in (lambda: build_plan(spec, CPU), lambda: render_cuda(spec, "grid"),
                   lambda: render_bptt(BPTTSpec(spec, ((),), (False,), ()))):  # fmt: skip
        with pytest.raises(NetworkError, match=r"depends on itself: c_op/r -> c_op/u -> c_op/r"):
            render()


def test_cuda_takes_its_arguments_from_its_plan():
    spec = spec_of(iku_net())
    src = render_cuda(spec, "block")
    assert src.args == tuple(build_plan(spec, CUDA).args)
    kernel = next(f for f in ast.parse(src.source).body if getattr(f, "name", "") == "kernel")
    params = [a.arg for a in kernel.args.args]
    assert params[8 : 8 + len(src.args)] == [a.name for a in src.args]
    # the CPU and CUDA tables differ only where CUDA keeps the coupling target in an array
    cpu = {(a.role, a.owner, a.detail) for a in build_plan(spec, CPU).args}
    cuda = {(a.role, a.owner, a.detail) for a in src.args}
    assert cuda - cpu == {("scratch", 0, ("keep", "tgt"))} and cpu <= cuda


def test_the_bptt_forward_is_the_step_kernel_with_a_tape():
    """Every line of the BPTT forward kernel is a line of the step kernel, or a tape write."""
    spec = spec_of(iku_net())
    step = render_network(spec).source
    bptt = render_bptt(BPTTSpec(spec, ((),), (True,), ())).source
    forward = bptt.split("def forward(", 1)[1].split("\ndef backward(", 1)[0]
    body = forward.split("\n", 1)[1]  # past the signature
    tape = re.compile(r"n0_t(y\d|in|tg|sp)\w*\[b, step, i\] = ")
    step_lines = {line.strip() for line in step.splitlines()}
    taped = [line for line in body.splitlines() if tape.search(line)]
    assert len(taped) == 3 + 1 + 1  # three states, the coupling, the spike flags
    rest = [line.strip() for line in body.splitlines() if line.strip() and not tape.search(line)]
    assert set(rest) - step_lines <= {"@njit(cache=True, error_model='numpy', fastmath={'arcp', "
                                      "'contract', 'reassoc'}, parallel=False, nogil=True)"}


# ---- update rules ------------------------------------------------------------------------------
def test_update_rules_are_expressions_registered_in_one_place():
    assert set(RULES) == {"euler", "heun", "rk4", "exp_euler"}
    y, dt = state_symbol("op/v"), dt_symbol()
    k = [stage_symbol(s, "op/v") for s in range(4)]
    assert RULES["euler"].new_value("op/v", None) == y + dt * k[0]
    assert sympy.simplify(RULES["heun"].new_value("op/v", None) - (y + dt * (k[0] + k[1]) / 2)) == 0
    rk4 = RULES["rk4"]
    combination = (k[0] + 2 * k[1] + 2 * k[2] + k[3]) / 6
    assert sympy.simplify(rk4.new_value("op/v", None) - (y + dt * combination)) == 0
    assert sympy.simplify(rk4.stage_state(2, "op/v") - (y + dt * k[1] / 2)) == 0
    assert [rk4.stage_time(s) for s in range(4)] == [0.0, 0.5, 0.5, 1.0]
    assert (RULES["euler"].differentiable, RULES["exp_euler"].differentiable) == (True, True)
    assert not RULES["heun"].differentiable and not RULES["rk4"].differentiable


def test_exponential_euler_prints_phi1_and_falls_back_to_euler_where_A_is_zero():
    tau, I = sympy.Symbol("op/tau", real=True), sympy.Symbol("op/I", real=True)
    y, dt, k0 = state_symbol("op/v"), dt_symbol(), stage_symbol(0, "op/v")
    rule = RULES["exp_euler"]
    assert rule.new_value("op/v", lambda: -y / tau + I) == y + dt * phi1(-dt / tau) * k0
    assert rule.new_value("op/v", lambda: I * 2) == y + dt * k0  # A == 0: Euler
    assert phi1(sympy.S.Zero) == 1 and sympy.diff(phi1(y), y).subs(y, 0) == sympy.Rational(1, 2)
    net = Network(0.1, method="exp_euler")
    net.add_diffeq_node("li", "model_templates.rate_neurons.leaky_integrator.li_op", N=2,
                        input_var="I_ext", output_var="v")  # fmt: skip
    src = render_network(spec_of(net)).source
    assert "def _phi1(h):" in src and "_phi1(-dt/n0_p0_li_op_tau[b, i])" in src


def test_euler_is_written_once_in_the_renderers():
    """No renderer spells the update: ``dt * d`` comes from the rule, printed by the plan."""
    import inspect

    from rectinumba.codegen import adjoint, cuda_step, emit, plan, step

    for module in (step, cuda_step, adjoint, emit, plan):
        text = inspect.getsource(module)
        assert not re.search(r"dt \* d\{", text), module.__name__
        assert "lam*dt" not in text.replace(" ", "") and "nl{j} = n{k}_l" not in text


def test_the_nocompile_guard_refuses_kernels():
    net = Network(0.1)
    net.add_func_node("f", 2)
    with pytest.raises(AssertionError, match="marked nocompile loaded a generated kernel"):
        net.run(np.zeros((2, 2)), verbose=False)
    assert isinstance(Loop(0, 0).body, list)
