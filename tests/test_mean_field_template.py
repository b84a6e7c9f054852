"""The QIF mean-field template (model_templates.neural_mass_models.qif) is Montbrio, Pazo & Roxin
(2015, Phys. Rev. X 5, 021028), eqs. (12)-(13):

    tau r' = Delta/(pi tau) + 2 r v
    tau v' = v^2 + eta + J tau r + I - (pi tau r)^2

with the recurrent term J*r delivered through the input r_in by a 1x1 coupling [[J]]."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import sympy

from rectinumba import Network
from rectinumba.equations import compile_node
from rectinumba.templates import load_template

PATH = "model_templates.neural_mass_models.qif.qif_pop"


def S(name: str) -> sympy.Symbol:
    return sympy.Symbol(f"qif_op/{name}", real=True)


def montbrio(r, v, *, Delta, tau, eta, J, I):
    """Right-hand sides (r', v') of the paper's equations, written out here independently."""
    dr = (Delta / (np.pi * tau) + 2.0 * r * v) / tau
    dv = (v**2 + eta + J * tau * r + I - (np.pi * tau * r) ** 2) / tau
    return dr, dv


def test_equations_and_defaults_are_montbrio_2015():
    model = compile_node(load_template(PATH))
    r, v, Delta, tau, eta, I, r_in = (S(n) for n in ("r", "v", "Delta", "tau", "eta", "I_ext",
                                                     "r_in"))
    assert model.states == ("qif_op/r", "qif_op/v")
    assert model.outputs == ("qif_op/r",)
    assert dict(model.initial) == {"qif_op/r": 0.01, "qif_op/v": -2.0}
    assert model.param_defaults == {"qif_op/Delta": 1.0, "qif_op/tau": 1.0, "qif_op/eta": -5.0}
    assert model.input_defaults == {"qif_op/I_ext": 0.0, "qif_op/r_in": 0.0}
    # r_in = J r: the recurrent input of a self-coupled population
    J = sympy.Symbol("J", real=True)
    dr = (Delta / (sympy.pi * tau) + 2 * r * v) / tau
    dv = (v**2 + eta + J * tau * r + I - (sympy.pi * tau * r) ** 2) / tau
    got = model.derivative_map
    assert sympy.simplify(got["qif_op/r"] - dr) == 0
    assert sympy.simplify(got["qif_op/v"].subs(r_in, J * r) - dv) == 0


@pytest.mark.parametrize("eta, J, I", [(-5.0, 15.0, 0.0), (-5.0, 15.0, 3.0), (-2.0, 5.0, 1.0)])
def test_simulated_steady_state_is_the_fixed_point_of_the_paper(eta, J, I):
    """Euler simulation of the template relaxes to the root of the paper's equations (scipy)."""
    Delta, tau, dt, T = 1.0, 1.0, 1e-3, 200_000
    net = Network(dt=dt)
    net.add_diffeq_node("mf", PATH, weights=np.array([[J]]), source_var="r", target_var="r_in",
                        input_var="I_ext", output_var="r", op="qif_op",
                        node_vars={"eta": eta, "Delta": Delta, "tau": tau})
    net.run(np.full((T, 1), I), verbose=False)
    r_sim, v_sim = net.get_var("mf", "r").ravel()[0], net.get_var("mf", "v").ravel()[0]

    def rhs(y):
        return montbrio(y[0], y[1], Delta=Delta, tau=tau, eta=eta, J=J, I=I)

    root = scipy.optimize.fsolve(rhs, [r_sim, v_sim], xtol=1e-12)
    assert np.allclose(rhs(root), 0.0, atol=1e-10)
    assert r_sim > 0
    np.testing.assert_allclose([r_sim, v_sim], root, rtol=1e-5, atol=1e-6)
    # and one Euler step from the fixed point stays there (the template's rhs vanishes there)
    dr, dv = montbrio(r_sim, v_sim, Delta=Delta, tau=tau, eta=eta, J=J, I=I)
    assert abs(dr) < 1e-6 and abs(dv) < 1e-6
