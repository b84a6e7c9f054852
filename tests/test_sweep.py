"""Parameter sweeps (rectinumba.sweep): every point against the same point run alone on a copy of
the network (bit for bit), blow-ups, reductions against numpy, labels, and the executors (a
process pool, a Dask LocalCluster with a lost worker, MPI when mpi4py is installed)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pickle
import sys
import threading
import time

import numpy as np
import pytest

from rectinumba import Network, sweep
from rectinumba.errors import NetworkError, SimulationError
from rectinumba.sweeps import SweepResult

QIF = "model_templates.spiking_neurons.qif.qif"
LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
QIF_EI = "model_templates.neural_mass_models.qif.qif_ei"
N = 5
#: one record set for every QIF run: the recorded variables are part of the kernel, so the tests
#: share two compiled kernels (batched and single-trial) instead of compiling one per record set
REC = [("rnn", "v"), ("rnn", "s", True)]


def qif_net(threshold: float = 100.0) -> Network:
    J = np.random.default_rng(1).standard_normal((N, N)) * 2.0
    return Network.from_yaml(
        QIF, weights=J, source_var="s", target_var="s_in", input_var="I_ext", output_var="s",
        spike_var="spike", spike_def="v", op="qif_op", dt=1e-2,
        spike_threshold=threshold, spike_reset=-threshold,
    )  # fmt: skip


def two_node_net() -> Network:
    """inp (identity, 2 units) -> rnn (LI/tanh, 4 neurons, coupled through tanh)."""
    rng = np.random.default_rng(2)
    net = Network(dt=1e-2)
    net.add_func_node("inp", 2)
    net.add_diffeq_node(
        "rnn", LI_TANH, weights=rng.standard_normal((4, 4)), source_var="tanh_op/r",
        target_var="li_op/r_in", input_var="li_op/I_ext", output_var="li_op/v",
    )  # fmt: skip
    net.add_edge("inp", "rnn", weights=rng.standard_normal((4, 2)))
    return net


def alone(net: Network, values: dict, inputs, **run_kwargs):
    """One point on a copy of ``net``, the way a user would run it without sweep."""
    copy = pickle.loads(pickle.dumps(net))
    for (label, var), value in values.items():
        if var == "weights" and "->" in label:
            copy.get_edge(*label.split("->")).scale_weights(value)
        elif var == "weights":
            copy.set_var(label, "weights", copy.get_var(label, "weights") * value)
        else:
            copy.set_var(label, var, value)
    return copy.run(inputs, verbose=False, **run_kwargs)


@pytest.fixture(scope="module")
def qif_inputs():
    return np.random.default_rng(3).normal(0.0, 3.0, (200, N))


@pytest.fixture(scope="module")
def qif_grid(qif_inputs):
    """A 3 x 2 grid over eta and a factor on J, raw recordings, run here."""
    params = {"eta": [-5.0, 2.0, 20.0], "rnn/weights": [0.5, 3.0]}
    kw = dict(record_vars=REC, batch_size=2, progress=False)
    return params, kw, sweep(qif_net(), params, qif_inputs, output="numpy", **kw)


# ---- local sweeps equal single runs --------------------------------------------------------------
def test_local_grid_equals_points_run_one_by_one(qif_grid, qif_inputs):
    params, kw, res = qif_grid
    net = qif_net()
    assert isinstance(res, SweepResult) and res.shape == (3, 2) and res.ok.all()
    # two J groups of 3 points, batch_size 2: chunks of 2 and 1 per group
    assert res.attrs["chunks"] == 4
    for i, eta in enumerate(params["eta"]):
        for j, scale in enumerate(params["rnn/weights"]):
            obs = alone(net, {("rnn", "eta"): eta, ("rnn", "weights"): scale}, qif_inputs,
                        record_vars=kw["record_vars"])  # fmt: skip
            assert np.array_equal(res["out"][i, j], obs["out"])
            assert np.array_equal(res["rnn/v"][i, j], obs[("rnn", "v")])
            assert np.array_equal(res["rnn/s"][i, j], obs[("rnn", "s")])
    assert res["out"][2, 1].any(), "the eta=20 points spike: the comparison sees spikes"
    assert res.dims == {
        "out": ("time", "out/unit"),
        "rnn/v": ("time", "rnn/neuron"),
        "rnn/s": ("time",),
    }
    assert np.allclose(res.coords["time"], np.arange(200) * 1e-2)
    # the user's network is untouched
    assert np.array_equal(net.get_var("rnn", "eta"), np.full(N, -5.0))


def test_table_with_per_neuron_initial_states_edges_inputs_and_a_running_network():
    """A table (one row per point): per-neuron initial states (P, N), a factor on an edge and on
    the inputs; the network has run before, so every point continues from its state and time."""
    net = two_node_net()
    rng = np.random.default_rng(4)
    net.run(rng.standard_normal((30, 2)), verbose=False)
    x = rng.standard_normal((120, 2))
    P = 5
    table = {
        "rnn/li_op/v": rng.normal(0, 1, (P, 4)),
        "rnn/tau": [1.0, 2.0, 3.0, 2.0, 0.5],
        "inp->rnn": [1.0, 0.0, 2.0, 1.0, 2.0],
        "inputs": [1.0, 1.0, -1.0, 0.5, 3.0],
    }
    kw = dict(sampling_steps=3, cutoff=10, final_state=True, progress=False, output="numpy")
    res = sweep(net, table, x, product=False, record_vars=[("rnn", "tanh_op/r")], batch_size=8,
                **kw)  # fmt: skip
    assert res.shape == (P,) and res.axes is None and res.ok.all()
    assert res.attrs["chunks"] == 3  # edge factors 1, 0, 2: three groups
    for p in range(P):
        obs = alone(
            net,
            {("rnn", "li_op/v"): table["rnn/li_op/v"][p], ("rnn", "tau"): table["rnn/tau"][p],
             ("inp->rnn", "weights"): table["inp->rnn"][p]},
            x * table["inputs"][p], record_vars=[("rnn", "tanh_op/r")], sampling_steps=3,
            cutoff=10,
        )  # fmt: skip
        assert np.array_equal(res.data["out"][p], obs["out"])
        assert np.array_equal(res.data["rnn/tanh_op/r"][p], obs[("rnn", "tanh_op/r")])
    # the final state of the last point, against a copy run the same way
    copy = pickle.loads(pickle.dumps(net))
    copy.set_var("rnn", "li_op/v", table["rnn/li_op/v"][-1])
    copy.set_var("rnn", "tau", 0.5)
    copy.get_edge("inp", "rnn").scale_weights(2.0)
    copy.run(x * 3.0, verbose=False)
    assert np.array_equal(res.data["final:rnn/li_op/v"][-1], copy.get_var("rnn", "li_op/v"))
    assert res.dims["final:rnn/li_op/v"] == ("rnn/neuron",)


def test_long_runs_are_split_into_segments_with_the_same_results(qif_grid, qif_inputs,
                                                                 monkeypatch):  # fmt: skip
    from rectinumba.sweeps import worker

    params, kw, res = qif_grid
    monkeypatch.setattr(worker, "INPUT_BYTES", 2 * N * 8 * 7)  # 7 steps per segment
    kw = dict(kw, sampling_steps=4, cutoff=5)
    split = sweep(qif_net(), params, qif_inputs, output="numpy", **kw)
    for name in ("out", "rnn/v", "rnn/s"):
        assert np.array_equal(split.data[name], res.data[name][:, 5::4])


# ---- blow-ups ------------------------------------------------------------------------------------
def test_blow_up_points_are_recorded_and_the_others_complete(qif_inputs):
    """QIF without a reachable threshold: eta = 1e4 drives v to inf within a few steps."""
    net = qif_net(threshold=1e300)
    etas = np.array([-5.0, 1e4, -4.0, 1e4, -3.0, -2.0, 1e4])
    res = sweep(net, {"eta": etas}, qif_inputs, product=False, record_vars=REC,
                batch_size=4, progress=False, output="numpy")  # fmt: skip
    bad = etas > 0
    assert np.array_equal(res.ok, ~bad)
    for i in np.flatnonzero(bad):
        assert "'qif_op/v' of node 'rnn' became non-finite" in res.errors[i]
        assert np.isnan(res.data["out"][i]).all() and np.isnan(res.data["rnn/v"][i]).all()
    for i in np.flatnonzero(~bad):
        obs = alone(net, {("rnn", "eta"): etas[i]}, qif_inputs, record_vars=REC)
        assert np.array_equal(res.data["rnn/v"][i], obs[("rnn", "v")])
    # the step in the reason counts from the start of the point's run, also across segments
    single = SimulationError
    with pytest.raises(single) as info:
        alone(net, {("rnn", "eta"): 1e4}, qif_inputs, record_vars=REC)
    assert f"at step {info.value.trials[0]['step']} " in res.errors[1]


def test_batched_simulation_error_lists_every_failed_trial(qif_inputs):
    net = qif_net(threshold=1e300)
    net.set_var("rnn", "eta", np.array([-5.0, 1e4, -4.0, 1e4])[:, None])
    x = np.broadcast_to(qif_inputs, (4,) + qif_inputs.shape)
    state = net.state
    with pytest.raises(SimulationError, match=r"trial 1\) and in 1 other trial") as info:
        net.run(x, verbose=False, record_vars=REC)
    assert sorted(info.value.trials) == [1, 3]
    assert info.value.trials[3]["variable"] == "qif_op/v"
    assert "trial" not in info.value.trials[3]["message"]
    assert np.array_equal(net.state["rnn"], state["rnn"])
    # the error pickles with its trials (workers send it to the client)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.trials == info.value.trials and str(again) == str(info.value)


def test_network_pickles_after_a_batched_run(qif_inputs):
    net = qif_net()
    x = np.broadcast_to(qif_inputs, (2,) + qif_inputs.shape)
    net.run(x, verbose=False, record_vars=REC)
    copy = pickle.loads(pickle.dumps(net))
    assert np.array_equal(copy.state["rnn"], net.state["rnn"])
    again = copy.run(x, verbose=False, record_vars=REC)["out"]
    assert np.array_equal(again, net.run(x, verbose=False, record_vars=REC)["out"])


# ---- reductions ----------------------------------------------------------------------------------
def test_statistics_over_time_equal_numpy_on_the_raw_recordings(qif_grid, qif_inputs,
                                                                monkeypatch):  # fmt: skip
    from rectinumba.sweeps import worker

    params, kw, raw = qif_grid
    monkeypatch.setattr(worker, "INPUT_BYTES", 2 * N * 8 * 9)  # streamed over 9-step segments
    stats = ("mean", "std", "min", "max", "last")
    res = sweep(qif_net(), params, qif_inputs, reduce=stats, output="numpy", **kw)
    assert res.dims["rnn/v"] == ("stat", "rnn/neuron") and res.dims["rnn/s"] == ("stat",)
    assert list(res.coords["stat"]) == list(stats)
    for name in ("out", "rnn/v", "rnn/s"):
        r = raw.data[name]
        expect = [r.mean(1), r.std(1), r.min(1), r.max(1), r[:, -1]]
        for k, e in enumerate(expect):
            assert np.allclose(res.data[name][:, k], e, rtol=1e-12, atol=1e-12), (name, stats[k])
    one = sweep(qif_net(), params, qif_inputs, reduce="mean", output="numpy", **kw)
    assert np.allclose(one.data["rnn/s"], raw.data["rnn/s"].mean(1), rtol=1e-12)
    assert one.dims["rnn/s"] == ()


def test_reduce_function_receives_the_chunk_observer(qif_grid, qif_inputs):
    params, kw, raw = qif_grid
    seen = []

    def rate(obs):
        seen.append(obs.n_trials)
        return {"rate": obs[("rnn", "s")].mean(axis=1), "peak": obs["out"].max(axis=(1, 2)) > 0}

    res = sweep(qif_net(), params, qif_inputs, reduce=rate, output="numpy", **kw)
    assert sorted(seen) == [2, 2, 2, 2]  # single points run as two identical trials
    assert np.array_equal(res.data["rate"], raw.data["rnn/s"].mean(1))
    assert res.data["peak"].dtype == np.float64  # stored as float: failed points are NaN
    assert np.array_equal(res.data["peak"], raw.data["out"].max(axis=(1, 2)) > 0)
    assert res.dims["rate"] == ()


# ---- labels, order, progress ---------------------------------------------------------------------
def test_xarray_dataset_is_labelled_by_parameter_values(qif_grid, qif_inputs):
    xr = pytest.importorskip("xarray")
    params, kw, raw = qif_grid
    ds = sweep(qif_net(), params, qif_inputs, output="xarray", **kw)
    assert isinstance(ds, xr.Dataset)
    assert ds["out"].dims == ("eta", "rnn/weights", "time", "out/unit")
    assert ds["rnn/s"].dims == ("eta", "rnn/weights", "time")
    point = ds["rnn/v"].sel({"eta": 20.0, "rnn/weights": 0.5}).values
    assert np.array_equal(point, raw["rnn/v"][2, 0])
    assert ds["ok"].all() and (ds["error"] == "").all()
    assert ds.attrs["chunks"] == 4 and ds.attrs["steps"] == 200
    kw = dict(product=False, record_vars=REC, reduce="mean", progress=False, output="xarray")
    tab = sweep(qif_net(), {"eta": [1.0, 2.0], "v": np.zeros((2, N))}, qif_inputs, **kw)
    assert tab["out"].dims == ("point", "out/unit")
    assert tab["v"].dims == ("point", "rnn/neuron")
    assert list(tab["eta"].values) == [1.0, 2.0]


class ReversingExecutor(cf.Executor):
    """Runs what was submitted in a background thread, the last submitted first."""

    def __init__(self):
        self.queue, self.order = [], []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.stopped = False
        self.thread.start()

    def submit(self, fn, *args, **kwargs):
        future = cf.Future()
        with self.lock:
            self.queue.append((future, fn, args, kwargs))
        return future

    def _work(self):
        while not self.stopped:
            time.sleep(0.05)
            with self.lock:
                jobs, self.queue = self.queue[::-1], []
            for future, fn, args, kwargs in jobs:
                self.order.append(args[0].number)
                future.set_result(fn(*args, **kwargs))

    def shutdown(self, wait=True, **kwargs):
        self.stopped = True


def test_results_are_in_point_order_whatever_the_completion_order(qif_grid, qif_inputs):
    params, kw, raw = qif_grid
    ex = ReversingExecutor()
    try:
        res = sweep(qif_net(), params, qif_inputs, executor=ex, output="numpy", **kw)
    finally:
        ex.shutdown()
    assert ex.order == [3, 2, 1, 0]
    for name in raw.data:
        assert np.array_equal(res.data[name], raw.data[name])


def test_progress_bar_counts_chunks(qif_inputs, capsys):
    kw = dict(batch_size=2, record_vars=REC, reduce="mean", progress=True, output="numpy")
    sweep(qif_net(), {"eta": [1.0, 2.0, 3.0]}, qif_inputs, **kw)
    err = capsys.readouterr().err
    assert "sweep" in err and "2/2" in err


# ---- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "kwargs", "match"),
    [
        ({"nope/eta": [1.0]}, {}, r"'nope/eta'.*'eta'.*not|'nope/eta'"),
        ({"rnn/qif_op/spike": [1.0]}, {}, r"sweep parameter 'rnn/qif_op/spike'"),
        ({"seed": [1, 2]}, {}, r"'seed' gives each point its noise seed, but no model"),
        ({"eta": [1.0, np.nan]}, {}, r"'eta': values must be finite; entry 1"),
        ({"eta": [[1.0, 2.0]]}, {}, r"'eta': expected a 1-D array"),
        ({"eta": []}, {}, r"'eta' has no values"),
        ({"eta": ["a"]}, {}, r"'eta': values must be real numbers"),
        ({"eta": [1.0], "rnn/eta": [2.0]}, {}, r"'eta' and 'rnn/eta' set the same thing"),
        ({"eta": [1.0], "tau": [1.0, 2.0]}, {"product": False}, r"one value per point"),
        ({"eta": [1.0], "rnn->rnn": [1.0]}, {}, r"no edge 'rnn' -> 'rnn'"),
        ({}, {}, r"params is empty"),
        ({"eta": [1.0]}, {"batch_size": 0}, r"batch_size must be a positive integer"),
        ({"eta": [1.0]}, {"reduce": "median"}, r"reduce must be None, one of"),
        ({"eta": [1.0]}, {"output": "pandas"}, r"output must be one of"),
        ({"eta": [1.0]}, {"executor": object()}, r"executor must be None, a concurrent"),
        ({"eta": [1.0]}, {"steps": 7}, r"steps=7 but inputs have 200 steps"),
        ({"eta": [1.0]}, {"record_vars": [("rnn", "nope")]}, r"nope"),
        ({"eta": [1.0]}, {"reduce": "mean", "cutoff": 500}, r"leaves no recording"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(qif_inputs, params, kwargs, match):
    net = qif_net()
    with pytest.raises(NetworkError, match=match):
        sweep(net, params, qif_inputs, progress=False, **kwargs)


def test_bad_inputs_are_refused(qif_inputs):
    net = qif_net()
    with pytest.raises(NetworkError, match=r"give inputs, or steps"):
        sweep(net, {"eta": [1.0]}, progress=False)
    with pytest.raises(NetworkError, match=r"shape \(T, 5\).*\(2, 200, 5\).*function of the point"):
        sweep(net, {"eta": [1.0]}, np.stack([qif_inputs] * 2), progress=False)
    with pytest.raises(NetworkError, match=r"inputs function returned shape \(200, 3\)"):
        sweep(net, {"eta": [1.0, 2.0]}, lambda p: np.zeros((200, 3)), progress=False)
    with pytest.raises(NetworkError, match=r"sweep needs a rectinumba Network, got dict"):
        sweep({}, {"eta": [1.0]}, qif_inputs)


def test_inputs_function_of_the_point(qif_inputs):
    net = qif_net()
    amp = [0.5, 2.0, 1.0]
    res = sweep(net, {"eta": [-1.0, 3.0, 4.0], "k": amp}, lambda p: qif_inputs * p["k"],
                product=False, record_vars=REC, progress=False,
                output="numpy")  # fmt: skip
    for i in range(3):
        obs = alone(net, {("rnn", "eta"): [-1.0, 3.0, 4.0][i], ("rnn", "k"): amp[i]},
                    qif_inputs * amp[i], record_vars=REC)  # fmt: skip
        assert np.array_equal(res.data["rnn/v"][i], obs[("rnn", "v")])


# ---- executors -----------------------------------------------------------------------------------
def worker_pid(obs):
    """A reduce function importable by process-pool workers: the worker's pid and the mean v."""
    return {"pid": np.full(obs.n_trials, os.getpid()), "v": obs[("rnn", "v")].mean(axis=1)}


