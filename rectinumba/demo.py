"""The main job: ``python -m rectinumba`` simulates a small spiking network and summarises it.

The network is built from the built-in templates only:

- ``input``: an identity layer of 3 units, driven by a 4 Hz and a 9 Hz sinusoid and white noise;
- ``lif``: a population of leaky integrate-and-fire neurons
  (``model_templates.spiking_neurons.lif.lif``) with random sparse coupling (80 % excitatory,
  20 % inhibitory presynaptic neurons, connection probability ``p``), heterogeneous excitability
  ``eta`` and a spike threshold of 1 with reset to 0;
- ``readout``: a tanh function node of 2 units reading the synaptic traces ``s``.

Units: the built-in templates use milliseconds (``tau = 10``), so ``--dt`` is in ms while
``--seconds`` is model time in seconds.

Spike count: the run records ``v`` of the population after every step. The kernel assigns
``v = spike_reset`` after the update of every step in which a neuron spiked, so the number of
recorded entries equal to the reset value is exactly the number of spikes (a non-spiking neuron's
Euler update lands on that float exactly only with probability zero: its drive contains noise).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__

__all__ = [
    "DemoResult",
    "build_network",
    "count_spikes",
    "main",
    "make_inputs",
    "run_demo",
    "save_figure",
    "summary_lines",
]

LIF = "model_templates.spiking_neurons.lif.lif"
THRESHOLD = 1.0
RESET = 0.0
N_INPUTS = 3
N_OUTPUTS = 2
#: recorded v values kept in memory at once (the run is split into chunks of this many values)
_CHUNK_VALUES = 4_000_000


@dataclass
class DemoResult:
    """What :func:`run_demo` measured.

    Parameters
    ----------
    neurons, steps : int
        Population size, number of Euler steps.
    dt : float
        Integration step in ms.
    synapses : int
        Non-zero recurrent weights.
    coupling : str
        ``"csr"`` or ``"dense"`` (rectinumba's choice).
    spike_steps, spike_neurons : numpy.ndarray
        Step index and neuron index of every spike (from the recorded resets of ``v``).
    inputs, outputs : numpy.ndarray
        Network input (steps, 3) and readout output (steps, 2).
    compile_s : float
        Wall time of the first call (kernel compilation or cache load, plus one step).
    run_s : float
        Wall time of the simulation calls over all steps (compilation excluded).
    extra : dict, optional
        Anything else a caller wants to keep with the result.
    """

    neurons: int
    steps: int
    dt: float
    synapses: int
    coupling: str
    spike_steps: np.ndarray
    spike_neurons: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    compile_s: float
    run_s: float
    extra: dict = field(default_factory=dict)

    @property
    def spikes(self) -> int:
        """Number of spikes."""
        return int(self.spike_steps.size)

    @property
    def rate_hz(self) -> float:
        """Mean firing rate per neuron in Hz (dt is in ms)."""
        return self.spikes / (self.neurons * self.steps * self.dt * 1e-3)

    @property
    def us_per_step(self) -> float:
        """Wall time per step in microseconds (compilation excluded)."""
        return 1e6 * self.run_s / self.steps


def make_inputs(steps: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    """Input of shape (steps, 3): sinusoids of 4 Hz and 9 Hz (t in ms) and white noise.

    Parameters
    ----------
    steps : int
        Number of steps.
    dt : float
        Integration step in ms.
    rng : numpy.random.Generator
        Source of the noise.

    Returns
    -------
    numpy.ndarray
        The inputs, (steps, 3).
    """
    t = np.arange(steps) * dt * 1e-3  # seconds
    return np.stack(
        [
            np.sin(2 * np.pi * 4.0 * t),
            np.sin(2 * np.pi * 9.0 * t + 1.0),
            rng.standard_normal(steps),
        ],
        axis=1,
    )


def build_network(neurons: int, dt: float, rng: np.random.Generator, p: float = 0.1):
    """The demo network: identity input (3) -> LIF population -> tanh readout (2).

    Parameters
    ----------
    neurons : int
        Size of the LIF population.
    dt : float
        Integration step in ms.
    rng : numpy.random.Generator
        Source of the random weights, excitabilities and initial potentials.
    p : float, default 0.1
        Connection probability of the recurrent coupling.

    Returns
    -------
    Network
        The network, not compiled yet.
    """
    import scipy.sparse as sp

    from .network import Network

    N = int(neurons)
    # recurrent coupling: column j is presynaptic neuron j; Dale's law with 80 % excitatory
    # neurons and inhibition 5x stronger, so inhibition slightly dominates (stronger or
    # excitation-dominated coupling ends in a few neurons firing at the maximal rate)
    mask = rng.random((N, N)) < p
    np.fill_diagonal(mask, False)
    sign = np.where(np.arange(N) < int(0.8 * N), 1.0, -5.0)
    w = 0.05 / max(1.0, p * N) ** 0.5  # per-spike jump of v is k * w * tau_s
    J = sp.csr_matrix(mask * (w * sign)[None, :] * rng.uniform(0.5, 1.5, (N, N)))
    net = Network(dt=dt, device="cpu")
    net.add_diffeq_node(
        "lif", LIF, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
        output_var="s", op="lif_op", spike_var="spike", spike_def="v",
        spike_threshold=THRESHOLD, spike_reset=RESET,
        node_vars={
            "eta": rng.uniform(0.05, 0.12, N),  # v drifts to 10 * eta: some neurons fire alone
            "tau_s": 5.0,  # ms; smoother traces for the readout than the template's 0.5
            "v": rng.uniform(RESET, THRESHOLD, N),  # desynchronised start
        },
    )
    net.add_func_node("input", N_INPUTS, activation_function="identity")
    w_in = np.column_stack(
        [rng.normal(0.0, 0.05, N), rng.normal(0.0, 0.05, N), np.full(N, 0.3)]
    )
    net.add_edge("input", "lif", weights=w_in)
    net.add_func_node("readout", N_OUTPUTS, activation_function="tanh")
    net.add_edge("lif", "readout", weights=rng.normal(0.0, 1.0 / N**0.5, (N_OUTPUTS, N)))
    return net


def count_spikes(v: np.ndarray, reset: float = RESET) -> tuple[np.ndarray, np.ndarray]:
    """Step and neuron indices of the spikes in a recording of ``v``, see the module docstring.

    Parameters
    ----------
    v : numpy.ndarray
        Recorded membrane potentials, (steps, N), taken after each step's update and reset.
    reset : float, default 0.0
        The reset value.

    Returns
    -------
    tuple of (numpy.ndarray, numpy.ndarray)
        Step index and neuron index of every spike.
    """
    steps, neurons = np.nonzero(v == reset)
    return steps, neurons


def run_demo(neurons: int = 200, seconds: float = 2.0, dt: float = 0.1, seed: int = 0,
             p: float = 0.1) -> DemoResult:
    """Build the demo network and simulate ``seconds`` of model time.

    The first step is run alone (timing compilation or the cache load), then the network is
    reset and the whole input is simulated in chunks that bound the memory of the v recording.

    Parameters
    ----------
    neurons : int, default 200
        Size of the LIF population.
    seconds : float, default 2.0
        Model time in seconds.
    dt : float, default 0.1
        Integration step in ms.
    seed : int, default 0
        Seed of the weights, excitabilities, initial potentials and noise.
    p : float, default 0.1
        Connection probability of the recurrent coupling.

    Returns
    -------
    DemoResult
        Spikes, inputs, outputs and timings.
    """
    if neurons < 1:
        raise ValueError(f"--neurons must be at least 1, got {neurons}")
    if not (dt > 0 and seconds > 0):
        raise ValueError(f"--dt and --seconds must be positive, got dt={dt}, seconds={seconds}")
    steps = max(1, int(round(seconds * 1e3 / dt)))
    rng = np.random.default_rng(seed)
    net = build_network(neurons, dt, rng, p)
    x = make_inputs(steps, dt, rng)
    rec = [("lif", "v")]

    t0 = time.perf_counter()
    net.run(x[:1], verbose=False, record_vars=rec)
    compile_s = time.perf_counter() - t0
    net.reset()  # back to the template values and node_vars (initial v included)

    chunk = max(1, min(steps, _CHUNK_VALUES // neurons))
    outs, spike_steps, spike_neurons = [], [], []
    run_s = 0.0
    for s0 in range(0, steps, chunk):
        t0 = time.perf_counter()
        obs = net.run(x[s0 : s0 + chunk], verbose=False, record_vars=rec)
        run_s += time.perf_counter() - t0
        outs.append(obs["out"])
        st, sn = count_spikes(obs[("lif", "v")])
        spike_steps.append(st + s0)
        spike_neurons.append(sn)
    J = net.get_var("lif", "weights")
    return DemoResult(
        neurons=neurons, steps=steps, dt=dt,
        synapses=int(J.nnz if hasattr(J, "nnz") else np.count_nonzero(J)),
        coupling=net.get_node("lif").coupling or "none",
        spike_steps=np.concatenate(spike_steps), spike_neurons=np.concatenate(spike_neurons),
        inputs=x, outputs=np.concatenate(outs), compile_s=compile_s, run_s=run_s,
    )


def summary_lines(res: DemoResult) -> list[str]:
    """The printed summary (one ``key: value`` line each; tests parse them).

    Parameters
    ----------
    res : DemoResult
        What :func:`run_demo` measured.

    Returns
    -------
    list of str
        The lines.
    """
    return [
        f"neurons: {res.neurons} (LIF, {res.synapses} recurrent synapses, {res.coupling} coupling)",
        f"steps: {res.steps} (dt = {res.dt:g} ms, {res.steps * res.dt * 1e-3:g} s of model time)",
        f"spikes: {res.spikes} (mean rate {res.rate_hz:.2f} Hz per neuron)",
        f"compile + first step: {res.compile_s:.3f} s",
        f"wall time per step: {res.us_per_step:.3f} us "
        f"(run {res.run_s:.3f} s, compilation excluded)",
    ]


def save_figure(res: DemoResult, path: str | Path, max_neurons: int = 200) -> Path:
    """Spike raster, inputs and readout outputs as a PNG; needs matplotlib.

    Parameters
    ----------
    res : DemoResult
        What :func:`run_demo` measured.
    path : str or pathlib.Path
        File to write.
    max_neurons : int, default 200
        Neurons shown in the raster.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed; we only write a file
    import matplotlib.pyplot as plt

    t = np.arange(res.steps) * res.dt  # ms
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(9, 7),
                             gridspec_kw={"height_ratios": [3, 1, 1]})
    keep = res.spike_neurons < max_neurons
    # spikes recorded after the update of step k happen at the start of step k
    axes[0].scatter(t[res.spike_steps[keep]], res.spike_neurons[keep], s=1, c="k", marker="|",
                    rasterized=True)
    shown = min(res.neurons, max_neurons)
    axes[0].set_ylim(-0.5, shown - 0.5)
    axes[0].set_ylabel(f"neuron (first {shown})" if shown < res.neurons else "neuron")
    axes[0].set_title(f"LIF network, N = {res.neurons}: {res.spikes} spikes "
                      f"({res.rate_hz:.1f} Hz per neuron)")
    for j, name in enumerate(["4 Hz", "9 Hz"]):
        axes[1].plot(t, res.inputs[:, j], lw=1, label=name)
    axes[1].set_ylabel("input")
    axes[1].legend(loc="upper right", fontsize="small")
    for j in range(res.outputs.shape[1]):
        axes[2].plot(t, res.outputs[:, j], lw=1, label=f"readout {j}")
    axes[2].set_ylabel("output")
    axes[2].set_xlabel("time (ms)")
    axes[2].legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m rectinumba",
        description="Simulate a spiking LIF network (input layer -> LIF population -> readout) "
                    "built from rectinumba's templates and print a summary.",
    )
    ap.add_argument("--neurons", type=int, default=200, help="LIF population size (default 200)")
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="model time in seconds (default 2.0)")
    ap.add_argument("--dt", type=float, default=0.1,
                    help="integration step in ms; the templates use ms time constants "
                         "(default 0.1)")
    ap.add_argument("--out", default="rectinumba_demo.png",
                    help="PNG of spike raster and output traces (default rectinumba_demo.png)")
    ap.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--version", action="version", version=f"rectinumba {__version__}",
                    help="print the version and exit")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point of ``python -m rectinumba``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``); ``--version`` prints the version and exits.

    Returns
    -------
    int
        The exit status.
    """
    ap = _parser()
    args = ap.parse_args(argv)
    if args.neurons < 1 or args.seconds <= 0 or args.dt <= 0:
        ap.error("--neurons must be >= 1, --seconds and --dt > 0")
    print("rectinumba demo: input (3 units) -> LIF population -> tanh readout (2 units)")
    res = run_demo(args.neurons, args.seconds, args.dt, args.seed)
    for line in summary_lines(res):
        print(line)
    if args.no_plot:
        return 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("figure: not written (matplotlib is not installed: pip install rectinumba[plot])")
        return 0
    path = save_figure(res, args.out)
    print(f"figure: {path.resolve()}")
    return 0
