"""Event-driven coupling (issue 15): which couplings qualify, the runner's choice, and the event
path against the matvec path within a rounding bound derived here.

The bound (:func:`event_error`): both kernels compute the same spike flags (asserted); their
source traces ``s`` may differ in the last bit (the compiler vectorises the two kernels' loops
differently), which the bound takes from both runs (``|W| @ |s_event - s_matvec|``). Otherwise
they differ in how ``u = W @ s`` is formed. The matvec sums the n terms of a row (error <=
gamma_n * sum_j |W_ij| |s_j|, gamma_n = n eps / (1 - n eps), eps the unit roundoff, in any
summation order). The event path advances ``U`` with the trace's Euler update
``U + dt*(G/dt - U/tau_s)`` while each source advances ``s_j + dt*(-s_j/tau_s + f_j/dt)``; in
exact arithmetic ``U_k = W @ s_k`` for all k (the update is linear with the same coefficients).
So the error ``e_k = U_k - W @ s_k`` (s of the event run) obeys

    |e_{k+1}| <= (|1 - dt/tau_s| + c eps) |e_k| + (gamma_m + 2 eps) F_k + c eps M_k

where ``F_k = |W| @ f_k`` (the spiking columns; their sum ``G`` rounds in m additions, m the
spiking sources of the row), ``M_k = |W| @ (|s_k| + |s_{k+1}| + f_k)`` and c = 10 covers the
roundings of both updates (at most 5 operations each, however fast-math reorders them: the
source's ``-s/tau_s + s_ext + spike`` has one more than ``U``'s). The decay sums the local errors
geometrically: over any horizon the error stays below about ``2 c eps tau_s / dt`` (1.1e-12 here)
relative to the coupling's magnitude, which the test checks too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from rectinumba import Network, propagation
from rectinumba.equations import compile_node
from rectinumba.equations.traces import linear_trace, value_problem
from rectinumba.errors import NetworkError
from rectinumba.templates import NodeTemplate, OperatorTemplate, load_template

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "performance.rst"
LIF = "model_templates.spiking_neurons.lif.lif"
LI = "model_templates.rate_neurons.leaky_integrator.li_op"
DT, TAU_S = 0.01, 5.0


# ---- which couplings are linear traces (no kernels) --------------------------------------------
#: built-in spiking templates: (template, operator) -> trace states of "s" (the docs' table)
BUILTIN = {
    ("spiking_neurons.lif.lif", "lif_op"): ("s",),
    ("spiking_neurons.qif.qif", "qif_op"): ("s",),
    ("spiking_neurons.qif.qif_sfa", "qif_sfa_op"): ("s",),
    ("spiking_neurons.qif.qif_reset", "qif_reset_op"): ("s",),
    ("spiking_neurons.ik.ik", "ik_op"): ("s",),
    ("spiking_neurons.ik.iku", "iku_op"): ("s",),
    ("spiking_neurons.ik.ik_biexp", "ik_biexp_op"): ("s", "x"),
    ("spiking_neurons.izhikevich.izhikevich", "izhikevich_op"): ("s",),
    ("spiking_neurons.adex.adex", "adex_op"): ("s",),
    ("spiking_neurons.theta.theta", "theta_op"): ("s",),
}


def _model(path):
    return compile_node(load_template(f"model_templates.{path}"))


@pytest.mark.nocompile
@pytest.mark.parametrize("path, op", list(BUILTIN))
def test_every_builtin_spiking_template_couples_through_a_linear_trace(path, op):
    model = _model(path)
    q = lambda n: f"{op}/{n}"  # noqa: E731
    driven = (q("I_ext"), q("s_in"))
    spike_def = q("theta") if "theta" in path else q("v")
    trace = linear_trace(model, q("s"), q("spike"), driven, spike_def)
    assert trace.summary.linear, trace.summary.reason
    assert trace.summary.states == tuple(sorted(q(s) for s in BUILTIN[path, op]))
    assert trace.source == (1,) + (0,) * (len(BUILTIN[path, op]) - 1)
    # the performance guide's table lists the template with its trace
    row = f"* - ``{path}``\n     - " + ", ".join(f"``{s}``" for s in BUILTIN[path, op])
    assert row in GUIDE.read_text(), row


def _custom(equations, variables):
    op = OperatorTemplate("op", equations=equations, variables=variables)
    return compile_node(NodeTemplate("n", operators=[op]))


@pytest.mark.nocompile
@pytest.mark.parametrize(
    "equations, extra, source, reason",
    [
        (["s' = -s*s/tau + spike"], {}, "s", "not linear in op/s"),
        (["s' = -s/tau*(1 + t) + spike"], {}, "s", "reads t"),
        (["s' = -mean(s)/tau + spike"], {}, "s", "population reduction"),
        (["s' = -s/tau + spike + 0.1"], {}, "s", "constant drive 0.1"),
        (["s' = -s/tau + spike*s"], {}, "s", "not linear in op/s (its coefficient reads ['op/sp"),
        (["s' = -s/tau + spike", "r = s + 1"], {"r": "output(0.0)"}, "r", "not a linear comb"),
        (["s' = -s/tau + spike + I"], {}, "s", "reads op/I"),
        (["s' = -s/tau + spike"], {}, "v", "resets op/v"),
    ],
)
def test_couplings_that_are_not_linear_traces_say_why(equations, extra, source, reason):
    variables = {"s": "output(0.0)", "v": "variable(0.0)", "tau": 2.0, "spike": "input(0.0)",
                 "I": "input(0.0)", **extra}  # fmt: skip
    model = _custom(equations + ["v' = -v + I"], variables)
    found = linear_trace(model, f"op/{source}", "op/spike", ("op/I",), "op/v")
    assert not found.linear
    assert reason in found.reason


@pytest.mark.nocompile
def test_trace_values_must_be_equal_across_neurons_and_drives_zero():
    model = _model("spiking_neurons.lif.lif")
    trace = linear_trace(model, "lif_op/s", "lif_op/spike", ("lif_op/I_ext", "lif_op/s_in"),
                         "lif_op/v").summary  # fmt: skip
    assert trace.uniform == ("lif_op/tau_s",) and trace.zero == (("lif_op/s_ext",),)
    ok = {"lif_op/tau_s": np.full((1, 4), 2.0), "lif_op/s_ext": np.zeros((1, 4))}
    assert value_problem(trace, ok) == ""
    per_trial = dict(ok, **{"lif_op/tau_s": np.array([[1.0] * 4, [3.0] * 4])})
    assert value_problem(trace, per_trial) == ""  # U is kept per trial
    hetero = dict(ok, **{"lif_op/tau_s": np.array([[1.0, 2.0, 2.0, 2.0]])})
    assert "lif_op/tau_s differs between neurons" in value_problem(trace, hetero)
    driven = dict(ok, **{"lif_op/s_ext": np.full((1, 4), 0.1)})
    assert "lif_op/s_ext is not zero" in value_problem(trace, driven)


# ---- the runner's choice (no kernels: the choice is made before compiling) --------------------
def lif_net(N=40, J=None, **kwargs) -> Network:
    rng = np.random.default_rng(3)
    J = rng.standard_normal((N, N)) * 0.3 if J is None else J
    net = Network(DT)
    net.add_diffeq_node("lif", LIF, weights=J, source_var="s", target_var="s_in",
                        input_var="I_ext", output_var="s", op="lif_op", spike_var="spike",
                        spike_def="v", spike_threshold=1.0, spike_reset=0.0, **kwargs)  # fmt: skip
    return net


@pytest.mark.nocompile
def test_auto_chooses_events_for_long_runs_of_well_connected_traces():
    net = lif_net(N=40)
    choose = propagation.choose
    assert choose(net._runner, 1000) == {("J", "lif")}
    assert choose(net._runner, None) == {("J", "lif")}  # compile(): a long run
    assert choose(net._runner, propagation.EVENT_MIN_STEPS - 1) == frozenset()  # forward()
    assert choose(lif_net(N=20)._runner, 1000) == frozenset()  # 20 weights per row: matvec
    sparse = sp.random(400, 400, density=0.05, random_state=0, format="csr")  # 20 per row
    assert choose(lif_net(J=sparse)._runner, 1000) == frozenset()
    net.get_node("lif").propagation = "matvec"
    assert choose(net._runner, 1000) == frozenset()
    net.get_node("lif").propagation = "event"
    assert choose(net._runner, 1) == {("J", "lif")}
    net.set_var("lif", "tau_s", np.linspace(1.0, 2.0, 40))
    with pytest.raises(NetworkError, match=r"node 'lif': propagation='event' is not possible: "
                       r"in node 'lif', lif_op/tau_s differs between neurons"):
        choose(net._runner, 1000)
    net.get_node("lif").propagation = "auto"
    assert choose(net._runner, 1000) == frozenset()  # heterogeneous tau_s: the matvec
    net.set_var("lif", "tau_s", 2.0)
    net.set_var("lif", "s_ext", 0.5)
    assert choose(net._runner, 1000) == frozenset()  # a driven trace: the matvec
    net.set_var("lif", "s_ext", 0.0)
    net.add_func_node("out", 40)
    net.add_edge("lif", "out", weights=np.eye(40))
    assert choose(net._runner, 1000) == {("J", "lif"), ("W", ("lif", "out"))}
    net.pop_edge("lif", "out")
    net.add_edge("lif", "out", weights=np.eye(40), delay_steps=3, propagation="event")
    with pytest.raises(NetworkError, match=r"edge 'lif' -> 'out': propagation='event' is not "
                       r"possible: the edge has a delay"):
        choose(net._runner, 1000)
    net.get_edge("lif", "out").propagation = "auto"
    assert choose(net._runner, 1000) == {("J", "lif")}


@pytest.mark.nocompile
def test_forced_events_that_cannot_apply_fail_before_anything_runs(snapshot, assert_unchanged):
    net = lif_net(N=8, propagation="event", node_vars={"tau_s": np.linspace(1, 2, 8)})
    snap = snapshot(net)
    with pytest.raises(NetworkError, match="lif_op/tau_s differs between neurons"):
        net.run(np.ones((50, 8)), verbose=False)
    assert_unchanged(net, snap)
    rate = Network(DT)
    rate.add_diffeq_node("r", "model_templates.rate_neurons.leaky_integrator.tanh",
                         weights=np.eye(3), source_var="tanh_op/r", target_var="li_op/r_in",
                         input_var="li_op/I_ext", output_var="li_op/v",
                         propagation="event")  # fmt: skip
    with pytest.raises(NetworkError, match="node 'r': propagation='event' is not possible: its "
                       "source 'r' is not a spiking diff-eq node"):
        rate.run(np.ones((5, 3)), verbose=False)
    with pytest.raises(NetworkError, match=r"propagation must be one of \('auto', 'event', "
                       r"'matvec'\), got 'events'"):
        lif_net(N=4, propagation="events")
    with pytest.raises(NetworkError, match="edge 'lif' -> 'out': propagation must be one of"):
        net.add_func_node("out", 2)
        net.add_edge("lif", "out", propagation=None)


# ---- the event path against the matvec path: one network, both kernels -------------------------
def lifo_template() -> NodeTemplate:
    """LIF whose output ``o`` reads the coupling: a feedback edge from it runs the probe."""
    op = OperatorTemplate(
        "lifo_op",
        equations=["v' = -v/tau + k*s_in + I_ext", "s' = -s/tau_s + spike", "o = s + g*s_in"],
        variables={"v": "variable(0.0)", "s": "variable(0.0)", "o": "output(0.0)", "tau": 10.0,
                   "k": 1.0, "tau_s": TAU_S, "g": 0.01, "I_ext": "input(0.0)",
                   "spike": "input(0.0)", "s_in": "input(0.0)"},
    )  # fmt: skip
    return NodeTemplate("lifo", operators=[op])


def network(mode: str, dtype=np.float64, tau_c=TAU_S, N=30, M=5) -> Network:
    """inp -> d (LIF, dense J), c (LIF, CSR J) and p (a LIF whose output reads its coupling);
    d, c, p -> r (a rate node, the output); feedback edges c -> d (CSR: U advances after c's
    spike pass), d -> c (dense: U advances where c reads it) and p -> d (the probe of p reads
    its U). Edges out of d and c follow ``mode``; p's output is no trace: its edges are
    matvecs."""
    rng = np.random.default_rng(11)
    net = Network(DT, dtype=dtype)
    spiking = dict(input_var="I_ext", spike_var="spike", spike_def="v", spike_threshold=1.0,
                   spike_reset=0.0, propagation=mode)  # fmt: skip
    net.add_func_node("inp", N)
    net.add_diffeq_node("d", LIF, weights=rng.standard_normal((N, N)) * 0.2, source_var="s",
                        target_var="s_in", output_var="s", op="lif_op",
                        node_vars={"tau_s": TAU_S}, **spiking)  # fmt: skip
    Jc = sp.random(N, N, density=0.4, random_state=1, format="csr") * 0.5
    net.add_diffeq_node("c", LIF, weights=Jc, sparse=True, source_var="s", target_var="s_in",
                        output_var="s", op="lif_op", node_vars={"tau_s": tau_c},
                        **spiking)  # fmt: skip
    net.add_diffeq_node("p", lifo_template(), weights=rng.random((N, N)) * 0.1, source_var="s",
                        target_var="s_in", output_var="o", **spiking)  # fmt: skip
    net.add_diffeq_node("r", LI, N=M, input_var="I_ext", output_var="v")
    def csr(seed):
        return sp.random(M if seed == 3 else N, N, density=0.5, random_state=seed,
                         format="csr") * 0.3  # fmt: skip

    edges = [("inp", "d", np.eye(N) * 1.2, {}), ("inp", "c", np.eye(N) * 1.3, {}),
             ("inp", "p", np.eye(N) * 1.1, {}),
             ("c", "r", csr(3), {"sparse": True}),
             ("d", "r", rng.standard_normal((M, N)), {}),
             ("p", "r", rng.standard_normal((M, N)), {}),
             ("c", "d", csr(2), {"feedback": True, "sparse": True}),
             ("d", "c", rng.random((N, N)) * 0.05, {"feedback": True}),
             ("p", "d", rng.random((N, N)) * 0.05, {"feedback": True})]  # fmt: skip
    for s, t, w, kw in edges:
        net.add_edge(s, t, weights=w, propagation=mode if s in "cd" else "auto", **kw)
    return net


RECORD = [(n, v) for n in "dcp" for v in ("s", "v", "s_in", "I_ext")] + [("p", "o"), ("r", "I_ext")]


def simulate(mode, x, dtype=np.float64, tau_c=TAU_S):
    net = network(mode, dtype, tau_c)
    obs = net.run(x, verbose=False, record_vars=RECORD)
    events = net._runner.compiled({}, x.shape[0] if x.ndim == 3 else 1, steps=x.shape[-2])[0]
    return net, {k: obs[k] for k in RECORD}, events


def gamma(n, eps):
    return n * eps / (1.0 - n * eps)


def before(s):
    """Values before each step from values after it (zeros before the first)."""
    return np.concatenate([np.zeros_like(s[..., :1, :]), s[..., :-1, :]], axis=-2)


def event_error(W, s, flags, a, eps, c=10.0):
    """Bound of |U_k - W @ s_k| (see module docstring); s: (B, T, n) traces after each step,
    flags (B, T, n), a (B,) decay factors of the trace."""
    absW, nz = np.abs(W), (W != 0).astype(float)
    B, T, _ = s.shape
    E = np.zeros((B, T, W.shape[0]))
    e = np.zeros((B, W.shape[0]))
    pre = before(s)
    for k in range(T):
        E[:, k] = e
        F = flags[:, k] @ absW.T
        M = (np.abs(pre[:, k]) + np.abs(s[:, k]) + flags[:, k]) @ absW.T
        e = (np.abs(a)[:, None] + c * eps) * e + (gamma(flags[:, k] @ nz.T, eps) + 2 * eps) * F
        e += c * eps * M
    return E


def matvec_rounding(parts, eps):
    """gamma_n * sum |W||src| of a sum over the terms of all matvecs of a target row (+ x)."""
    n = sum((W != 0).sum(axis=1) for W, _ in parts) + 2
    return gamma(n, eps) * sum(np.abs(src) @ np.abs(W).T for W, src in parts)


def dense(w):
    return w.toarray() if sp.issparse(w) else np.asarray(w)


@pytest.fixture(scope="module")
def runs():
    """Both paths, two trials with their own tau_s for c, 10000 steps (non-chaotic: the spike
    trains of both paths agree to the last step)."""
    rng = np.random.default_rng(5)
    T, N, B = 10_000, 30, 2
    x = 0.9 + 0.6 * rng.random((B, T, N))
    tau_c = np.array([[4.0], [7.0]])
    return x, tau_c, {m: simulate(m, x, tau_c=tau_c) for m in ("matvec", "event")}


def test_both_paths_are_what_they_claim(runs):
    _, _, res = runs
    (_, _, mv), (_, _, ev) = res["matvec"], res["event"]
    assert not any(n.event for n in mv.nodes if hasattr(n, "event"))
    assert not any(e.event for e in mv.edges)
    assert [n.label for n in ev.nodes if getattr(n, "event", False)] == ["d", "c", "p"]
    assert sum(e.event for e in ev.edges) == 4  # c->r, d->r, c->d, d->c (not inp's, not p's)


def test_event_coupling_equals_matvec_within_the_derived_rounding_bound(runs):
    x, tau_c, res = runs
    (net, mv, _), (_, ev, _) = res["matvec"], res["event"]
    eps = np.finfo(np.float64).eps / 2
    for n in "dcp":  # identical spike trains (the traces may differ in the last bit)
        assert np.array_equal(mv[(n, "v")] == 0.0, ev[(n, "v")] == 0.0), n
        np.testing.assert_allclose(ev[(n, "s")], mv[(n, "s")], rtol=1e-14, atol=0)
    assert (mv[("c", "v")] == 0.0).sum() > 20_000  # spikes enough
    flags = {n: (mv[(n, "v")] == 0.0).astype(float) for n in "dcp"}
    a = {"d": np.full(2, 1 - DT / TAU_S), "c": 1 - DT / tau_c[:, 0],
         "p": np.full(2, 1 - DT / TAU_S)}  # fmt: skip
    E = {}  # event recursion bounds per coupling
    bound_in = {}
    ds = {n: np.abs(before(ev[(n, "s")]) - before(mv[(n, "s")])) for n in "dcp"}
    for n in "dcp":  # recurrent couplings: the recorded s_in
        J = dense(net.get_var(n, "weights"))
        E[n] = event_error(J, ev[(n, "s")], flags[n], a[n], eps) + ds[n] @ np.abs(J).T
        pre = before(mv[(n, "s")])
        bound_in[n] = E[n] + matvec_rounding([(J, pre)], eps)
        diff = np.abs(ev[(n, "s_in")] - mv[(n, "s_in")])
        assert np.all(diff <= bound_in[n]), (n, np.max(diff / bound_in[n]))
        assert diff.max() > 0  # the paths really differ
        scale = pre @ np.abs(J).T + flags[n] @ np.abs(J).T
        # the ~1e-12 claim: 2 c eps tau_s / dt relative to the coupling's magnitude over the run
        assert np.max(bound_in[n].max(axis=1) / scale.max(axis=1)) < 2e-12
    # p's output o = s + g*s_in differs by g * (its s_in's difference) plus its own rounding
    g = 0.01
    d_o = ds["p"] + g * bound_in["p"] + 4 * eps * (
        np.abs(mv[("p", "o")]) + g * np.abs(mv[("p", "s_in")]))
    src = {"inp": x, "d": before(mv[("d", "s")]), "c": before(mv[("c", "s")]), "p": mv[("p", "o")]}
    for t in "dcr":  # summed edge inputs: event edges, p's edges, matvecs of both paths
        parts, extra = [], 0.0
        for s, tt in net.edges:
            if tt != t:
                continue
            w = dense(net.get_edge(s, tt).weights)
            parts.append((w, src[s]))
            if s in "dc":
                extra = extra + event_error(w, ev[(s, "s")], flags[s], a[s], eps)
                extra = extra + ds[s] @ np.abs(w).T
            elif s == "p":
                extra = extra + d_o @ np.abs(w).T
        bound = extra + matvec_rounding(parts, eps)
        diff = np.abs(ev[(t, "I_ext")] - mv[(t, "I_ext")])
        assert np.all(diff <= bound), (t, np.max(diff / bound))
        assert diff.max() > 0


def test_a_run_in_two_calls_starts_from_the_state_and_new_values(runs):
    """U = W @ s is computed from the state when a call starts: a run split in two equals one
    run to rounding, also after set_var changed a trace between the calls."""
    x, tau_c, res = runs
    whole = res["event"][1]
    net = network("event", tau_c=tau_c)
    first = net.run(x[:, :4000], verbose=False, record_vars=RECORD)
    second = net.run(x[:, 4000:], verbose=False, record_vars=RECORD)
    for key in ((n, "s_in") for n in "dcp"):
        joined = np.concatenate([first[key], second[key]], axis=1)
        np.testing.assert_allclose(joined, whole[key], rtol=0,
                                   atol=1e-12 * np.abs(whole[key]).max())  # fmt: skip
    nets = {m: network(m, tau_c=tau_c) for m in ("matvec", "event")}
    after = {}
    for mode, net in nets.items():  # a changed trace: both paths start from it
        net.run(x[:, :4000], verbose=False, record_vars=RECORD)  # the fixture's kernels
        net.set_var("c", "s", np.linspace(0.0, 2.0, 30))
        net.set_var("d", "s", np.linspace(1.0, 0.0, 30))
        after[mode] = net.run(x[:, 4000:4100], verbose=False, record_vars=RECORD)
    for key in (("c", "s_in"), ("d", "s_in"), ("c", "I_ext"), ("r", "I_ext")):
        ref = after["matvec"][key]
        np.testing.assert_allclose(after["event"][key], ref, rtol=0,
                                   atol=1e-12 * np.abs(ref).max())  # fmt: skip


def kernel_types(net) -> dict:
    """numba's types of the locals of the kernel a network ran (type inference only: a kernel
    loaded from numba's cache keeps no annotations)."""
    from numba.core import compiler, typed_passes
    from numba.core.registry import cpu_target

    (kernel,) = [k for *_, k in net._runner._compiled.values()
                 if getattr(k, "py_kernel", k).signatures]  # fmt: skip
    kernel = getattr(kernel, "py_kernel", kernel)
    interp = compiler.run_frontend(kernel.py_func)
    found = typed_passes.type_inference_stage(
        cpu_target.typing_context, cpu_target.target_context, interp, kernel.signatures[0], None
    )
    return found.typemap