def test_process_pool_equals_local_and_reduces_on_the_workers(qif_grid, qif_inputs):
    params, kw, raw = qif_grid
    ctx = multiprocessing.get_context("spawn")  # numba's OpenMP threads do not survive fork
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        res = sweep(qif_net(), params, qif_inputs, executor=ex, reduce=worker_pid,
                    output="numpy", **kw)  # fmt: skip
    assert np.array_equal(res.data["v"], raw.data["rnn/v"].mean(axis=1))
    pids = set(res.data["pid"].ravel().astype(int))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GNU OpenMP and fork: Linux")
def test_a_forking_process_pool_is_refused_before_any_chunk_is_sent(qif_inputs, monkeypatch):
    """Linux's default ProcessPoolExecutor() forks; GNU OpenMP kills every forked child that
    uses it, and the sweep used to fail with a bare BrokenProcessPool after the first chunks."""
    from rectinumba.sweeps import engines

    monkeypatch.setattr(engines, "_threading_layer", lambda: "omp")  # numba's usual layer
    kw = dict(record_vars=REC, batch_size=2, progress=False, output="numpy")
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as ex:
        msg = r"(?s)forks its workers.*OpenMP.*hint: .*get_context\('spawn'\)"
        with pytest.raises(NetworkError, match=msg):
            sweep(qif_net(), {"eta": [-5.0, 2.0]}, qif_inputs, executor=ex, **kw)
        assert not ex._processes  # refused before anything was submitted
        monkeypatch.setattr(engines, "_threading_layer", lambda: "tbb")  # tbb survives fork
        engines.check_fork_safety(ex)
    spawn = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    monkeypatch.setattr(engines, "_threading_layer", lambda: "omp")
    engines.check_fork_safety(spawn)  # a spawning pool starts clean processes
    spawn.shutdown()


