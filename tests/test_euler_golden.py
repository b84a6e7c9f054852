"""Euler stays bit for bit what it was before the shared step plan (issue 17).

tests/fixtures/euler_golden.npz holds the recordings of the networks of
tests/fixtures/euler_golden.py computed by the kernels of commit 8b6a86b (the renderers before
the plan). The plan's Euler kernels must perform the same floating-point operations in the same
order, so on the same numba and CPU the results are equal bit for bit (``np.array_equal``). The
bits of compiled floating-point code also depend on the CPU (fused multiply-add, vector width):
on another machine the check is equality to rounding.

float32 networks are the exception: since issue 15 their kernels print float32 literals and so
compute in float32 (before, float64 literals promoted every expression to float64 and each store
rounded to float32). Their entries are checked to float32 rounding; the float64 ones stay bit
for bit.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
sys.path.insert(0, HERE)

import euler_golden  # noqa: E402


@pytest.fixture(scope="module")
def golden():
    data = np.load(os.path.join(HERE, "euler_golden.npz"))
    return {k: data[k] for k in data.files}


def test_euler_results_are_bit_identical_to_the_previous_kernels(golden):
    machine = euler_golden.machine()
    same_machine = all(str(golden[f"machine/{k}"]) == v for k, v in machine.items())
    got = euler_golden.results()
    assert set(got) == {k for k in golden if not k.startswith("machine/")}
    for key, arr in got.items():
        assert arr.dtype == golden[key].dtype and arr.shape == golden[key].shape, key
        if arr.dtype == np.float32:  # float32 arithmetic since issue 15 (see docstring)
            np.testing.assert_allclose(arr, golden[key], rtol=2e-5, atol=2e-6, err_msg=key)
            assert not np.array_equal(arr, golden[key]), "float32 kernels compute in float32"
        elif same_machine:
            assert np.array_equal(arr, golden[key]), key
        else:  # pragma: no cover - depends on the machine running the tests
            np.testing.assert_allclose(arr, golden[key], rtol=1e-9, atol=1e-12, err_msg=key)
    # the pinned networks really exercise spikes and resets
    assert (golden["lif_csr/lif/v"] == 0.0).sum() > 50
    assert golden["iku_means/out"].max() > 0.1 and golden["qif_sfa_sampled/out"].max() > 0.1
