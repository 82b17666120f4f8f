"""AstroM3 label-fraction study (lcml.studies.label_fraction) on a tiny simulated multimodal release."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lcml.errors import InputError

RELEASE = "astrom3/sim-study"
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
# a coarse period search: the test is about the study, not about periods (~5x fewer frequencies)
FAST = {"features": {"period": {"min_period_days": 0.1, "oversample": 2}}}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    import torch

    from lcml.data import release as rel
    from lcml.data.simulate.multimodal import simulate_multimodal
    from lcml.studies.label_fraction import label_fraction_study, load_study_data
    from lcml.pipeline import context

    from tests.conftest import make_project, use_project

    from mlflow.tracking._tracking_service import utils as tracking_utils

    root = make_project(tmp_path_factory.mktemp("label-study") / "project")
    tracking_before = tracking_utils._tracking_uri  # the study points MLflow at this project: put it back after
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread only waits on a busy 2-core box
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, root)
        _, paths = context()
        made = simulate_multimodal(150, seed=3, unlabeled_fraction=0.2, n_points=80, spectrum_bins=300)
        rel.write_release(paths, RELEASE, made.lightcurves, objects=made.objects, spectra=made.spectra,
                          source="test")
        try:
            data = load_study_data(RELEASE, overrides=FAST, embed_dim=16)
            table = label_fraction_study(RELEASE, fractions=FRACTIONS, pretrain_epochs=2, finetune_epochs=1,
                                         data=data, overrides=FAST)
        finally:
            torch.set_num_threads(threads)
        yield {"root": root, "paths": paths, "data": data, "table": table, "made": made}
    tracking_utils._tracking_uri = tracking_before


def test_table_has_every_cell_with_scores_in_range(study):
    table, data = study["table"], study["data"]
    assert data.modalities == ("photometry", "spectra", "metadata")
    cells = set(zip(table["modalities"], table["init"], table["label_fraction"]))
    assert cells == {(m, i, f) for m in ("photometry", "spectra", "metadata", "all")
                     for i in ("scratch", "clip") for f in FRACTIONS}
    assert len(table) == 32 and (table["seed"] == 0).all()
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert table[metric].between(0, 1).all(), metric
    # the same labelled objects for every modality set and init at one fraction, growing with it
    sizes = table.groupby("label_fraction")["n_labelled"].agg(["min", "max"])
    assert (sizes["min"] == sizes["max"]).all() and sizes["min"].is_monotonic_increasing
    labelled = int(((data.train.labels >= 0)).sum())
    assert sizes.loc[1.0, "min"] == labelled < len(data.train)  # unlabelled train objects exist ...
    gain = pd.DataFrame(table.attrs["gain"])
    assert set(gain["modalities"]) == {"photometry", "spectra", "metadata", "all"}
    assert np.allclose(gain["balanced_accuracy_gain"], gain["balanced_accuracy_clip"] - gain["balanced_accuracy_scratch"])


def test_pretraining_used_every_train_object_and_the_parent_run_has_the_table(study):
    import mlflow

    table, data = study["table"], study["data"]
    history = table.attrs["pretrain_history"]
    assert len(history) == 2 and all(np.isfinite(h["train_loss"]) for h in history)
    # ... and pretraining saw them all: batches of 128 over every train object, labelled or not
    assert history[0]["batches"] == int(np.ceil(len(data.train) / 128))
    client = mlflow.MlflowClient()
    run = client.get_run(table.attrs["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "astrom3-label-fraction"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"label_fraction.csv", "label_fraction.json", "pretrain_history.json"} <= names
    stored = json.loads(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/label_fraction.json"))
    assert len(stored["table"]) == 32 and stored["aux_features"] == ["log10_lc_amplitude", "log10_lc_period"]
    assert "period" not in stored["metadata_columns"] and "amplitude" not in stored["metadata_columns"]
    assert len(client.get_metric_history(run.info.run_id, "pretrain_train_loss")) == 2
    assert "gain_balanced_accuracy.all.f0.1" in run.data.metrics
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert len(children) == 32 and all("test_balanced_accuracy" in c.data.metrics for c in children)


def test_nested_subsets_are_stratified_and_keep_every_class():
    from lcml.studies.label_fraction import nested_label_subsets

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), [200, 60, 25, 10, 3])
    labels = np.concatenate([rng.permutation(labels), np.full(40, -1)])  # plus unlabelled objects
    subsets = nested_label_subsets(labels, FRACTIONS, seed=7)
    counts = {f: np.bincount(labels[idx], minlength=5) for f, idx in subsets.items()}
    assert counts[0.1].tolist() == [20, 6, 3, 1, 1]  # round(2.5) = 3; every class, even those under 10 objects
    assert counts[1.0].tolist() == [200, 60, 25, 10, 3]
    assert all((labels[idx] >= 0).all() for idx in subsets.values())
    for small, large in zip(FRACTIONS, FRACTIONS[1:]):
        assert set(subsets[small]) <= set(subsets[large])
    assert all(len(subsets[f]) in range(int(f * 298) - 3, int(f * 298) + 4) for f in FRACTIONS)
    again = nested_label_subsets(labels, FRACTIONS, seed=7)
    assert all(np.array_equal(again[f], subsets[f]) for f in FRACTIONS)
    assert not np.array_equal(nested_label_subsets(labels, (0.1,), seed=8)[0.1], subsets[0.1])


def test_study_subsets_on_the_release_keep_classes_with_ten_objects(study):
    from lcml.studies.label_fraction import nested_label_subsets

    labels = study["data"].train.labels
    subsets = nested_label_subsets(labels, FRACTIONS, seed=0)
    n = np.bincount(labels[labels >= 0])
    at_10 = np.bincount(labels[subsets[0.1]], minlength=len(n))
    assert ((at_10 > 0) | (n < 10)).all()
    table = study["table"]
    assert set(table["n_labelled"]) == {len(subsets[f]) for f in FRACTIONS}


def test_clip_cells_start_from_the_pretrained_encoders():
    import torch

    from lcml.studies.label_fraction import build_classifier, study_config
    from lcml.models.astrom3 import AstroM3

    cfg = study_config(n_metadata=4, embed_dim=16)
    torch.manual_seed(5)
    pretrained = AstroM3(cfg, modalities=("photometry", "metadata"))  # a Catalina-like release: no spectra
    ref = pretrained.state_dict()
    for modality_set in ("photometry", "metadata", "all"):
        clip = build_classifier(cfg, 3, modality_set, pretrained=pretrained, seed=1)
        scratch = build_classifier(cfg, 3, modality_set, seed=1)
        own = clip.backbone.state_dict()
        used = [k for k in ref if k.startswith("encoders.") and k in own]
        assert used and all(torch.equal(own[k], ref[k]) for k in used)
        assert not all(torch.equal(scratch.backbone.state_dict()[k], ref[k]) for k in used)
        # the same head for both inits: a cell pair differs in its encoders only
        assert all(torch.equal(a, b) for a, b in zip(clip.head.state_dict().values(), scratch.head.state_dict().values()))
    fused = build_classifier(cfg, 3, "all", pretrained=pretrained, seed=1)
    assert "spectra" in fused.modalities  # held but never fed on such a release


def test_catalina_metadata_has_sky_position_and_magnitude_only():
    from lcml.training.multimodal import FORBIDDEN_COLUMNS, galactic_coordinates, study_metadata

    objects = pd.DataFrame({"object_id": ["gc", "ngp", "anti"], "ra": [266.405, 192.85948, 86.405],
                            "dec": [-28.936, 27.12825, 28.936], "vmag": [15.0, 16.0, 17.0],
                            "type_code": [1, 2, 3], "period": [0.5, 0.3, 300.0], "amplitude": [0.8, 0.4, 3.0],
                            "label": ["RRab", "EW", "LPV"], "n_points": [100, 200, 300], "ref_mag": [15, 16, 17]})
    l_deg, b_deg = galactic_coordinates(objects["ra"], objects["dec"])
    assert abs(((l_deg[0] + 180) % 360) - 180) < 0.1 and abs(b_deg[0]) < 0.1  # the Galactic centre
    assert b_deg[1] == pytest.approx(90.0, abs=0.01)  # the north Galactic pole
    assert abs(l_deg[2] - 180.0) < 2.0 and abs(b_deg[2]) < 2.0  # near the anticentre
    meta, kind = study_metadata(objects)
    assert kind == "sky" and list(meta.columns) == ["object_id", "gal_x", "gal_y", "gal_z", "vmag"]
    assert not set(meta.columns) & set(FORBIDDEN_COLUMNS) and "n_points" not in meta
    assert meta.loc[0, ["gal_x", "gal_y", "gal_z"]].to_numpy(float) == pytest.approx([1.0, 0.0, 0.0], abs=2e-3)
    assert meta.loc[1, "gal_z"] == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(np.linalg.norm(meta[["gal_x", "gal_y", "gal_z"]].to_numpy(float), axis=1), 1.0)
    assert meta["vmag"].tolist() == [15.0, 16.0, 17.0]


def test_aux_features_come_from_the_light_curve_not_the_catalog(study):
    from lcml.training.multimodal import light_curve_aux
    from lcml.pipeline import context

    made = study["made"]
    curves = made.lightcurves.to_pandas().head(6)
    params, _ = context(overrides=FAST)
    aux = light_curve_aux(curves, params.features.for_survey("astrom3"))
    assert aux.shape == (6, 2) and np.isfinite(aux).all()
    # a changed catalog never moves the features: they are measured on the curve (amplitude here)
    flux = curves["flux"].iloc[0]
    measured = np.log10(np.percentile(flux / np.median(flux), 97.5) - np.percentile(flux / np.median(flux), 2.5))
    assert aux[0, 0] == pytest.approx(measured, abs=1e-5)
    assert np.log10(0.1) - 1e-6 < aux[0, 1] < np.log10(30.0) + 1e-6  # log10 period, within the search range


def test_bad_inputs_raise_input_errors(study):
    from lcml.data import release as rel
    from lcml.data.simulate.lightcurves import simulate_kepler
    from lcml.studies.label_fraction import check_fractions, label_fraction_study

    from tests.conftest import use_project

    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, study["root"])
        for bad in ((0.0, 0.5), (0.5, 1.5), (-0.1,), ()):
            with pytest.raises(InputError, match=r"\(0, 1\]"):
                check_fractions(bad)
        with pytest.raises(InputError, match=r"\(0, 1\]"):
            label_fraction_study(RELEASE, fractions=(0.1, 2.0), pretrain_epochs=1, finetune_epochs=1)
        with pytest.raises(InputError, match="inits"):
            label_fraction_study(RELEASE, inits=("imagenet",), pretrain_epochs=1, finetune_epochs=1)
        with pytest.raises(InputError, match="modality sets"):
            label_fraction_study(RELEASE, modality_sets=("radio",), pretrain_epochs=1, finetune_epochs=1,
                                 data=study["data"])
        made = simulate_kepler(12, seed=1, duration_days=10)
        rel.write_release(study["paths"], "kepler/sim-lc-only", made.lightcurves, objects=made.objects, source="test")
        with pytest.raises(InputError, match="one modality only"):
            label_fraction_study("kepler/sim-lc-only", pretrain_epochs=1, finetune_epochs=1)
        with pytest.raises(InputError, match="not found"):
            label_fraction_study("astrom3/no-such", pretrain_epochs=1, finetune_epochs=1)


def test_label_fraction_command(project):
    from lcml.data import release as rel
    from lcml.data.simulate.multimodal import simulate_multimodal
    from lcml.pipeline import context

    from tests.cli.test_predict import lcml

    made = simulate_multimodal(90, seed=4, n_points=60, spectrum_bins=200)
    rel.write_release(context()[1], "astrom3/sim-cli", made.lightcurves, objects=made.objects, spectra=made.spectra,
                      source="test")
    bad = lcml("study", "label-fraction", "astrom3/sim-cli", "--fractions", "0,1")
    assert bad.returncode != 0 and "error:" in bad.stderr and "Traceback" not in bad.stderr
    done = lcml("study", "label-fraction", "astrom3/sim-cli", "--fractions", "0.5,1", "--modalities", "photometry,all",
                "--pretrain-epochs", "1", "--finetune-epochs", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "photometry" in done.stdout and "all" in done.stdout and "astrom3-label-fraction" in done.stdout