@pytest.mark.nocompile
def test_functions_a_process_pool_cannot_send_are_refused_by_argument_name(qif_inputs):
    """pickle cannot send a lambda or a nested function: the pool raised a bare PicklingError
    from its feeder thread; now the sweep names the argument before anything runs."""
    from rectinumba.sweeps import engines

    def nested(obs):
        return obs["out"].mean(axis=(1, 2))

    ex = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        with pytest.raises(NetworkError, match=r"(?s)the inputs function '.*<lambda>' cannot be "
                           r"pickled.*hint: define it at module level"):  # fmt: skip
            sweep(qif_net(), {"eta": [1.0]}, lambda p: qif_inputs, executor=ex, progress=False)
        with pytest.raises(NetworkError, match=r"the reduce function '.*nested' cannot be"):
            sweep(qif_net(), {"eta": [1.0]}, qif_inputs, executor=ex, reduce=nested,
                  progress=False)  # fmt: skip
        assert not ex._processes  # nothing was started
        engines.check_picklable(ex, {"reduce": worker_pid, "inputs": qif_inputs})  # module level
        engines.check_picklable(None, {"reduce": nested})  # runs here: nothing is pickled
    finally:
        ex.shutdown()


def test_mpi_pool_equals_local(qif_grid, qif_inputs):
    futures = pytest.importorskip(
        "mpi4py.futures", reason="the mpi extra (mpi4py) is not installed"
    )
    params, kw, raw = qif_grid
    env = {"RECTINUMBA_CACHE_DIR": os.environ.get("RECTINUMBA_CACHE_DIR", "")}
    with futures.MPIPoolExecutor(2, path=list(sys.path), env=env) as ex:
        res = sweep(qif_net(), params, qif_inputs, executor=ex, reduce=worker_pid,
                    output="numpy", **kw)  # fmt: skip
    assert np.array_equal(res.data["v"], raw.data["rnn/v"].mean(axis=1))
    assert os.getpid() not in set(res.data["pid"].ravel().astype(int))


