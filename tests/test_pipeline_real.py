"""The pipeline on real survey releases: one registered model per survey, pre-folded curves."""

import pytest
from mlflow import MlflowClient

from lcml import pipeline
from lcml.config import Paths
from lcml.data import release as rel
from lcml.registry.promote import CHAMPION, alias_version

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_k2_folded_release_trains_without_period_search(project, real_data):
    rid = pipeline.release_from_source("k2", real_data / "k2" / "k2sc_phasefolded_64bin.parquet", "folded-v1")
    assert rel.read_manifest(rel.release_dir(Paths.from_env(), rid))["folded"] is True
    pipeline.validate(rid)
    trained = pipeline.train(rid, run_name="k2", family="conv_bilstm")
    assert trained["lineage"]["family"] == "conv_bilstm" and 0 <= trained["metrics"]["balanced_accuracy"] <= 1
    gated = pipeline.register_and_gate(trained)
    assert gated["model_name"] == "k2-variable-star-classifier"
    # the registered model remembers that its inputs are folded: scoring the release's own curves works
    test = rel.load_release(rel.release_dir(Paths.from_env(), rid), "test", pipeline.context()[0].data.split)
    scored = pipeline.predict_frame(f"models:/k2-variable-star-classifier/{gated['version']}", test.head(20))
    assert len(scored) == 20 and scored["label_pred"].notna().all()


def test_catalina_sample_registers_its_own_model(project, real_data):
    rid = pipeline.release_from_source("catalina-sss", real_data / "catalina_sss" / "train.parquet", "s500",
                                       limit=500, sample_seed=0)
    pipeline.validate(rid)
    trained = pipeline.train(rid, run_name="css", family="baseline")
    gated = pipeline.register_and_gate(trained)
    client = MlflowClient(Paths.from_env().mlflow_tracking_uri)
    assert gated["model_name"] == "catalina-sss-variable-star-classifier"
    assert alias_version(client, "catalina-sss-variable-star-classifier", CHAMPION) == gated["version"]
    assert alias_version(client, "kepler-variable-star-classifier", CHAMPION) is None  # surveys never mix
    assert trained["metrics"]["balanced_accuracy"] > 0.3  # 11 classes: well above chance on a 500-star sample
