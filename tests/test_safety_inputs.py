"""Bounded parsing and clean refusals (issue 10.6): YAML alias bombs, capped messages, '#' and
NFKC look-alikes in equations, empty batches, NaN/complex weights, absurd step counts and one
network used from two threads. Every refusal leaves the network as it was."""

from __future__ import annotations

import threading
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from builders import arrays, bptt_net, rls_net

from rectinumba import Network, OperatorTemplate, compile_node
from rectinumba.errors import EquationError, NetworkError, RectinumbaError, TemplateError
from rectinumba.templates import load_template

LI_OP = "model_templates.rate_neurons.leaky_integrator.li_op"
LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"


# ---- YAML and messages -------------------------------------------------------------------------
def test_yaml_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path):
    """8 levels x 10 aliases (about 500 bytes) stand for 10^8 equations."""
    lines = ["a0: &a0 [" + ", ".join(['"x = 1"'] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    lines += ["op:", "  base: OperatorTemplate", "  equations: *a7"]
    file = tmp_path / "bomb.yaml"
    file.write_text("\n".join(lines) + "\n")
    assert file.stat().st_size < 1000
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError, match=r"(?s)expands to more than .* aliases.*bomb\.yaml"
                           ) as info:  # fmt: skip
            load_template(f"{file}/op")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(str(info.value)) < 500
    assert peak < 50e6  # the unbounded walk built a 522 MB message in 1.5 GB


def test_recursive_yaml_alias_is_refused(tmp_path):
    file = tmp_path / "loop.yaml"
    file.write_text("op: &o\n  base: OperatorTemplate\n  equations: [*o]\n")
    with pytest.raises(TemplateError, match="expands to more than"):
        load_template(f"{file}/op")


def test_huge_values_in_error_messages_are_capped(tmp_path):
    file = tmp_path / "big.yaml"
    doc = {"op": {"base": "OperatorTemplate", "equations": [list(range(3_000))]}}
    file.write_text(yaml.safe_dump(doc))
    msg = r"equations must be strings, got \[\[0, 1, 2, .*\.\.\.\]\]"
    with pytest.raises(TemplateError, match=msg) as info:
        load_template(f"{file}/op")
    assert len(str(info.value)) < 600
    long_eq = "x' = " + " + ".join(["x"] * 400) + " + y"
    with pytest.raises(EquationError, match=r"undefined variable 'y'") as info:
        compile_node(OperatorTemplate("op", [long_eq], {"x": "output(0)"}))
    text = str(info.value)
    assert len(text) < 800
    eq_line, caret = text.splitlines()[2:4]
    assert eq_line[caret.index("^")] == "y"  # the caret still points at the culprit


def test_huge_names_echoed_in_messages_are_capped():
    """An unknown variable or sweep key of 10^5 characters was echoed whole (twice for the
    sweep key): every message and hint keeps its head and tail, bounded."""
    from rectinumba import sweep
    from rectinumba.errors import VariableNotFoundError

    net = _li()
    name = "q" * 100_000
    for call, error in (
        (lambda: net.get_var("li", name), VariableNotFoundError),
        (lambda: Network(0.1).add_diffeq_node("x", LI_OP, N=3, input_var="I_ext",
                                              output_var="v", node_vars={name: 1.0}),
         VariableNotFoundError),
        (lambda: sweep(net, {name: [1.0]}, steps=2, progress=False), NetworkError),
    ):  # fmt: skip
        msg = r"(?s)(unknown variable|sweep parameter) 'qqqq.*characters cut"
        with pytest.raises(error, match=msg) as info:
            call()
        assert len(str(info.value)) < 9000


# ---- equations: '#' and NFKC look-alikes ---------------------------------------------------------
def test_hash_in_an_equation_is_refused_at_its_column():
    op = OperatorTemplate("op", ["v' = -v/tau # + I"], {"v": "output(0)", "tau": 1.0,
                                                          "I": "input(0)"})  # fmt: skip
    with pytest.raises(EquationError, match=r"(?s)'#' is not allowed.*\n    v' = -v/tau # \+ I\n"
                       r" {16}\^"):  # fmt: skip
        compile_node(op)


def test_nfkc_lookalike_names_are_refused_not_aliased():
    # 'ﬁ' (U+FB01) is read by Python as 'fi': it would silently be another variable
    with pytest.raises(TemplateError, match=r"variable name 'ﬁ' is not in Unicode NFKC .*'fi'"):
        OperatorTemplate("op", ["fi' = -fi"], {"fi": "output(0)", "\ufb01": 1.0})
    op = OperatorTemplate("op", ["v' = -v * \ufb01"], {"v": "output(0)", "fi": 2.0})
    with pytest.raises(EquationError, match=r"(?s)'ﬁ' is not in Unicode NFKC form.*'fi'.*\n"
                       r"    v' = -v \* ﬁ\n {14}\^"):  # fmt: skip
        compile_node(op)
    with pytest.raises(EquationError, match="not in Unicode NFKC form"):
        compile_node(OperatorTemplate("op", ["\ufb01' = -fi"], {"fi": "output(0)"}))


# ---- arguments refused before anything changes ---------------------------------------------
def _li(N=3) -> Network:
    net = Network(0.1)
    net.add_diffeq_node("li", LI_OP, N=N, input_var="I_ext", output_var="v")
    return net


def _snapshot(net):
    return net._runner.step, {k: v.copy() for k, v in net.state.items()}


def test_empty_batches_are_refused_before_any_state_changes(rng):
    net = bptt_net(*arrays(rng))
    net.run(np.ones((4, 2)), verbose=False)
    snap = _snapshot(net)
    empty = np.zeros((0, 5, 2))
    for call in (
        lambda: net.run(empty, verbose=False),
        lambda: net.forward(np.zeros((0, 2))),
        lambda: net.fit_ridge(empty, np.zeros((0, 5, 2)), verbose=False),
        lambda: net.test(empty, np.zeros((0, 5, 2)), verbose=False),
        lambda: net.fit_bptt(empty, np.zeros((0, 5, 2)), verbose=False),
    ):
        with pytest.raises(NetworkError, match=r"holds? no trial \(B = 0\)"):
            call()
        assert _snapshot(net)[0] == snap[0]
        np.testing.assert_array_equal(net.state["rnn"], snap[1]["rnn"])
    assert net.run(np.ones((3, 2)), verbose=False)["out"].shape == (3, 2)  # still usable


def test_trainers_refuse_inputs_without_steps_before_any_state_changes(rng):
    """T = 0: fit_rls used to "train" on nothing and report an epoch loss of 0."""
    net = rls_net(rng.standard_normal((6, 6)) * 0.5, rng.normal(0, 0.1, (1, 6)))
    net.run(np.ones((3, 2)), verbose=False)
    snap, W = _snapshot(net), net.get_edge("rnn", "out").weights.copy()
    one = np.ones((4, 2)), np.ones((4, 1))
    for call, match in (
        (lambda: net.fit_rls(np.zeros((0, 2)), np.zeros((0, 1)), verbose=False),
         r"fit_rls: the inputs have no steps \(T = 0\)"),
        (lambda: net.fit_rls([one[0], np.zeros((0, 2))], [one[1], np.zeros((0, 1))],
                             verbose=False), r"fit_rls: epoch\(s\) \[1\] have no steps"),
        (lambda: net.fit_bptt(np.zeros((0, 2)), np.zeros((0, 1)), verbose=False),
         r"fit_bptt: the inputs have no steps"),
        (lambda: net.fit_ridge(np.zeros((0, 2)), np.zeros((0, 1)), verbose=False),
         r"fit_ridge: no step was recorded"),
    ):  # fmt: skip
        with pytest.raises(NetworkError, match=match):
            call()
        assert _snapshot(net)[0] == snap[0]
        np.testing.assert_array_equal(net.state["rnn"], snap[1]["rnn"])
        np.testing.assert_array_equal(net.get_edge("rnn", "out").weights, W)


def test_bad_reset_state_changes_nothing():
    net = _li()
    net.run(np.ones((4, 3)), verbose=False)
    snap = _snapshot(net)
    with pytest.raises(NetworkError, match=r"state vector of shape \(2,\) does not fit"):
        net.reset(state={"li": np.zeros(2)})
    with pytest.raises(NetworkError, match="state vector must be real numbers"):
        net.reset(state={"li": np.zeros(3) + 1j})
    assert _snapshot(net)[0] == snap[0]
    np.testing.assert_array_equal(net.state["li"], snap[1]["li"])


@pytest.mark.parametrize("density", [0.05, 0.5, 1.0])
def test_sparse_weights_with_nan_are_refused_at_any_density(density):
    J = sp.random(30, 30, density=density, random_state=1, format="csr")
    J.data[len(J.data) // 2] = np.nan
    net = Network(0.1)
    with pytest.raises(NetworkError, match=r"weights must be finite, got nan at row \d+, column"):
        net.add_diffeq_node("r", LI_TANH, weights=J, source_var="tanh_op/r",
                            target_var="li_op/r_in", input_var="li_op/I_ext",
                            output_var="li_op/v")  # fmt: skip
    net.add_func_node("a", 30)
    net.add_func_node("b", 30)
    with pytest.raises(NetworkError, match=r"edge 'a' -> 'b' weights must be finite"):
        net.add_edge("a", "b", weights=J)
    assert net.edges == []


def test_complex_values_are_refused_without_a_numpy_warning():
    J = np.eye(3) * (1.0 + 0.5j)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning would fail here
        for w in (J, sp.csr_matrix(J)):
            with pytest.raises(NetworkError, match="weights must be real numbers, got complex"):
                Network(0.1).add_diffeq_node(
                    "r", LI_TANH, weights=w, source_var="tanh_op/r", target_var="li_op/r_in",
                    input_var="li_op/I_ext", output_var="li_op/v",
                )
        net = _li()
        net.add_func_node("o", 3)
        with pytest.raises(NetworkError, match="weights must be real numbers, got complex"):
            net.add_edge("li", "o", weights=J)
        with pytest.raises(NetworkError, match="mask must be real numbers, got complex"):
            net.add_edge("li", "o", weights=np.eye(3), mask=J)
        with pytest.raises(NetworkError, match="values must be real numbers, got complex"):
            net.set_var("li", "tau", np.ones(3) * 1j)
        with pytest.raises(NetworkError, match="values must be real numbers, got complex"):
            Network(0.1).add_diffeq_node("li", LI_OP, N=3, input_var="I_ext", output_var="v",
                                         node_vars={"tau": 2.0 + 1j})  # fmt: skip
    assert net.edges == [] and net.get_var("li", "tau").tolist() == [10.0, 10.0, 10.0]


def test_numbers_given_as_strings_or_bools_are_refused(rng):
    """float() reads "0.1" and True: dt, lr, beta and alpha took them silently."""
    from rectinumba import Observer

    for value in ("0.1", True, b"1"):
        with pytest.raises(NetworkError, match=r"^dt must be a number, got"):
            Network(value)
        with pytest.raises(RectinumbaError, match=r"Observer: dt must be a number"):
            Observer(value)
    net = rls_net(rng.standard_normal((4, 4)) * 0.5, np.zeros((1, 4)))
    x, y = np.ones((5, 2)), np.ones((5, 1))
    with pytest.raises(NetworkError, match=r"fit_rls: beta must be a number, got '0\.99'"):
        net.fit_rls(x, y, beta="0.99", verbose=False)
    with pytest.raises(NetworkError, match=r"fit_ridge: alpha must be a number, got True"):
        net.fit_ridge(x, y, alpha=True, verbose=False)
    with pytest.raises(NetworkError, match=r"fit_bptt: lr must be a number, got '1e-3'"):
        bptt_net(*arrays(rng)).fit_bptt(x, np.ones((5, 2)), lr="1e-3", verbose=False)
    assert Network(np.float32(0.5)).dt == 0.5 and Network(np.array(0.25)).dt == 0.25


def test_absurd_step_counts_are_clear_errors(rng):
    net = _li()
    for kwargs, name in (({"sampling_steps": 10**30}, "sampling_steps"),
                         ({"cutoff": 10**30}, "cutoff")):  # fmt: skip
        with pytest.raises(NetworkError, match=rf"{name} must be at most 2\*\*62, got 10{{30}}"):
            net.run(np.ones((3, 3)), verbose=False, **kwargs)
    with pytest.raises(NetworkError, match=r"update_steps must be at most 2\*\*62"):
        rls_net(np.eye(6) * 0.1, np.zeros((1, 6))).fit_rls(
            np.ones((3, 2)), np.ones(3), update_steps=10**30, verbose=False
        )
    assert net._runner.step == 0


@pytest.fixture
def rng():
    return np.random.default_rng(2)


# ---- threads ---------------------------------------------------------------------------------
def test_a_network_runs_one_call_at_a_time_and_refuses_a_second_thread():
    """Two threads, one network: the second call fails at once with a NetworkError instead of
    silently losing an update (before: the step counter counted both runs)."""
    net = _li()
    x = np.ones((7, 3))
    net.run(x, verbose=False)  # compiled before the threads start
    net.reset()
    inside, release = threading.Event(), threading.Event()
    execute = net._runner.execute

    def slow_execute(*args, **kwargs):
        inside.set()
        release.wait(30)
        return execute(*args, **kwargs)

    net._runner.execute = slow_execute
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("a", net.run(x, verbose=False)))
    first.start()
    assert inside.wait(30)
    errors = []
    for call in (lambda: net.run(x, verbose=False), lambda: net.set_var("li", "tau", 5.0),
                 lambda: net.reset(), lambda: net.add_func_node("late", 3)):  # fmt: skip
        second = threading.Thread(target=lambda c=call: _catch(c, errors))
        second.start()
        second.join(30)
    release.set()
    first.join(30)
    del net._runner.execute
    assert len(errors) == 4
    assert all(isinstance(e, NetworkError) and "busy with run() in another thread" in str(e)
               for e in errors)  # fmt: skip
    assert net._runner.step == 7 and net.nodes == ["li"]
    assert net.get_var("li", "tau").tolist() == [10.0] * 3
    # the run itself is exact: v' = -v/tau + 1 from 0, Euler with dt = 0.1, tau = 10
    v, ref = 0.0, []
    for _ in range(7):
        ref.append(v)
        v += 0.1 * (-v / 10.0 + 1.0)
    np.testing.assert_allclose(results["a"]["out"][:, 0], ref, rtol=1e-12)


def _catch(call, errors):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - collected and checked by the test
        errors.append(exc)


def test_copies_of_a_busy_network_run_on_their_own():
    import copy
    import pickle

    net = _li()
    net.run(np.ones((2, 3)), verbose=False)
    held, done = threading.Event(), threading.Event()

    def hold():  # another thread keeps the original busy
        with net._call_lock:
            held.set()
            done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    try:
        with pytest.raises(NetworkError, match="busy"):
            net.run(np.ones((2, 3)), verbose=False)
        twins = [copy.deepcopy(net), pickle.loads(pickle.dumps(net))]
        outs = [t.run(np.ones((2, 3)), verbose=False)["out"] for t in twins]
    finally:
        done.set()
        holder.join(30)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], net.run(np.ones((2, 3)), verbose=False)["out"])