def test_float32_events_stay_within_the_float32_bound_of_the_exact_product():
    """float32, one trial, 10000 steps: the event path's coupling against the exact product of
    J and its own traces (numpy, float64), within the bound for float32's unit roundoff; every
    named local of the kernel is float32 (float32 literals)."""
    rng = np.random.default_rng(9)
    x = (0.9 + 0.6 * rng.random((10_000, 30))).astype(np.float32)
    net, ev, spec = simulate("event", x, np.float32)
    assert spec.nodes[2].event
    eps = np.finfo(np.float32).eps / 2
    J = dense(net.get_var("c", "weights")).astype(np.float64)
    s = ev[("c", "s")][None].astype(np.float64)
    flags = (ev[("c", "v")] == 0.0)[None].astype(float)
    assert flags.sum() > 10_000
    # the initial U = J @ s (zeros) is exact; then the recursion's rounding, in float32
    E = event_error(J, s, flags, np.array([1 - DT / TAU_S]), eps)
    diff = np.abs(ev[("c", "s_in")][None].astype(np.float64) - before(s) @ J.T)
    assert np.all(diff <= E), np.max(diff / np.maximum(E, 1e-300))
    assert diff.max() > 0
    named = {k: str(v) for k, v in kernel_types(net).items() if not k.startswith("$")}
    assert named["ev0"] == named["c_tgt"] == named["d1"] == named["inv_dt"] == "float32"
    assert [k for k, v in named.items() if v == "float64"] == []


