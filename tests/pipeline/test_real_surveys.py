"""The pipeline on real survey releases: one registered model per survey, pre-folded curves."""

import pytest
from mlflow import MlflowClient

from lcml.serving.loader import INPUT_COLUMNS, load_model
from lcml import pipeline
from lcml.config import Paths
from lcml.data import release as rel
from lcml.registry.promote import CHAMPION, alias_version

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_k2_folded_release_trains_without_period_search(project, real_data):
    rid = pipeline.release_from_source("k2", real_data / "k2" / "k2sc_phasefolded_64bin.parquet", "folded-v1")
    assert rel.read_manifest(rel.release_dir(Paths.from_env(), rid))["folded"] is True
    pipeline.validate(rid)
    _bagged_baseline_is_cross_validated_and_its_card_says_so(rid)
    # the vote trains the multi-input network (folds, here both channels the one folded cycle, + the
    # baseline's features) beside the baseline; the registered model remembers that its inputs are
    # folded, so it scores the release's own curves
    test = rel.load_release(rel.release_dir(Paths.from_env(), rid), "test", pipeline.context()[0].data.split)
    _vote_registers_as_one_model_whose_card_lists_its_members(rid, test.head(20)[INPUT_COLUMNS])


def _bagged_baseline_is_cross_validated_and_its_card_says_so(rid: str) -> None:
    """The survey profile's baseline (balanced bagging, k-fold CV of the best trial) on the same real release."""
    from lcml.registry.card import CARD

    overrides = {"search": {"baseline": {"n_trials": 1, "cv_folds": 3, "options": {"bags": 3}}}}
    trained = pipeline.train(rid, run_name="k2-cv", family="baseline", overrides=overrides)
    cv = trained["cv"]
    assert cv["folds"] == cv["n_folds_run"] == 3 and len(cv["balanced_accuracy"]["folds"]) == 3
    assert 0.3 < cv["balanced_accuracy"]["mean"] <= 1  # 7 classes: far above guessing on real K2 stars
    n_cv = sum(sum(row) for row in cv["confusion_matrix"]["rows_true_cols_pred"])
    assert n_cv + trained["metrics"]["n_test"] == 443  # every accepted star: CV on train + val, test untouched
    client = MlflowClient(Paths.from_env().mlflow_tracking_uri)
    run = client.get_run(trained["run_id"])
    assert run.data.metrics["cv_balanced_accuracy_mean"] == cv["balanced_accuracy"]["mean"]
    pipeline.register_and_gate(trained)
    text = open(client.download_artifacts(trained["run_id"], CARD)).read()
    assert "Cross-validation (3-fold, stratified, over train + validation" in text


def _vote_registers_as_one_model_whose_card_lists_its_members(rid: str, curves) -> None:
    """Family voting: the baseline and the fusion network in one registered version, gated and served as one."""
    import numpy as np

    from lcml.registry.card import CARD

    overrides = {"search": {"voting": {"epochs": 3, "patience": 3, "options": {
        "n_jobs": 1, "members": {"baseline": {"options": {"bags": 2}}}}}}}
    trained = pipeline.train(rid, run_name="k2-vote", family="voting", overrides=overrides)
    assert [m["family"] for m in trained["members"]] == ["baseline", "fusion"]
    assert [m["weight"] for m in trained["members"]] == [0.7, 0.3]
    gated = pipeline.register_and_gate(trained)
    assert gated["model_name"] == "k2-variable-star-classifier"
    served = load_model(f"models:/k2-variable-star-classifier/{gated['version']}").predict(curves)
    proba = served[[c for c in served.columns if c.startswith("p_")]].to_numpy()
    assert len(served) == 20 and np.allclose(proba.sum(1), 1.0, atol=1e-5) and served["label_pred"].notna().all()
    client = MlflowClient(Paths.from_env().mlflow_tracking_uri)
    text = open(client.download_artifacts(trained["run_id"], CARD)).read()
    assert "## Members" in text and "| `fusion` | 0.30 |" in text


