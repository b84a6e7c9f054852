"""Recording settings (rectinumba.recording.Recording): validation, subsampling, and averaging over
windows (RectiPy 0.12.2's sampling_steps) computed in the kernel, against numpy means of the
full-resolution recordings."""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network
from rectinumba import runner as runner_module
from rectinumba.errors import NetworkError
from rectinumba.recording import Recording

LI_TANH = "model_templates.rate_neurons.leaky_integrator.tanh"
REC = [("rnn", "li_op/v"), ("rnn", "tanh_op/r", True), ("ro", "in")]


def net3(seed=0) -> Network:
    rng = np.random.default_rng(seed)
    net = Network(0.05)
    net.add_func_node("inp", 2)
    net.add_diffeq_node("rnn", LI_TANH, weights=rng.standard_normal((4, 4)),
                        source_var="tanh_op/r", target_var="li_op/r_in", input_var="li_op/I_ext",
                        output_var="li_op/v")  # fmt: skip
    net.add_func_node("ro", 3, "softmax")
    net.add_edge("inp", "rnn", weights=rng.standard_normal((4, 2)))
    net.add_edge("rnn", "ro", weights=rng.standard_normal((3, 4)))
    return net


def window_means(full: np.ndarray, sampling: int, cutoff: int) -> np.ndarray:
    """Means of (..., T, ...) recordings over windows [cutoff + r s, cutoff + (r + 1) s)."""
    T = full.shape[-2] if full.ndim > 1 else full.shape[0]
    axis = full.ndim - 2 if full.ndim > 1 else 0
    starts = range(cutoff, T, sampling)
    return np.stack(
        [np.take(full, range(a, min(a + sampling, T)), axis=axis).mean(axis=axis) for a in starts],
        axis=axis,
    )


@pytest.mark.parametrize("batched", [False, True])
def test_average_mode_equals_window_means(batched, monkeypatch):
    monkeypatch.setattr(runner_module, "CHUNK_STEPS", 7)  # windows straddle kernel calls
    x = np.random.default_rng(1).standard_normal((2, 31, 2) if batched else (31, 2))
    full = net3().run(x, verbose=False, record_vars=REC)
    avg = net3().run(x, verbose=False, record_vars=REC, sampling_steps=4, cutoff=3,
                     sampling_mode="average")  # fmt: skip
    for key in ["out", ("rnn", "li_op/v"), ("rnn", "tanh_op/r"), ("ro", "in")]:
        f = full[key]
        if f.ndim == (2 if batched else 1):  # reduced recordings: (B, T) or (T,)
            f = f[..., None]
            expected = window_means(f, 4, 3)[..., 0]
        else:
            expected = window_means(f, 4, 3)
        assert avg[key].shape == expected.shape
        np.testing.assert_allclose(avg[key], expected, rtol=1e-12, atol=1e-14)
    assert avg["out"].shape[-2] == 7  # steps 3..30: seven windows of 4


def test_partial_last_window_is_averaged_over_its_steps():
    x = np.random.default_rng(2).standard_normal((10, 2))
    full = net3().run(x, verbose=False)["out"]
    avg = net3().run(x, verbose=False, sampling_steps=4, sampling_mode="average")["out"]
    np.testing.assert_allclose(avg, [full[0:4].mean(0), full[4:8].mean(0), full[8:10].mean(0)],
                               rtol=1e-12)  # fmt: skip


def test_subsample_mode_is_the_default_and_unchanged():
    x = np.random.default_rng(3).standard_normal((20, 2))
    full = net3().run(x, verbose=False)["out"]
    np.testing.assert_array_equal(net3().run(x, verbose=False, sampling_steps=3, cutoff=2)["out"],
                                  full[2::3])  # fmt: skip


def test_test_with_average_mode_scores_window_means():
    x = np.random.default_rng(4).standard_normal((25, 2))
    y = np.random.default_rng(5).standard_normal((25, 3))
    full = net3().run(x, verbose=False)["out"]
    obs, loss = net3().test(x, y, sampling_steps=5, cutoff=2, sampling_mode="average",
                            verbose=False)  # fmt: skip
    out_m, y_m = window_means(full, 5, 2), window_means(y, 5, 2)
    np.testing.assert_allclose(obs["out"], out_m, rtol=1e-12)
    assert loss == pytest.approx(np.mean((out_m - y_m) ** 2), rel=1e-12)


@pytest.mark.nocompile
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sampling_mode": "mean"}, r"sampling_mode must be one of \('subsample', 'average'\)"),
        ({"sampling_steps": 0}, "sampling_steps must be a positive integer, got 0"),
        ({"sampling_steps": True}, "sampling_steps must be a positive integer, got True"),
        ({"cutoff": -1}, "cutoff must be a non-negative integer, got -1"),
        ({"record_vars": ["rnn"]}, r"record_vars entries are \(node, var\)"),
        ({"record_vars": [("rnn", "v"), ("rnn", "v", True)]}, r"lists \('rnn', 'v'\) twice"),
    ],
)
def test_recording_settings_are_validated_before_running(kwargs, message):
    net = net3()
    with pytest.raises(NetworkError, match=message):
        net.run(np.zeros((5, 2)), verbose=False, **kwargs)
    assert net._runner.step == 0


@pytest.mark.nocompile
def test_recording_object_counts_and_windows():
    rec = Recording.make(sampling_steps=4, cutoff=3, mode="average")
    assert rec.count(31) == 7 and rec.count(3) == 0 and rec.count(4) == 1
    np.testing.assert_array_equal(rec.window_sizes(29), [4, 4, 4, 4, 4, 4, 2])
    assert Recording.make(record_output=False).count(10) == 0