@pytest.fixture(scope="module")
def dask_client(tmp_path_factory):
    distributed = pytest.importorskip("distributed")
    from rectinumba.codegen.cache import cache_dir

    # workers share this process's kernel folder: they load the kernel the client compiled
    env = {"RECTINUMBA_CACHE_DIR": str(cache_dir()), "NUMBA_NUM_THREADS": "1"}
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env=env,
        silence_logs=40,
    )  # fmt: skip
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_local_cluster_equals_local_and_compiles_once_per_worker(
    qif_grid, qif_inputs, dask_client
):
    params, kw, raw = qif_grid
    res = sweep(qif_net(), params, qif_inputs, executor=dask_client, output="numpy", **kw)
    for name in raw.data:
        assert np.array_equal(res.data[name], raw.data[name])

    def kernels():
        from rectinumba.backends.cpu import _compiled
        from rectinumba.codegen.cache import _loaded

        info = _compiled.cache_info()
        stats = [m.kernel.stats for m in _loaded.values()]
        return {
            "specs": info.misses,
            "reused": info.hits,
            "disk_hits": sum(sum(s.cache_hits.values()) for s in stats),
            "compiled": sum(sum(s.cache_misses.values()) for s in stats),
        }

    per_worker = dask_client.run(kernels)
    ran = [w for w in per_worker.values() if w["specs"]]
    assert ran, per_worker
    for w in ran:
        # one kernel per worker, loaded from the shared disk cache, reused by later chunks
        assert w["specs"] == 1 and w["compiled"] == 0 and w["disk_hits"] >= 1, per_worker
    assert sum(w["reused"] for w in ran) == 4 - len(ran)  # four chunks in all


