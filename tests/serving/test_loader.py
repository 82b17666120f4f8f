"""The one pyfunc loader: registry URIs resolved, bad references one clear line."""

from __future__ import annotations

import pytest

from lcml.errors import InputError
from lcml.serving.loader import INPUT_COLUMNS, load_model, resolve


def test_champion_loads_and_names_its_version(in_trained):
    name = "kepler-variable-star-classifier"
    model = load_model(f"models:/{name}@champion")
    _, version = resolve(f"models:/{name}@champion")
    from lcml import pipeline
    from lcml.config import Paths
    from lcml.data import release as rel

    params, paths = pipeline.context()
    test = rel.load_release(rel.release_dir(Paths.from_env(), in_trained["release"]), "test", params.data.split)
    out = model.predict(test.head(3)[INPUT_COLUMNS])
    assert out["model_name"].unique().tolist() == [name] and out["model_version"].unique().tolist() == [version]


@pytest.mark.parametrize("uri, words", [
    ("", "model URI must be a non-empty string"),
    ("models:/no-such-model@champion", "model models:/no-such-model@champion not found in the registry"),
    ("runs:/0123456789abcdef0123456789abcdef/model", "cannot load model runs:/0123456789abcdef0123456789abcdef/model"),
])
def test_bad_references_are_one_line(in_trained, uri, words):
    with pytest.raises(InputError, match=words) as caught:
        load_model(uri)
    assert "\n" not in str(caught.value)