def test_catalina_sample_registers_its_own_model_and_scores_magnitudes(project, real_data, tmp_path):
    """The README's commands: train from the survey's own file, then score id/mjd/mag/mag_err rows."""
    import pandas as pd
    import pyarrow.parquet as pq

    from tests.cli.test_predict import lcml

    source = real_data / "catalina_sss" / "train.parquet"
    proc = lcml("train", "--survey", "catalina-sss", "--source", str(source), "--limit", "500",
                "--family", "baseline")
    assert proc.returncode == 0, proc.stderr
    rid = f"catalina-sss/{pipeline.source_version(source, limit=500, sample_seed=0)}"
    assert f"release {rid} <- " in proc.stdout and "(profile ci)" in proc.stdout  # $LCML_PROFILE beats "survey"
    # progress on stderr, one line per event with the seconds since the start
    assert "baseline trial 0: validation balanced accuracy" in proc.stderr and "2 of 2 trials finished" in proc.stderr
    assert "registered catalina-sss-variable-star-classifier v1 (baseline): " in proc.stderr
    assert all(line.startswith("[") and " s] " in line for line in proc.stderr.splitlines() if "trial" in line)
    client = MlflowClient(Paths.from_env().mlflow_tracking_uri)
    name = "catalina-sss-variable-star-classifier"
    version = alias_version(client, name, CHAMPION)
    assert version == "1"
    assert alias_version(client, "kepler-variable-star-classifier", CHAMPION) is None  # surveys never mix
    run = client.get_run(client.get_model_version(name, version).run_id)
    assert run.data.metrics["test_balanced_accuracy"] > 0.3  # 11 classes: well above chance on 500 stars
    assert run.data.tags["refit"] == "train+val"  # params.yaml: the baseline is refitted after its search

    # a user's file: the survey's columns reduced to id, mjd, mag, mag_err (no label, no catalog period)
    stars = pq.read_table(source, columns=["id", "mjd", "mag", "mag_err", "label"]).slice(0, 120).to_pandas()
    reduced = tmp_path / "reduced.parquet"
    stars.drop(columns="label").to_parquet(reduced)
    out = tmp_path / "pred.parquet"
    proc = lcml("predict", "--model", f"models:/{name}@champion", "--input", str(reduced), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_parquet(out)
    classes = pipeline.classes_for("catalina-sss")
    assert list(scored.columns) == ["object_id", "label_pred", "proba", *[f"p_{c}" for c in classes],
                                    "model_name", "model_version", "error"]
    assert list(scored["object_id"]) == [str(i) for i in stars["id"]]
    assert (scored["model_version"] == "1").all()
    accuracy = float((scored["label_pred"].to_numpy() == stars["label"].to_numpy()).mean())
    assert accuracy > 0.3, accuracy

    # the same source again is the same release: nothing is ingested twice
    assert pipeline.release_for_source("catalina-sss", source, limit=500, sample_seed=0) == rid


def test_magnitude_rows_with_bad_points_are_cleaned_or_refused(tmp_path):
    import numpy as np
    import pandas as pd

    from lcml.serving.inputs import read_input
    from lcml.errors import InputError

    good = pd.DataFrame({"id": [7], "mjd": [[53000.0, 53001.0, -2409998.5, 53003.0, 53004.0]],
                         "mag": [[15.0, 15.5, 15.2, np.nan, 15.1]], "mag_err": [[0.05] * 5]})
    good.to_parquet(tmp_path / "good.parquet")
    frame = read_input(tmp_path / "good.parquet")
    assert frame["object_id"].tolist() == ["7"]
    assert np.allclose(frame["time"][0], [53000.0, 53001.0, 53004.0])  # sentinel MJD and NaN magnitude dropped
    flux = frame["flux"][0]
    assert np.isclose(flux[0] / flux[1], 10 ** (0.4 * 0.5))  # brighter magnitude, more flux
    bad = pd.DataFrame({"id": [8], "mjd": [[53000.0]], "mag": [[np.nan]], "mag_err": [[0.1]]})
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="'8' has no finite"):
        read_input(tmp_path / "bad.parquet")
    pd.DataFrame({"id": [1], "mjd": [[1.0]]}).to_parquet(tmp_path / "cols.parquet")
    with pytest.raises(InputError, match="lacks light-curve column"):
        read_input(tmp_path / "cols.parquet")


def test_source_version_follows_the_files(tmp_path):
    source = tmp_path / "a.parquet"
    source.write_bytes(b"x")
    first = pipeline.source_version(source)
    assert first == pipeline.source_version(source) and first.startswith("src-")
    assert pipeline.source_version(source, limit=10, sample_seed=0) != first
    source.write_bytes(b"xy")
    assert pipeline.source_version(source) != first


def test_survey_and_source_go_together(project, tmp_path):
    from tests.cli.test_predict import lcml

    half = lcml("pipeline", "run", "--survey", "crts")
    assert half.returncode == 2 and "--survey and --source go together" in half.stderr
    both = lcml("train", "--release", "crts/v1", "--survey", "crts", "--source", str(tmp_path))
    assert both.returncode == 2 and "either --release or --survey/--source" in both.stderr
    missing = lcml("pipeline", "run", "--survey", "crts", "--source", str(tmp_path / "nope.parquet"))
    assert missing.returncode == 1 and "no such file" in missing.stderr and "Traceback" not in missing.stderr