def _die_first(markers):
    """A reduce function whose first ``len(markers)`` calls (in any worker) kill their worker:
    each call claims a marker file atomically (O_EXCL), so two workers never both take one."""

    def reduce(obs):
        for marker in markers:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                continue
            os._exit(1)  # the worker process is lost in the middle of a chunk
        return {"v": obs[("rnn", "v")].mean(axis=1)}

    return reduce


def test_dask_retries_the_chunk_of_a_lost_worker(qif_grid, qif_inputs, dask_client, tmp_path):
    params, kw, raw = qif_grid
    marker = str(tmp_path / "killed-once")
    res = sweep(qif_net(), params, qif_inputs, executor=dask_client, reduce=_die_first([marker]),
                output="numpy", **kw)  # fmt: skip
    assert os.path.exists(marker)
    assert np.array_equal(res.data["v"], raw.data["rnn/v"].mean(axis=1))


def test_dask_sends_the_network_again_when_every_worker_holding_it_was_lost(
    qif_grid, qif_inputs, dask_client, tmp_path
):
    """Both workers die (one after the other or together): the scattered network is gone with
    them, and Dask cancels the chunks that need it (the sweep failed with a bare CancelledError).
    The sweep scatters it again to the restarted workers and resubmits those chunks."""
    params, kw, raw = qif_grid
    markers = [str(tmp_path / f"killed-{k}") for k in range(2)]
    res = sweep(qif_net(), params, qif_inputs, executor=dask_client, reduce=_die_first(markers),
                output="numpy", **kw)  # fmt: skip
    assert all(os.path.exists(m) for m in markers)
    assert np.array_equal(res.data["v"], raw.data["rnn/v"].mean(axis=1))