def test_a_network_cannot_be_copied_while_another_thread_trains_it_in_place():
    """fit_rls (and fit_bptt) update the weights in place while they run: a copy or pickle from
    another thread meanwhile is refused (it would hold part-trained weights); the busy message
    names the training call (it said 'fit()' for every trainer); after the call copies work."""
    import copy
    import pickle

    net = _li()
    net.add_func_node("out", 1)
    net.add_edge("li", "out", train="rls")
    x, y = np.ones((6, 3)), np.ones((6, 1))
    net.fit_rls(x, y, verbose=False)  # compiled before the threads start
    inside, release = threading.Event(), threading.Event()
    execute = net._runner.execute

    def slow_execute(*args, **kwargs):
        inside.set()
        release.wait(30)
        return execute(*args, **kwargs)

    net._runner.execute = slow_execute
    trainer = threading.Thread(target=lambda: net.fit_rls(x, y, verbose=False))
    trainer.start()
    try:
        assert inside.wait(30)
        for attempt in (lambda: copy.deepcopy(net), lambda: pickle.dumps(net)):
            with pytest.raises(NetworkError, match=r"while fit_rls\(\) in another thread updates"):
                attempt()
        with pytest.raises(NetworkError, match=r"busy with fit_rls\(\) in another thread"):
            net.run(x, verbose=False)
    finally:
        release.set()
        trainer.join(30)
        del net._runner.execute
    twin = copy.deepcopy(net)
    np.testing.assert_array_equal(twin.get_edge("li", "out").weights,
                                  net.get_edge("li", "out").weights)  # fmt: skip
    assert [Network.fit_rls.__name__, Network.fit_bptt.__name__] == ["fit_rls", "fit_bptt"]
