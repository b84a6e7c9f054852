"""Several operator outputs summed into one input (issue 12.2, PyRates' rule).

In PyRates an operator input is linked to every operator of the node whose output has its name,
and several sources are summed (``CircuitIR._map_multiple_inputs`` writes ``V = V_1 + V_2``).
Jansen-Rit's pyramidal cell population ``PC`` (rpo_e_in, rpo_i, pro) is the model that needs
it: ``pro/V = rpo_e_in/V + rpo_i/V``. It is checked against a numpy Euler loop written here.
"""

from __future__ import annotations

import numpy as np
import pytest

from rectinumba import Network
from rectinumba.equations import compile_node
from rectinumba.errors import NetworkError
from rectinumba.templates import load_template

PC = "model_templates.neural_mass_models.jansenrit.PC"
DT = 1e-4


def jansen_rit_pc(m_in, m_inh, dt, u=220.0):
    """Euler loop of the PC population: (outputs pro/m, recorded pro/V, recorded rpo_i/V)."""
    he, te, hi, ti = 3.25e-3, 10e-3, 22e-3, 20e-3
    m_max, s, v_thr = 5.0, 560.0, 6e-3
    N = m_in.shape[1]
    ve, xe, vi, xi = np.zeros(N), np.zeros(N), np.zeros(N), np.zeros(N)
    outs, psp, inh = [], [], []
    for x in m_in:
        v = ve + vi  # pro/V: the sum of both synapses' outputs, on the pre-update state
        outs.append(m_max / (1.0 + np.exp(s * (v_thr - v))))
        psp.append(v)
        ve, xe, vi, xi = (
            ve + dt * xe,
            xe + dt * (he * (x + u) / te - 2.0 * xe / te - ve / te**2),
            vi + dt * xi,
            xi + dt * (hi * m_inh / ti - 2.0 * xi / ti - vi / ti**2),
        )
        inh.append(vi.copy())
    return np.array(outs), np.array(psp), np.array(inh)


@pytest.mark.nocompile
def test_pc_input_v_is_the_sum_of_both_synapses():
    model = compile_node(load_template(PC))
    defs = {d.name: d for d in model.algebraic}
    assert str(defs["pro/V"].expr) == "rpo_e_in/V + rpo_i/V"
    assert model.states == ("rpo_e_in/V", "rpo_e_in/X", "rpo_i/V", "rpo_i/X")
    assert [n for n, _ in model.inputs] == ["rpo_e_in/m_in", "rpo_e_in/u", "rpo_i/m_in"]
    # the sum is a variable one can record, never an input the network could drive
    assert "pro/V" in model.variable_names
    net = Network(DT)
    computed = r"[\s\S]*hint: 'pro/V' is computed by the model \(pro/V = rpo_e_in/V \+ rpo_i/V\)"
    with pytest.raises(NetworkError, match=r"input_var must be an input .*'pro/V'" + computed):
        net.add_diffeq_node("pc", PC, input_var="pro/V", output_var="pro/m", N=1)
    # an edge into the sum says what it is too (it suggested declaring an input)
    net.add_diffeq_node("pc", PC, input_var="rpo_e_in/m_in", output_var="pro/m", N=1)
    net.add_func_node("inp", 1)
    with pytest.raises(NetworkError, match=r"target_var 'pro/V' is not an input" + computed):
        net.add_edge("inp", "pc", weights=np.ones((1, 1)), target_var="pro/V")
    with pytest.raises(NetworkError, match=r"hint: 'rpo_i/V' is a state \(it has a derivative\)"):
        net.add_edge("inp", "pc", weights=np.ones((1, 1)), target_var="rpo_i/V")


def test_jansen_rit_pyramidal_cells_match_a_numpy_loop():
    rng = np.random.default_rng(12)
    N, T = 2, 3000
    m_in = 100.0 + 50.0 * rng.random((T, N))  # excitatory rates from the interneurons (1/s)
    m_inh = np.array([-10.0, -60.0])  # the inhibitory drive enters through rpo_i's m_in
    net = Network(DT)
    net.add_diffeq_node("pc", PC, input_var="rpo_e_in/m_in", output_var="pro/m", N=N,
                        node_vars={"rpo_i/m_in": m_inh})  # fmt: skip
    obs = net.run(m_in, verbose=False, record_vars=[("pc", "pro/V"), ("pc", "rpo_i/V")])
    outs, psp, inh = jansen_rit_pc(m_in, m_inh, DT)
    np.testing.assert_allclose(obs["out"], outs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(obs[("pc", "pro/V")], psp, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(obs[("pc", "rpo_i/V")], inh, rtol=1e-10, atol=1e-15)
    # both synapses matter: inhibition moves one population across the firing threshold
    assert np.abs(inh[-1]).min() > 1e-3
    assert outs[-1, 0] > 2.5 and outs[-1, 1] < 0.1