def test_dataframe_table_and_numpy_result_without_xarray(qif_grid, qif_inputs, monkeypatch):
    pd = pytest.importorskip("pandas")
    import importlib.util

    params, kw, raw = qif_grid
    frame = pd.DataFrame({"eta": [-5.0, 20.0], "rnn/weights": [0.5, 3.0]})
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "xarray" else find_spec(name)
    )
    res = sweep(qif_net(), frame, qif_inputs, **kw)  # output="auto" without xarray: numpy
    assert isinstance(res, SweepResult) and res.axes is None and res.shape == (2,)
    assert np.array_equal(res.data["rnn/v"][0], raw["rnn/v"][0, 0])
    assert np.array_equal(res.data["rnn/v"][1], raw["rnn/v"][2, 1])
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray now fails
    with pytest.raises(ImportError, match=r"pip install rectinumba\[xarray\]"):
        res.to_xarray()
    with pytest.raises(NetworkError, match="a DataFrame is a table of points"):
        sweep(qif_net(), frame, qif_inputs, product=True, **kw)


def test_raw_recordings_that_cannot_fit_are_refused(qif_inputs, monkeypatch):
    from rectinumba.sweeps import driver

    monkeypatch.setattr(driver, "_available_memory", lambda: 10_000)
    net = qif_net()
    # 4 points x 200 recordings x (5 outputs + 5 v + 1 mean s) x 8 bytes = 70,400 bytes
    match = r"(?s)11 values need 0\.07 MB, more than the 0\.01 MB.*hint: reduce on the workers"
    with pytest.raises(NetworkError, match=match):
        sweep(net, {"eta": [1.0, 2.0, 3.0, 4.0]}, qif_inputs, record_vars=REC, progress=False)
    res = sweep(net, {"eta": [1.0, 2.0, 3.0, 4.0]}, qif_inputs, record_vars=REC, reduce="max",
                progress=False, output="numpy")  # fmt: skip
    assert res.data["rnn/v"].shape == (4, N)


