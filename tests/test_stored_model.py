"""StoredModel: a model's names and defaults from the disk cache, expressions compiled lazily."""

from __future__ import annotations

import json

import pytest

from rectinumba.equations import compile_node
from rectinumba.equations.stored import StoredModel, load_model, template_key
from rectinumba.errors import NetworkError
from rectinumba.templates import NodeTemplate, OperatorTemplate
from rectinumba.templates.loader import load_template

pytestmark = pytest.mark.nocompile

TANH = "model_templates.rate_neurons.leaky_integrator.tanh"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECTINUMBA_CACHE_DIR", str(tmp_path))
    load_model.cache_clear()
    yield tmp_path
    load_model.cache_clear()


FIELDS = ("name", "operators", "states", "initial", "params", "inputs", "outputs", "links",
          "complex_vars", "variable_names")  # fmt: skip


@pytest.mark.parametrize("path", [TANH, "model_templates.oscillators.kuramoto.kmo_pop"])
def test_summary_round_trip_equals_compiled_model(cache, path):
    template = load_template(path)
    first = load_model(template)
    load_model.cache_clear()
    second = load_model(template)  # read back from disk
    assert second._full is None
    full = compile_node(template)
    for field in FIELDS:
        assert getattr(second, field) == getattr(full, field) == getattr(first, field)
        # complex defaults come back complex (JSON has no complex numbers)
        assert repr(getattr(second, field)) == repr(getattr(full, field))
    if path != TANH:
        assert second.initial == (("kmo_op/z", 0.5 + 0.1j),) and second.is_complex("kmo_op/z")
        return
    assert second.resolve("v", "li_op") == full.resolve("v", "li_op") == "li_op/v"
    assert second.resolve("tanh_op/v") == "li_op/v"  # a linked input resolves to its source
    with pytest.raises(NetworkError, match="unknown variable 'nope'"):
        second.resolve("nope")
    assert second == first and hash(second) == hash(first)
    assert second.derivatives == full.derivatives  # compiled on first access
    assert second._full is not None


def test_key_follows_template_content(cache):
    a = OperatorTemplate("op", ["x' = -x/tau"], {"x": "output(0)", "tau": 1.0})
    b = OperatorTemplate("op", ["x' = -x/tau"], {"x": "output(0)", "tau": 2.0})
    assert template_key(a) != template_key(b)
    assert template_key(NodeTemplate("n", [a])) != template_key(a)
    assert load_model(b).param_defaults == {"op/tau": 2.0}


def test_corrupt_summary_is_recompiled(cache):
    template = load_template(TANH)
    model = load_model(template)
    path = cache / "models" / f"{model.key}.json"
    path.write_text("{not json")
    load_model.cache_clear()
    again = load_model(template)
    assert isinstance(again, StoredModel) and again.states == ("li_op/v",)
    assert json.loads(path.read_text())["entry"]["key"] == model.key
