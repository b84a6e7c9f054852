"""Shared test configuration.

- ``simulator_suite``: the CUDA simulator suite, a subprocess started when collection finishes
  (tests/test_cuda_sim.py) so that it runs beside the other tests.
- ``ref``: the numpy reference simulations (tests/numpy_reference.py), written independently of
  rectinumba's code generator.
- Markers (pyproject.toml): ``nocompile`` marks tests that compile no kernel (templates,
  equations, losses, optimizers, observer, utilities, codegen text): ``pytest -m nocompile``
  runs them in seconds. The guard below makes such a test fail if it does compile one.
  ``slow`` marks the few tests that take seconds (subprocesses, notebooks, the CUDA simulator
  suite): ``pytest -m "not slow"`` is the quick loop. ``gpu`` marks tests that need a real GPU.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_REFERENCE = Path(__file__).with_name("numpy_reference.py")


#: the CUDA simulator suite's test (tests/test_cuda_sim.py): it waits for a subprocess
_SIMULATOR_SUITE_TEST = "test_cuda_sim.py::test_simulator_suite"
#: where the running simulator suite is kept between collection and its test
_SIMULATOR_SUITE = pytest.StashKey[object]()


def pytest_collection_modifyitems(session, config, items) -> None:
    """The CUDA simulator suite's test only waits for its subprocess: run it last."""
    waiting = [it for it in items if it.nodeid.endswith(_SIMULATOR_SUITE_TEST)]
    for item in waiting:
        items.remove(item)
        items.append(item)


def pytest_collection_finish(session) -> None:
    """Start the CUDA simulator suite (a subprocess) as soon as it is known to be selected, so
    that it runs beside the other tests instead of after them (tests/test_cuda_sim.py)."""
    if session.config.option.collectonly:
        return
    if any(item.nodeid.endswith(_SIMULATOR_SUITE_TEST) for item in session.items):
        from test_cuda_sim import SimulatorSuite

        session.config.stash[_SIMULATOR_SUITE] = SimulatorSuite()


def pytest_unconfigure(config) -> None:
    """Stop a simulator suite that is still running (an interrupted or failed-early session)."""
    suite = config.stash.get(_SIMULATOR_SUITE, None)
    if suite is not None:
        suite.stop()


@pytest.fixture
def simulator_suite(request):
    """The CUDA simulator suite started at collection (started now if it was not)."""
    suite = request.config.stash.get(_SIMULATOR_SUITE, None)
    if suite is None:
        from test_cuda_sim import SimulatorSuite

        suite = request.config.stash[_SIMULATOR_SUITE] = SimulatorSuite()
    return suite


def _load_reference():
    spec = importlib.util.spec_from_file_location("rectinumba_tests_numpy_reference", _REFERENCE)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def ref():
    """The numpy reference module (plain numpy loops of the step semantics)."""
    return _load_reference()


@pytest.fixture(autouse=True)
def _nocompile_guard(request, monkeypatch):
    """A test marked ``nocompile`` must not load a generated kernel."""
    if request.node.get_closest_marker("nocompile") is None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(
            "a test marked nocompile loaded a generated kernel; drop the marker or the compile"
        )

    from rectinumba.backends.cpu import CPUBackend
    from rectinumba.codegen import cache

    monkeypatch.setattr(cache, "load_source", refuse)  # new kernels, BPTT kernels
    monkeypatch.setattr(CPUBackend, "kernel", refuse)  # kernels compiled by earlier tests too


@pytest.fixture
def snapshot():
    """``snapshot(net)``: a network's step counter, states and node labels, copied."""

    def take(net):
        return net._runner.step, {k: v.copy() for k, v in net.state.items()}, list(net.nodes)

    return take


@pytest.fixture
def assert_unchanged():
    """``assert_unchanged(net, snap)``: the network is as :func:`snapshot` saw it."""

    def check(net, snap) -> None:
        step, state, nodes = snap
        assert net._runner.step == step and list(net.nodes) == nodes
        assert set(net.state) == set(state)
        for label, arr in state.items():
            np.testing.assert_array_equal(net.state[label], arr)

    return check


def _mse(out, y):
    return float(np.mean((out - y) ** 2))


def _fd_gradients(net, x, y, loss=None, state=None, h=1e-6):
    """Central differences of loss(net.run(x)) for every trained array, from ``state``."""
    loss = loss or _mse
    grads = {}
    for name, arr in net._trainable_arrays().items():  # the live arrays, perturbed in place
        g = np.zeros(arr.shape)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            step = h * max(1.0, abs(old))
            vals = []
            for v in (old + step, old - step):
                arr[idx] = v
                net.reset(state)
                vals.append(loss(net.run(x, verbose=False)["out"], y))
            arr[idx] = old
            g[idx] = (vals[0] - vals[1]) / (2 * step)
        grads[name] = g
    net.reset(state)
    return grads


def _assert_close(grads, fd, tol=1e-6):
    assert set(grads) == set(fd)
    for name, g in grads.items():
        f = fd[name].reshape(np.shape(g))
        assert np.linalg.norm(f) > 0, name  # the test must exercise a non-zero gradient
        err = np.linalg.norm(np.asarray(g) - f) / np.linalg.norm(f)
        assert err < tol, (name, err)


@pytest.fixture
def fd_gradients():
    """``fd_gradients(net, x, y, loss=mse, state=None)``: central finite differences of
    ``loss(net.run(x)["out"], y)`` with respect to every array ``net.bptt_parameters()`` names,
    each run from ``net.reset(state)``."""
    return _fd_gradients


@pytest.fixture
def assert_close():
    """``assert_close(grads, fd, tol)``: relative error of every gradient below tol, and no
    finite difference identically zero (the check must exercise a gradient)."""
    return _assert_close