def test_edge_scale_weights_keeps_the_storage_and_the_mask():
    import scipy.sparse as sp

    net = two_node_net()
    w = net.get_edge("inp", "rnn").weights.copy()
    net.get_edge("inp", "rnn").scale_weights(-2.5)
    assert np.array_equal(net.get_edge("inp", "rnn").weights, w * -2.5)
    with pytest.raises(NetworkError, match=r"'inp' -> 'rnn': scale_weights needs a finite number"):
        net.get_edge("inp", "rnn").scale_weights(np.inf)
    net = Network(dt=1e-2)
    net.add_func_node("a", 200)
    net.add_func_node("b", 100)
    W = sp.random(100, 200, density=0.05, format="csr", random_state=0)
    mask = np.where(np.arange(200) % 2, 0.5, 1.0)[None, :].repeat(100, axis=0)
    net.add_edge("a", "b", weights=W, mask=mask)
    edge = net.get_edge("a", "b")
    assert edge.fmt == "csr"
    edge.scale_weights(3.0)  # the mask is applied once, at add_edge
    assert edge.fmt == "csr"
    assert np.allclose(edge.weights.toarray(), W.toarray() * mask * 3.0, rtol=1e-15, atol=0)
    edge.scale_weights(0.0)  # the CSR structure stays: the compiled kernel stays valid
    assert edge.fmt == "csr" and not edge.weights.toarray().any()


# ---- noise seeds ---------------------------------------------------------------------------------
OU = "model_templates.rate_neurons.ornstein_uhlenbeck.ou"


def ou_net() -> Network:
    net = Network(1e-2, seed=77)
    net.add_diffeq_node("ou", OU, N=3, input_var="I_ext", output_var="x",
                        node_vars={"tau": 0.2})  # fmt: skip
    return net