def test_two_state_trace_with_rk4_equals_numpy():
    """ik_biexp's trace is two states (x -> s): with rk4, U advances by the trace's four stages
    with the spikes held, the coupling takes the trace's stage values, and an event edge into a
    rate node (into an input other than its input_var) delivers its stage-0 value held over the
    target's stages (zero-order hold)."""
    from test_methods import rk_step

    rng = np.random.default_rng(4)
    N, M, dt, thr, rst = 6, 3, 0.1, 30.0, -60.0
    J, W = rng.random((N, N)) * 5, rng.standard_normal((M, N)) * 10
    x = 300 + 200 * rng.random((300, N))
    net = Network(dt, method="rk4")
    net.add_diffeq_node("b", "model_templates.spiking_neurons.ik.ik_biexp", weights=J,
                        source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
                        op="ik_biexp_op", spike_var="spike", spike_def="v", spike_threshold=thr,
                        spike_reset=rst, propagation="event")  # fmt: skip
    net.add_diffeq_node("r", LI, N=M, input_var="I_ext", output_var="v")
    # into r's other input (k*r_in + I_ext: the same sum with k = 1), read from b's trace s
    net.add_edge("b", "r", weights=W, propagation="event", source_var="s", target_var="r_in")
    obs = net.run(x, verbose=False, record_vars=[("b", "v"), ("r", "r_in")])
    spec = net._runner.compiled({}, 1, steps=300)[0]
    assert spec.nodes[0].event and spec.edges[0].event
    C, k, v_r, v_t, g, E_r, b, tau_u, kappa, tau_r, tau_d = (
        100, 0.7, -60, -40, 1, 0, -2, 33.33, 10, 2.0, 6.0)  # fmt: skip
    y = np.concatenate([np.full(N, -60.0), np.zeros(3 * N)])  # v, u, s, x
    r = np.zeros(M)
    vs, rins, outs, n_spikes = [], [], [], 0
    for xt in x:
        spk = (y[:N] >= thr).astype(float)
        spike = spk / dt
        r_in = W @ y[2 * N : 3 * N]  # the edge: b's output s before the step, held

        def f(z, c, xt=xt, spike=spike):
            v, u, s, xs = z[:N], z[N : 2 * N], z[2 * N : 3 * N], z[3 * N :]
            dv = (k * (v - v_r) * (v - v_t) - u + xt + g * (J @ s) * (E_r - v)) / C
            du = (b * (v.mean() - v_r) - u) / tau_u + kappa * spike.mean()
            return np.concatenate([dv, du, -s / tau_d + xs, -xs / tau_r + spike])

        y = rk_step(f, y, dt, "rk4")
        y[:N][spk > 0] = rst
        outs.append(r.copy())  # the output: r before its update
        r = rk_step(lambda z, c, r_in=r_in: -z / 10.0 + r_in, r, dt, "rk4")
        n_spikes += spk.sum()
        vs.append(y[:N].copy())
        rins.append(r_in)
    assert n_spikes > 20
    np.testing.assert_allclose(obs[("b", "v")], vs, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(obs[("r", "r_in")], rins, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-10, atol=1e-9)


def test_float32_noise_kernels_compute_in_float32():
    """float32 literals reach every expression: the only float64 locals of a noisy float32
    kernel are the generator's raw normals (rounded once to float32)."""
    net = Network(DT, dtype=np.float32)
    net.add_diffeq_node("ou", "model_templates.rate_neurons.ornstein_uhlenbeck.ou", N=4,
                        input_var="I_ext", output_var="x")  # fmt: skip
    net.run(np.ones((10, 4), np.float32), verbose=False)
    named = {k: str(v) for k, v in kernel_types(net).items() if not k.startswith("$")}
    assert named["y0"] == "float32"
    assert sorted(k for k, v in named.items() if v == "float64") == ["xi0_0_64", "xi0_1_64"]


# ---- the event path combined with noise, delays, exp_euler, no input and forward() ------------
def nlif_template(inp: bool = True, noise: bool = True) -> NodeTemplate:
    """LIF whose membrane reads its own past (``past(v, d)``), with white noise ``xi`` and an
    external input where asked; the trace ``s`` is the coupling's linear trace either way."""
    drive = " + I_ext" if inp else ""
    drive += " + sigma*xi" if noise else ""
    variables = {"v": "variable(0.0)", "s": "output(0.0)", "tau": 10.0, "k": 1.0, "eta": 0.0,
                 "c": -0.02, "d": 0.05, "sigma": 0.5, "tau_s": TAU_S, "spike": "input(0.0)",
                 "s_in": "input(0.0)", "I_ext": "input(0.0)"}  # fmt: skip
    if not inp:
        del variables["I_ext"]
    op = OperatorTemplate(
        "nlif_op",
        equations=[f"v' = -v/tau + k*s_in + eta + c*past(v, d){drive}", "s' = -s/tau_s + spike"],
        variables=variables,
    )
    return NodeTemplate("nlif", operators=[op])


NREC = [("l", "s_in"), ("l", "v"), ("l", "s")]


def nlif_net(mode: str, method: str = "euler", inp: bool = True, N: int = 12,
             dtype=np.float64) -> Network:  # fmt: skip
    """One recurrent LIF population (dense J, forced ``mode``), spiking from the first steps."""
    J = np.random.default_rng(1).standard_normal((N, N)) * 0.3
    net = Network(DT, method=method, seed=3, dtype=dtype)
    values = {"v": np.linspace(0.0, 0.99, N), "d": np.linspace(0.0, 0.08, N)}  # 0 to 8 steps
    net.add_diffeq_node("l", nlif_template(inp, noise=method == "euler"), weights=J,
                        source_var="s", target_var="s_in", output_var="s", spike_var="spike",
                        spike_def="v", spike_threshold=1.0, spike_reset=0.0, propagation=mode,
                        node_vars=values if inp else dict(values, eta=np.array([[0.4], [0.6]])),
                        **({"input_var": "I_ext"} if inp else {}))  # fmt: skip
    return net


def assert_events_within_the_bound(net, ev, mv, a) -> None:
    """The event run ``ev`` against the matvec run ``mv`` (recordings of NREC, (B, T, N)):
    identical spike trains, traces to the last bits, the coupling within the module's derived
    bound (event recursion + the traces' difference + the matvec's rounding); ``a`` the
    trace's decay factor per step."""
    eps = np.finfo(np.float64).eps / 2
    fired = mv[("l", "v")] == 0.0  # the reset value: a spike in that step
    assert np.array_equal(fired, ev[("l", "v")] == 0.0)
    assert 20 < fired.sum() < fired.size / 2
    np.testing.assert_allclose(ev[("l", "s")], mv[("l", "s")], rtol=1e-14, atol=0)
    J = dense(net.get_var("l", "weights"))
    s_ev, s_mv = ev[("l", "s")], mv[("l", "s")]
    a = np.full(s_ev.shape[0], a)
    bound = (event_error(J, s_ev, fired.astype(float), a, eps)
             + np.abs(before(s_ev) - before(s_mv)) @ np.abs(J).T
             + matvec_rounding([(J, before(s_mv))], eps))  # fmt: skip
    diff = np.abs(ev[("l", "s_in")] - mv[("l", "s_in")])
    assert np.all(diff <= bound), np.max(diff / bound)
    assert diff.max() > 0  # two kernels that really differ


@pytest.fixture(scope="module")
def noisy_delayed():
    """The noisy LIF with past(v, d), both paths, two trials of 300 steps (one seed)."""
    x = 0.9 + 0.6 * np.random.default_rng(2).random((2, 300, 12))
    res = {}
    for mode in ("matvec", "event"):
        net = nlif_net(mode)
        obs = net.run(x, verbose=False, record_vars=NREC)
        res[mode] = net, {k: obs[k] for k in NREC}
    return x, res


def test_events_with_white_noise_and_past_equal_the_matvec(noisy_delayed):
    x, res = noisy_delayed
    (mv_net, mv), (ev_net, ev) = res["matvec"], res["event"]
    assert ev_net._runner.compiled({}, 2, steps=300)[0].nodes[0].event
    assert not mv_net._runner.compiled({}, 2, steps=300)[0].nodes[0].event
    assert_events_within_the_bound(ev_net, ev, mv, 1 - DT / TAU_S)
    # the noise moved the membranes (same seed: the same draws on both paths)
    quiet = nlif_net("matvec")
    quiet.set_var("l", "sigma", 0.0)
    v0 = quiet.run(x, verbose=False, record_vars=NREC)[("l", "v")]
    assert np.abs(v0 - mv[("l", "v")]).max() > 0.05


def test_forward_step_by_step_on_the_event_path_equals_the_matvec_run(noisy_delayed):
    """forward() (one step per call: U = J @ s is formed at every call) with forced events, the
    noise stream and the past(v, d) history continuing from call to call."""
    x, res = noisy_delayed
    net = nlif_net("event")
    outs = np.array([net.forward(row) for row in x[0, :100]])
    assert net._runner.compiled({}, 1, steps=1)[0].nodes[0].event
    ref = nlif_net("matvec")
    obs = ref.run(x[0, :100], verbose=False, record_vars=NREC)
    assert (obs[("l", "v")] == 0.0).sum() > 10
    np.testing.assert_allclose(outs, obs["out"], rtol=1e-14, atol=0)
    np.testing.assert_allclose(net.get_var("l", "v"), ref.get_var("l", "v"), rtol=1e-12)
    np.testing.assert_allclose(net.get_history("l", "v"), ref.get_history("l", "v"), rtol=1e-12)


def test_events_with_exp_euler_and_without_input_equal_the_matvec():
    """exp_euler (the trace decays by exp(-dt/tau_s)), past(v, d), a network without input
    run with run(steps=, trials=2) on both paths (a drive eta per trial makes it spike)."""
    res = {}
    for mode in ("matvec", "event"):
        net = nlif_net(mode, method="exp_euler", inp=False)
        assert net.n_in == 0
        obs = net.run(steps=300, trials=2, verbose=False, record_vars=NREC)
        assert net._runner.compiled({}, 2, steps=300)[0].nodes[0].event == (mode == "event")
        res[mode] = net, {k: obs[k] for k in NREC}
    (_, mv), (ev_net, ev) = res["matvec"], res["event"]
    assert_events_within_the_bound(ev_net, ev, mv, np.exp(-DT / TAU_S))


@pytest.mark.nocompile
def test_an_edge_into_the_trace_input_keeps_the_matvec(snapshot, assert_unchanged):
    """An edge into s_ext drives the trace: "auto" takes the matvec, a forced "event" is refused
    naming s_ext before anything runs (the same network without that edge is event-driven)."""
    net = lif_net(N=40)
    net.add_func_node("inp", 3)
    net.add_edge("inp", "lif", weights=np.ones((40, 3)))
    assert propagation.choose(net._runner, 1000) == {("J", "lif")}
    net.add_edge("inp", "lif", weights=np.full((40, 3), 0.1), target_var="s_ext")
    assert net.edges == [("inp", "lif"), ("inp", "lif", 1)]
    assert propagation.choose(net._runner, 1000) == frozenset()
    net.get_node("lif").propagation = "event"
    snap = snapshot(net)
    with pytest.raises(NetworkError, match=r"node 'lif': propagation='event' is not possible: "
                       r"lif_op/s is not a linear trace of the spikes \(d/dt lif_op/s reads "
                       r"lif_op/s_ext\)"):  # fmt: skip
        net.run(np.ones((50, 3)), verbose=False)
    assert_unchanged(net, snap)
