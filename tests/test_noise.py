"""White noise ``xi`` (Euler-Maruyama, counter-based Philox streams): the generator against numpy's
Philox, an Ornstein-Uhlenbeck process against the theory of its Euler-Maruyama chain (variance and
autocorrelation within the estimators' standard errors), independence of trials, neurons and
noise names, repeatability on any number of threads, the seed and stream rules, and BPTT with the
noise held fixed against finite differences."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from rectinumba import Network
from rectinumba.codegen.plan import build_plan
from rectinumba.codegen.rng import rng_helpers
from rectinumba.equations import compile_node
from rectinumba.errors import EquationError, NetworkError, SimulationError
from rectinumba.noise import philox4x32, trial_key
from rectinumba.templates import NodeTemplate, OperatorTemplate

DT, TAU, SIGMA, MU = 0.01, 0.1, 0.7, 0.3
N, B, T, CUT = 100, 2, 3000, 200


def ou_template() -> NodeTemplate:
    """x: an OU process (noise xi); y: the same equation (the same noise: y == x); z: an OU
    process driven by an independent noise xi_2; an input I_ext into x."""
    op = OperatorTemplate(
        "ou_op",
        equations=[
            "x' = (mu - x)/tau + sigma*sqrt(2/tau)*xi + I_ext",
            "y' = (mu - y)/tau + sigma*sqrt(2/tau)*xi",
            "z' = (mu - z)/tau + sigma*sqrt(2/tau)*xi_2",
        ],
        variables={"x": "output(0.3)", "y": "variable(0.3)", "z": "variable(0.3)", "mu": MU,
                   "tau": TAU, "sigma": SIGMA, "I_ext": "input(0.0)"},
    )  # fmt: skip
    return NodeTemplate("ou3", operators=[op])


REC = [("ou", "x"), ("ou", "y"), ("ou", "z")]


@pytest.fixture(scope="module")
def ou():
    net = Network(DT, seed=1234)
    net.add_diffeq_node("ou", ou_template(), N=N, input_var="I_ext", output_var="x")
    return net


def run(net, steps, **kwargs):
    obs = net.run(np.zeros((B, steps, N)), verbose=False, record_output=False, record_vars=REC,
                  **kwargs)  # fmt: skip
    return tuple(obs[key] for key in REC)


# ---- the equations and the rules ---------------------------------------------------------------
@pytest.mark.nocompile
@pytest.mark.parametrize(
    "equations, match",
    [
        (["x' = -x", "r = xi"], r"white noise 'xi' may only appear in differential equations"),
        (["x' = sin(xi)"], r"white noise 'xi' must enter the derivative linearly"),
        (["x' = xi*xi_1"], r"must enter the derivative linearly"),
        (["x' = xi*x + xi^2"], r"must enter the derivative linearly"),
        (["x' = mean(xi)"], r"cannot be averaged over the population"),
        (["x' = randn()"], r"unknown function 'randn'[\s\S]*white noise is the variable xi"),
        (["x' = -x + 0.1*normal(0, 1)"], r"unknown function 'normal'[\s\S]*write x' = f \+ g\*xi"),
        (["x' = sinn(x)"], r"unknown function 'sinn'[\s\S]*did you mean sin\(\)\? .*past, real"),
    ],
)
def test_noise_errors_point_at_the_construct(equations, match):
    op = OperatorTemplate("o", equations=equations,
                          variables={"x": "output(0.0)", "r": "variable(0.0)"})
    with pytest.raises(EquationError, match=match):
        compile_node(op)


@pytest.mark.nocompile
def test_noise_names_are_brian2s_and_a_declared_variable_wins():
    model = compile_node(ou_template())
    assert model.noises == ("xi", "xi_2")
    op = OperatorTemplate("o", equations=["x' = -x + xi"], variables={"x": "output(0.0)",
                                                                      "xi": 2.0})
    assert compile_node(op).noises == ()  # xi is a parameter here


@pytest.mark.nocompile
@pytest.mark.parametrize("method", ["heun", "rk4", "exp_euler"])
def test_noise_needs_euler_maruyama(method):
    net = Network(DT, method=method)
    net.add_diffeq_node("ou", ou_template(), N=2, input_var="I_ext", output_var="x")
    spec, _ = net._runner.spec()
    with pytest.raises(EquationError, match=rf"Euler-Maruyama, method='euler'; method='{method}'"):
        build_plan(spec)


@pytest.mark.parametrize("method", ["heun", "exp_euler"])
def test_a_refused_method_changes_nothing_the_noise_stream_included(
    method, snapshot, assert_unchanged
):
    """The refusal comes from the plan, before a kernel is compiled or anything runs."""
    net = Network(DT, method="euler", seed=3)
    net.add_diffeq_node("ou", ou_template(), N=2, input_var="I_ext", output_var="x")
    net.set_var("ou", "x", np.array([0.5, -0.5]))
    net.method = method
    snap, stream = snapshot(net), net._runner.noise.step
    with pytest.raises(EquationError, match=rf"method='{method}' has no SDE scheme"):
        net.run(np.zeros((3, 2)), verbose=False)
    assert_unchanged(net, snap)
    assert net._runner.noise.step == stream


@pytest.mark.nocompile
@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "1", True, [[1, 2]], []])
def test_seeds_are_checked(seed):
    with pytest.raises(NetworkError, match="seed"):
        Network(DT, seed=seed)


# Random123's known answers for philox4x32_10 (kat_vectors): counter, key -> output
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((2**32 - 1,) * 4, (2**32 - 1,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def test_the_generator_is_philox4x32_and_the_normals_its_box_muller():
    from rectinumba.codegen.cache import load_source

    helpers = "\n".join(rng_helpers("@njit(cache=True, error_model='numpy', fastmath=False)"))
    module = load_source("import math\n\nimport numpy as np\nfrom numba import njit\n\n\n"
                         + helpers + "\n", options="test-rng")  # fmt: skip
    for counter, key, answer in KAT:
        words = module._philox(*(np.uint64(v) for v in key + counter))
        assert tuple(int(w) for w in words) == answer == philox4x32(counter, key)
    # normals of (trial key, draw step, neuron, node, block): the polar method on pairs of 53-bit
    # uniforms in (-1, 1), attempt after attempt until one falls inside the unit circle
    key, k, q = 0x0123456789ABCDEF, 2, 1
    retried = 0
    for m, i in [(2**33 + 7, 3)] + [(s, 5) for s in range(40)]:
        for attempt in range(50):
            w = philox4x32((m & 0xFFFFFFFF, m >> 32, i, (k << 16) | (q << 8) | attempt),
                           (key & 0xFFFFFFFF, key >> 32))  # fmt: skip
            u = (((w[0] << 32) | w[1]) >> 11) * 2.0**-52 - 1.0
            v = (((w[2] << 32) | w[3]) >> 11) * 2.0**-52 - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        retried += attempt > 0
        f = np.sqrt(-2.0 * np.log(s) / s)
        np.testing.assert_allclose(module._normals2(np.uint64(key), m, i, k, q), [u * f, v * f],
                                   rtol=1e-14)  # fmt: skip
    assert retried > 0  # the check covered rejected pairs
    assert len({trial_key(5, 1), trial_key(5, 0), trial_key(6, 0)}) == 3


# ---- the Ornstein-Uhlenbeck process --------------------------------------------------------------
def test_ou_statistics_match_the_euler_maruyama_chain(ou):
    ou.seed = 1234
    x, y, z = run(ou, T)
    a = DT / TAU
    rho = 1.0 - a  # x_{n+1} - mu = rho (x_n - mu) + sigma sqrt(2 a) N_n: an AR(1) chain
    var = SIGMA**2 / (1.0 - a / 2.0)  # its stationary variance
    # B*N independent series (trials x neurons), time last
    dev = np.moveaxis(x[:, CUT:] - MU, 1, 2).reshape(-1, T - CUT)
    n_series, n = dev.shape
    # variance: the AR(1) sample variance has variance 2 var^2 (1 + rho^2) / (1 - rho^2) / n
    est = np.mean(dev**2)
    se = np.sqrt(2 * var**2 * (1 + rho**2) / (1 - rho**2) / (n * n_series))
    assert abs(est - var) < 4 * se, (est, var, se)
    # lag-k autocorrelation: Bartlett's variance of r_k for an AR(1) chain
    for k in (1, 5, 20):
        r_k = np.mean(dev[:, k:] * dev[:, :-k]) / est
        var_rk = ((1 + rho**2) * (1 - rho ** (2 * k)) / (1 - rho**2) - 2 * k * rho ** (2 * k)) / n
        se_k = np.sqrt(var_rk / n_series)
        assert abs(r_k - rho**k) < 4 * se_k, (k, r_k, rho**k, se_k)
    # one noise name is one noise (y follows x: x adds an input of 0, a rounding apart), another
    # is independent
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-12)
    limit = 4 / np.sqrt((T - CUT) * (1 - rho) / (1 + rho))  # 4 s.e. of a correlation (AR(1))
    for a_, b_ in [(x[0, CUT:, 0], z[0, CUT:, 0]),  # two noises of one neuron
                   (x[0, CUT:, 0], x[0, CUT:, 1]),  # two neurons
                   (x[0, CUT:, 0], x[1, CUT:, 0])]:  # two trials  # fmt: skip
        assert abs(np.corrcoef(a_, b_)[0, 1]) < limit


def test_the_same_seed_gives_the_same_trajectory_on_any_number_of_threads(ou):
    threads = numba.get_num_threads()
    runs = []
    try:
        for n_threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n_threads)
            ou.reset()
            runs.append(run(ou, 300, seed=99))
    finally:
        numba.set_num_threads(threads)
    for a_, b_ in zip(*runs, strict=True):
        np.testing.assert_array_equal(a_, b_)


def test_the_stream_continues_restarts_with_a_seed_and_survives_failures(ou):
    ou.reset()
    whole = run(ou, 200, seed=7)
    ou.reset()
    ou.seed = 7  # restart the stream
    first, second = run(ou, 80), run(ou, 120)  # no seed: the stream continues
    for w, f, s in zip(whole, first, second, strict=True):
        np.testing.assert_array_equal(np.concatenate([f, s], axis=1), w)
    ou.reset()  # reset() returns the states, not the noise: new draws
    again = run(ou, 200)
    assert np.abs(again[0] - whole[0]).max() > 0.1
    # a run that fails changes neither state nor stream (nor the seed it asked for)
    ou.reset()
    ou.seed = 7
    run(ou, 80)
    state = ou.get_var("ou", "x")
    ou.set_var("ou", "mu", 1e308)  # (mu - x)/tau overflows
    with pytest.raises(SimulationError):
        run(ou, 50, seed=12)
    ou.set_var("ou", "mu", MU)
    assert ou.seed == 7
    np.testing.assert_array_equal(ou.get_var("ou", "x"), state)
    for s, rest in zip(second, run(ou, 120), strict=True):
        np.testing.assert_array_equal(rest, s)


def test_one_seed_per_trial_gives_each_trial_its_own_stream(ou):
    ou.reset()
    x01 = run(ou, 100, seed=[11, 22])[0]
    ou.reset()
    x10 = run(ou, 100, seed=[22, 11])[0]
    np.testing.assert_array_equal(x01[0], x10[1])
    np.testing.assert_array_equal(x01[1], x10[0])
    ou.reset()
    with pytest.raises(NetworkError, match="one seed per trial for 3 trial"):
        ou.run(np.zeros((B, 10, N)), verbose=False, seed=[1, 2, 3])
    assert ou.seed == (22, 11)


# ---- BPTT with the noise held fixed -------------------------------------------------------------
def test_bptt_through_noise_matches_finite_differences_of_the_same_realisation():
    op = OperatorTemplate(
        "m_op",
        equations=["v' = -v/tau + I + sigma*(1 + 0.5*tanh(v))*xi"],  # multiplicative noise
        variables={"v": "output(0.1)", "tau": 0.5, "sigma": 0.3, "I": "input(0.0)"},
    )
    net = Network(DT, seed=5)
    net.add_diffeq_node("m", NodeTemplate("m", operators=[op]), N=3, input_var="I",
                        output_var="v", train_params=["tau", "sigma"])  # fmt: skip
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))

    def loss() -> float:
        net.reset()
        net.seed = 5
        return float(np.mean((net.run(x, verbose=False)["out"] - y) ** 2))

    net.seed = 5
    grads = net.bptt_gradients(x, y)
    for name, arr in net._trainable_arrays().items():
        fd = np.zeros(arr.shape)
        for idx in np.ndindex(arr.shape):
            old, h = arr[idx], 1e-6 * max(1.0, abs(arr[idx]))
            arr[idx] = old + h
            up = loss()
            arr[idx] = old - h
            down = loss()
            arr[idx] = old
            fd[idx] = (up - down) / (2 * h)
        g = np.asarray(grads[name]).reshape(fd.shape)
        assert np.linalg.norm(fd) > 0
        assert np.linalg.norm(g - fd) / np.linalg.norm(fd) < 1e-6, name