#: a table of (tau, seed) points: two points share a seed, two a tau
OU_POINTS = {"tau": np.array([0.2, 0.2, 0.5, 0.5, 0.3]), "seed": np.array([1, 2, 2, 3, 1])}


@pytest.fixture(scope="module")
def ou_local():
    return sweep(ou_net(), OU_POINTS, steps=60, product=False, batch_size=2, output="numpy")


def test_a_point_of_a_noisy_sweep_depends_on_its_seed_alone(ou_local):
    x = ou_local.data["out"]
    again = sweep(ou_net(), OU_POINTS, steps=60, product=False, batch_size=3, output="numpy")
    assert np.array_equal(again.data["out"], x)  # other chunks: the same noise
    # the point run alone with run(seed=...) on a copy
    for i in (0, 3):
        copy = ou_net()
        copy.set_var("ou", "tau", OU_POINTS["tau"][i])
        alone_x = copy.run(np.zeros((60, 3)), verbose=False, seed=int(OU_POINTS["seed"][i]))
        assert np.array_equal(x[i], alone_x["out"])
    assert not np.allclose(x[0], x[4])  # same seed, another tau
    # without a seed column, point p's seed is point_seed(net.seed, p), whatever the chunks
    grid = {"tau": np.array([0.2, 0.3, 0.4])}
    a = sweep(ou_net(), grid, steps=30, batch_size=1, output="numpy").data["out"]
    b = sweep(ou_net(), grid, steps=30, batch_size=3, output="numpy").data["out"]
    assert np.array_equal(a, b)
    from rectinumba.sweeps.params import point_seed

    copy = ou_net()
    copy.set_var("ou", "tau", 0.3)
    ref = copy.run(np.zeros((30, 3)), verbose=False, seed=point_seed(77, 1))["out"]
    assert np.array_equal(a[1], ref)


def test_noisy_sweeps_on_a_process_pool_equal_local(ou_local):
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
        res = sweep(ou_net(), OU_POINTS, steps=60, product=False, batch_size=2, executor=ex,
                    output="numpy")  # fmt: skip
    assert np.array_equal(res.data["out"], ou_local.data["out"])


def test_noisy_sweeps_on_dask_equal_local(ou_local, dask_client):
    res = sweep(ou_net(), OU_POINTS, steps=60, product=False, batch_size=2,
                executor=dask_client, output="numpy")  # fmt: skip
    assert np.array_equal(res.data["out"], ou_local.data["out"])


@pytest.mark.nocompile
def test_seed_columns_are_checked():
    with pytest.raises(NetworkError, match="no model of the network has noise"):
        sweep(qif_net(), {"seed": [1, 2]}, steps=5)
    for bad in ([-1], [1.5], [[1, 2]], []):
        with pytest.raises(NetworkError, match="expected one integer 0 <= seed < 2\\*\\*63"):
            sweep(ou_net(), {"seed": bad}, steps=5, product=False)


def test_keys_of_circuit_nodes_whose_labels_hold_slashes():
    """Circuit nodes are labelled "prefix/node" ("jrc1/pc"); "a/b/e/qif_op/eta" used to name no
    node (the key was split at its first '/'). The longest label the key starts with wins, and
    every point equals the point run alone (a label "a" beside "a/b" does not capture it)."""
    net = Network(1e-3)
    net.add_circuit(f"{QIF_EI}", prefix="a/b", input_var="e/qif_op/I_ext")
    net.add_diffeq_node("a", "model_templates.neural_mass_models.qif.qif_pop", N=1,
                        output_var="r")  # fmt: skip
    net.output_node = "a/b/i"
    x = np.full((300, 1), 3.0)
    etas = np.array([-5.0, -2.0])
    res = sweep(net, {"a/b/e/qif_op/eta": etas}, inputs=x, progress=False, output="numpy",
                reduce="last", record_vars=[("a/b/e", "qif_op/r")])  # fmt: skip
    for p, eta in enumerate(etas):
        obs = alone(net, {("a/b/e", "qif_op/eta"): eta}, x, record_vars=[("a/b/e", "qif_op/r")])
        assert np.array_equal(res["a/b/e/qif_op/r"][p], obs[("a/b/e", "qif_op/r")][-1])
    assert abs(res["a/b/e/qif_op/r"][1] - res["a/b/e/qif_op/r"][0]).max() > 1e-3
