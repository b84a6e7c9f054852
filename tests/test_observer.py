"""Observer storage, time axis, pandas/matplotlib views, and the progress helper."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from rectinumba.errors import RectinumbaError
from rectinumba.observer import Observer
from rectinumba.progress import Progress, progress

pytestmark = pytest.mark.nocompile


@pytest.fixture
def plt():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def _filled(dt: float = 0.01, sampling_steps: int = 1) -> Observer:
    obs = Observer(
        dt, record_vars=[("lif", "v", False), ("lif", "s", True)], sampling_steps=sampling_steps
    )
    rng = np.random.default_rng(0)
    obs.save("out", rng.normal(size=(50, 2)))
    obs.save(("lif", "v"), rng.normal(size=(50, 4)))
    obs.save(("lif", "s"), rng.normal(size=50))
    obs.save("w_out", rng.normal(size=(4, 2)))
    return obs


# ---------------------------------------------------------------- storage and keys
def test_save_and_get_return_numpy_arrays():
    obs = Observer(0.1, record_vars=[("lif", "v", False), ("lif", "s")])
    obs.save("out", [[1.0, 2.0], [3.0, 4.0]])
    obs.save(("lif", "v"), [[0.5], [0.25]])
    assert isinstance(obs["out"], np.ndarray)
    np.testing.assert_array_equal(obs["out"], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(obs.to_numpy(("lif", "v")), [[0.5], [0.25]])
    assert obs.keys() == ["out", ("lif", "v")]
    assert "out" in obs and ("lif", "v") in obs
    assert ("lif", "s") not in obs and ["unhashable"] not in obs
    assert list(obs) == ["out", ("lif", "v")] and len(obs) == 2
    assert obs.recorded_state_variables == [("lif", "v"), ("lif", "s")]
    assert obs.recorded_rnn_variables == obs.recorded_state_variables  # RectiPy's older name
    assert obs.record_vars == [("lif", "v", False), ("lif", "s", False)]
    assert obs.record_output and obs.record_loss
    assert obs.dt == 0.1 and obs.sampling_steps == 1 and obs.n_trials is None


def test_missing_key_is_keyerror_listing_recorded_keys():
    obs = _filled()
    with pytest.raises(KeyError, match=r"'loss' was not recorded; recorded keys: \['out'"):
        obs["loss"]
    with pytest.raises(KeyError, match=re.escape("did you mean ('lif', 'v')?")):
        obs["lif/v"]
    with pytest.raises(KeyError, match="drop the reduce flag"):
        obs[("lif", "v", False)]
    with pytest.raises(KeyError, match="was not recorded"):
        obs.to_numpy(["unhashable"])


def test_constructor_validation():
    with pytest.raises(RectinumbaError, match="dt must be a positive number, got 0.0"):
        Observer(0.0)
    with pytest.raises(RectinumbaError, match="sampling_steps must be a positive integer, got 0"):
        Observer(0.1, sampling_steps=0)
    with pytest.raises(RectinumbaError, match="sampling_steps must be a positive integer, got 2.5"):
        Observer(0.1, sampling_steps=2.5)
    with pytest.raises(RectinumbaError, match=r"\(node, var\) or \(node, var, reduce\)"):
        Observer(0.1, record_vars=["lif/v"])
    with pytest.raises(RectinumbaError, match="must be strings"):
        Observer(0.1, record_vars=[("lif", 3)])
    with pytest.raises(RectinumbaError, match=r"lists \('lif', 'v'\) twice"):
        Observer(0.1, record_vars=[("lif", "v"), ("lif", "v", True)])
    with pytest.raises(RectinumbaError, match="n_trials must be a positive integer, got 0"):
        Observer(0.1, n_trials=0)


def test_time_axis_uses_dt_and_sampling_steps():
    obs = _filled(dt=0.01, sampling_steps=5)
    np.testing.assert_allclose(obs.time, 0.05 * np.arange(50), rtol=0, atol=1e-15)
    # without "out" the first recorded variable fixes the length
    only_var = Observer(0.5, record_output=False, record_vars=[("n", "x")], sampling_steps=2)
    only_var.save(("n", "x"), np.ones((7, 3)))
    np.testing.assert_array_equal(only_var.time, [0, 1, 2, 3, 4, 5, 6])
    assert Observer(1.0).time.shape == (0,)


def test_batched_recordings_and_shape_check():
    obs = Observer(0.1, record_vars=[("rnn", "v", False)], n_trials=3)
    out = np.arange(3 * 4 * 2, dtype=float).reshape(3, 4, 2)
    obs.save("out", out)
    assert obs.n_trials == 3
    np.testing.assert_allclose(obs.time, [0.0, 0.1, 0.2, 0.3])
    with pytest.raises(
        RectinumbaError, match=r"must have shape \(3, recordings, \.\.\.\), got \(4, 2\)"
    ):
        obs.save(("rnn", "v"), np.zeros((4, 2)))
    obs.save("loss", 0.25)  # not a recording over time: no trial axis required
    assert obs["loss"].shape == ()


def test_repr_lists_keys_and_shapes():
    text = repr(_filled())
    assert text.splitlines()[0] == "Observer(dt=0.01, sampling_steps=1, 50 recordings)"
    assert "  'out': float64 (50, 2)" in text
    assert "  ('lif', 'v'): float64 (50, 4)" in text
    assert repr(Observer(1.0, n_trials=2)) == (
        "Observer(dt=1, sampling_steps=1, n_trials=2, 0 recordings) with nothing stored"
    )


# ---------------------------------------------------------------- pandas
def test_to_dataframe_indexed_by_time():
    pytest.importorskip("pandas")
    obs = _filled(dt=0.01, sampling_steps=2)
    df = obs.to_dataframe(("lif", "v"))
    assert df.shape == (50, 4) and df.index.name == "time"
    np.testing.assert_allclose(df.index.to_numpy(), 0.02 * np.arange(50))
    np.testing.assert_array_equal(df.to_numpy(), obs[("lif", "v")])
    reduced = obs.to_dataframe(("lif", "s"))
    np.testing.assert_array_equal(reduced[0].to_numpy(), obs[("lif", "s")])
    w = obs.to_dataframe("w_out")  # not a time series: positional index
    assert list(w.index) == [0, 1, 2, 3]
    np.testing.assert_array_equal(w.to_numpy(), obs["w_out"])


def test_to_dataframe_batched_multiindex():
    pytest.importorskip("pandas")
    obs = Observer(0.5, n_trials=2)
    out = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    obs.save("out", out)
    df = obs.to_dataframe("out")
    assert df.index.names == ["trial", "time"]
    assert list(df.index) == [(0, 0.0), (0, 0.5), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0)]
    np.testing.assert_array_equal(df.loc[1].to_numpy(), out[1])
    obs_r = Observer(0.5, record_vars=[("rnn", "v", True)], n_trials=2)
    obs_r.save(("rnn", "v"), [[1.0, 2.0], [3.0, 4.0]])  # (trials, recordings): mean over neurons
    df_r = obs_r.to_dataframe(("rnn", "v"))
    assert df_r.shape == (4, 1)
    assert df_r.loc[(1, 0.5), 0] == 4.0


def test_to_dataframe_without_pandas(monkeypatch):
    obs = _filled()
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=re.escape("pip install rectinumba[pandas]")):
        obs.to_dataframe("out")


# ---------------------------------------------------------------- matplotlib
def test_plot_against_time_and_other_key(plt):
    obs = _filled(dt=0.01, sampling_steps=3)
    ax = obs.plot("out")
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), 0.03 * np.arange(50))
    np.testing.assert_array_equal(lines[1].get_ydata(), obs["out"][:, 1])
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "out"

    _, ax2 = plt.subplots()
    phase = Observer(0.1, record_vars=[("n", "x"), ("n", "y")])
    phase.save(("n", "x"), np.linspace(0, 1, 5)[:, None])
    phase.save(("n", "y"), np.linspace(2, 3, 5)[:, None])
    ax3 = phase.plot(("n", "y"), x=("n", "x"), ax=ax2, color="k")
    assert ax3 is ax2
    np.testing.assert_allclose(ax2.get_lines()[0].get_xdata(), np.linspace(0, 1, 5))
    np.testing.assert_allclose(ax2.get_lines()[0].get_ydata(), np.linspace(2, 3, 5))
    assert ax2.get_xlabel() == "n: x" and ax2.get_ylabel() == "n: y"


def test_plot_list_of_keys_gets_legend(plt):
    obs = _filled()
    ax = obs.plot(["out", ("lif", "s")])
    assert len(ax.get_lines()) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["out", "lif: s"]


def test_plot_errors(plt):
    obs = _filled()
    with pytest.raises(
        RectinumbaError,
        match=r"x='out' of shape \(50, 2\) does not pair with y=\('lif', 'v'\) of shape \(50, 4\)",
    ):
        obs.plot(("lif", "v"), x="out")
    short = Observer(0.1, record_vars=[("n", "x")])
    short.save(("n", "x"), np.ones(3))
    short.save("out", np.ones(4))
    with pytest.raises(RectinumbaError, match=r"x=\('n', 'x'\) of shape \(3, 1\) does not pair"):
        short.plot("out", x=("n", "x"))
    batched = Observer(0.1, n_trials=2)
    batched.save("out", np.zeros((2, 5, 1)))
    with pytest.raises(RectinumbaError, match="holds 2 trials: pass trial="):
        batched.plot("out")
    ax = batched.plot("out", trial=1)
    assert len(ax.get_lines()) == 1
    with pytest.raises(RectinumbaError, match="has no trial axis"):
        obs.plot("out", trial=0)


def test_matshow_raster(plt):
    obs = Observer(0.1, record_vars=[("lif", "spike")], sampling_steps=2)
    raster = np.zeros((6, 3))
    raster[2, 1] = 1.0
    obs.save(("lif", "spike"), raster)
    ax = obs.matshow(("lif", "spike"))
    image = ax.get_images()[0]
    np.testing.assert_array_equal(image.get_array(), raster.T)  # neurons x time
    np.testing.assert_allclose(image.get_extent(), [0.0, 1.2, -0.5, 2.5])
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "lif: spike"
    assert len(ax.figure.axes) == 2  # image + colour bar
    ax_nobar = obs.matshow(("lif", "spike"), colorbar=False, cmap="Greys")
    assert len(ax_nobar.figure.axes) == 1 and ax_nobar.get_images()[0].get_cmap().name == "Greys"
    empty = Observer(0.1)
    empty.save("out", np.zeros((0, 2)))
    with pytest.raises(RectinumbaError, match="holds no recordings"):
        empty.matshow("out")


def test_plotting_without_matplotlib(monkeypatch):
    obs = _filled()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(
        ImportError,
        match=re.escape(
            "Observer.plot needs the optional dependency 'matplotlib': pip install rectinumba[plot]"
        ),
    ):
        obs.plot("out")
    with pytest.raises(ImportError, match=re.escape("pip install rectinumba[plot]")):
        obs.matshow(("lif", "v"))


# ---------------------------------------------------------------- progress
def _hide_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)


def test_progress_plain_lines_every_tenth(monkeypatch, capsys):
    _hide_tqdm(monkeypatch)
    items = list(progress(20, "sim", verbose=True))
    assert items == list(range(20))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("sim:  10% (2/20)")
    assert lines[-1].startswith("sim: 100% (20/20)")


def test_progress_context_manager_plain_chunks(monkeypatch, capsys):
    _hide_tqdm(monkeypatch)
    with Progress(1000, "run", verbose=True) as p:
        for _ in range(4):
            p.update(250)  # each chunk passes 2-3 tenths: one line per update
    assert p.n == 1000
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "run:  25%",
        "run:  50%",
        "run:  75%",
        "run: 100%",
    ]


def test_progress_unknown_total_prints_final_line(monkeypatch, capsys):
    _hide_tqdm(monkeypatch)
    assert list(progress(iter("abc"), "epochs")) == ["a", "b", "c"]
    assert capsys.readouterr().err.startswith("epochs: 3 done, ")


def test_progress_silent_when_not_verbose(capsys):
    seq = [1, 2, 3]
    assert progress(seq, "x", verbose=False) is seq
    assert progress(4, "x", verbose=False) == range(4)
    with Progress(10, "x", verbose=False) as p:
        p.update(10)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_uses_tqdm_when_installed(capsys):
    pytest.importorskip("tqdm")
    assert list(progress(range(5), "steps")) == [0, 1, 2, 3, 4]
    err = capsys.readouterr().err
    assert "steps" in err and "5/5" in err and "100%" in err
    with Progress(8, "chunks") as p:
        p.update(4)
        p.update(4)
    err = capsys.readouterr().err
    assert "chunks" in err and "8/8" in err


def test_progress_rejects_bad_total():
    with pytest.raises(RectinumbaError, match="total must be a non-negative integer, got -1"):
        progress(-1, "x")
    with pytest.raises(RectinumbaError, match="total must be a non-negative integer, got 2.5"):
        Progress(2.5)


def test_observer_trial_index_out_of_range_is_a_rectinumba_error():
    obs = Observer(0.1, n_trials=2)
    obs.save("out", np.zeros((2, 5, 3)))
    assert obs.matshow("out", trial=-1) is not None
    for trial in (5, -3, 1.0, "0"):
        with pytest.raises(RectinumbaError, match=f"trial={trial!r} is not a trial index of 'out'"):
            obs.plot("out", trial=trial)
