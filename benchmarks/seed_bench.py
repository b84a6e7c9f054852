"""Issue 3 figures: per-step time of the seed networks and cold/warm start of the seed tutorial.

    python benchmarks/seed_bench.py

Prints one table. RectiPy 0.11 figures measured on this kind of machine are quoted for comparison
(134 µs/step for the seed rate network N=5, 640 µs/step for LIF N=1000, p=0.1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

RECTIPY_US = {"rate N=5": 134.0, "LIF N=1000 p=0.1": 640.0}

SEED_SCRIPT = textwrap.dedent(
    """
    from rectinumba import Network
    import numpy as np
    node = "neuron_model_templates.rate_neurons.leaky_integrator.tanh"
    N = 5
    J = np.random.randn(N, N)*2.0
    dt = 1e-3
    net = Network(dt=dt, device="cpu")
    net.add_diffeq_node("tanh", node, weights=J, source_var="tanh_op/r", target_var="li_op/r_in",
                        input_var="li_op/I_ext", output_var="li_op/v")
    print(f"Number of neurons in network: {net.n_out}")
    print(f"Network nodes: {net.nodes}")
    print(f"State variables of the network: {net.state}")
    print(f"LI population parameters: {net['tanh']['node'].parameter_names}")
    node = "neuron_model_templates.spiking_neurons.lif.lif"
    net = Network(dt=dt, device="cpu")
    net.add_diffeq_node("lif", node, weights=J, source_var="s", target_var="s_in", input_var="I_ext",
                        output_var="s", op="lif_op", spike_var="spike", spike_def="v",
                        spike_threshold=100.0, spike_reset=-100.0)
    m = 3
    net.add_func_node("input", m, activation_function="identity")
    net.add_edge(source="input", target="lif")
    k = 2
    net.add_func_node("output", k, activation_function="sigmoid")
    net.add_edge(source="lif", target="output", weights=np.random.randn(N, k))
    obs = net.run(np.random.randn(1000, m), verbose=False)
    print(obs["out"].shape)
    """
)


def per_step(net, m: int, T: int) -> float:
    x = np.random.default_rng(0).standard_normal((T, m))
    net.run(x[:10], verbose=False)  # compile / load
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        net.run(x, verbose=False, record_output=False)
        best = min(best, time.perf_counter() - t)
    return best / T * 1e6


def main() -> None:
    from rectinumba import Network

    rng = np.random.default_rng(1)
    rows = []
    net = Network(1e-3)
    J = rng.standard_normal((5, 5)) * 2.0
    net.add_diffeq_node(
        "tanh",
        "neuron_model_templates.rate_neurons.leaky_integrator.tanh",
        weights=J,
        source_var="tanh_op/r",
        target_var="li_op/r_in",
        input_var="li_op/I_ext",
        output_var="li_op/v",
    )
    rows.append(("rate N=5", per_step(net, 5, 100_000)))

    N = 1000
    J = rng.standard_normal((N, N)) * (rng.random((N, N)) < 0.1)
    net = Network(1e-3)
    net.add_diffeq_node(
        "lif",
        "neuron_model_templates.spiking_neurons.lif.lif",
        weights=J,
        source_var="s",
        target_var="s_in",
        input_var="I_ext",
        output_var="s",
        op="lif_op",
        spike_var="spike",
        spike_def="v",
    )
    rows.append(("LIF N=1000 p=0.1", per_step(net, N, 2_000)))

    print(f"{'figure':<34}{'rectinumba':>14}{'RectiPy 0.11':>14}{'speed-up':>10}")
    for name, us in rows:
        print(
            f"{name + ' (µs/step)':<34}{us:>14.3f}{RECTIPY_US[name]:>14.1f}{RECTIPY_US[name] / us:>9.0f}x"
        )

    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "seed_tutorial.py")
        with open(script, "w") as fh:
            fh.write(SEED_SCRIPT)
        env = dict(os.environ, RECTINUMBA_CACHE_DIR=os.path.join(tmp, "cache"))
        for _ in range(2):  # a fresh cache: the first process compiles, the second loads
            t = time.perf_counter()
            subprocess.run([sys.executable, script], check=True, env=env, capture_output=True)
            walls.append(time.perf_counter() - t)
    print(f"{'seed tutorial script, cold (s)':<34}{walls[0]:>14.2f}")
    print(f"{'seed tutorial script, warm (s)':<34}{walls[1]:>14.2f}")


if __name__ == "__main__":
    main()
