"""lcml.studies.catalogs: the StarWhisper paper's phase and sampling studies, on the fixture's registered champion."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from lcml.serving.loader import INPUT_COLUMNS, load_model
from lcml import pipeline
from lcml.studies import catalogs as studies
from lcml.data import release as rel
from lcml.errors import InputError
from lcml.evaluation import classification_metrics

from tests.conftest import use_project

MODEL = "models:/kepler-variable-star-classifier@champion"
#: beyond the paper's grid: 4 days leaves ~8 points in the ci profile's 30-day curves
EXTREME_INTERVAL = 4.0
#: the swept windows: the paper's 5% (its 0.1-wide phase bins) and the whole curve, to keep the test short
WINDOWS = (0.05, 1.0)
SAMPLING_INTERVALS = (*studies.PAPER_INTERVALS, EXTREME_INTERVAL)


@pytest.fixture(scope="module")
def studied(trained_project) -> dict:
    """Both studies and the plain predictions on the test split of the fixture's release (run once)."""
    with pytest.MonkeyPatch.context() as mp:
        use_project(mp, trained_project["root"])
        params, paths = pipeline.context()
        test = rel.load_release(rel.release_dir(paths, trained_project["release"]), "test", params.data.split)
        plain = load_model(MODEL).predict(test[INPUT_COLUMNS])
        phase = studies.phase_study(MODEL, test, windows=WINDOWS)
        sampling = studies.sampling_study(MODEL, test, intervals=SAMPLING_INTERVALS)
    return {"test": test, "plain": plain, "phase": phase, "sampling": sampling,
            "phase_summary": studies.summarise(phase), "sampling_summary": studies.summarise(sampling)}


def _sine_frame(n: int = 3) -> pd.DataFrame:
    t = np.arange(0, 10, 0.0204)
    return pd.DataFrame({"object_id": [f"s{i}" for i in range(n)], "label": ["RR"] * n,
                         "time": [t] * n, "flux": [1 + 0.2 * np.sin(2 * np.pi * t / 0.6)] * n,
                         "flux_err": [np.full(t.size, 0.01)] * n})


# ---------------------------------------------------------------- the paper's layout


@pytest.mark.realdata
def test_paper_constants_are_the_real_catalogs_headers(real_data):
    folder = real_data / "kepler_starwhisper"
    phase = pd.read_csv(folder / "phase_importance_catalog.csv")
    sampling = pd.read_csv(folder / "sampling_catalog.csv")
    assert list(phase.columns) == studies.PHASE_COLUMNS  # Star, -1, -0.9, ..., 0, ..., 0.9
    assert list(sampling.columns) == studies.SAMPLING_COLUMNS  # Star, 0.02, 0.04, ..., 0.2
    assert len(phase) == len(sampling) == 6851 and phase["Star"].is_unique
    assert (phase["Star"] == sampling["Star"]).all()
    assert phase["Star"].str.fullmatch(r"(DSCT|EB|GDOR|HYB|RR|T2CEP)_\d{9}").all()
    # the published phase values are min-max normalised per star (NaN where a star's values are all
    # equal), which is what paper_importance reproduces; the sampling values are probabilities
    values = phase.iloc[:, 1:]
    full_rows = values.notna().all(axis=1)
    assert ((values[full_rows].max(axis=1) == 1) & (values[full_rows].min(axis=1) == 0)).all()
    assert values[~full_rows].isna().all(axis=1).all() and (~full_rows).sum() == 169
    probs = sampling.iloc[:, 1:]
    assert probs.notna().all().all() and ((probs >= 0) & (probs <= 1)).all().all()


@pytest.mark.realdata
def test_catalogs_have_the_papers_shape(studied, real_data):
    folder = real_data / "kepler_starwhisper"
    test = studied["test"]
    for catalog, real_file in ((studied["phase"], "phase_importance_catalog.csv"),
                               (studied["sampling"], "sampling_catalog.csv")):
        header = list(pd.read_csv(folder / real_file, nrows=0).columns)
        assert list(catalog.columns[: len(header)]) == header  # the paper's columns, first, in order
        assert len(catalog) == len(test) and catalog["Star"].is_unique  # one row per star
        assert (catalog["Star"] == test["label"] + "_" + test["object_id"]).all()
        grid = catalog[header[1:]]
        assert all(dtype == float for dtype in grid.dtypes)
        assert ((grid >= 0) & (grid <= 1)).all().all()  # probabilities of the true class
        # lcml's own columns come only after the paper's
        assert set(catalog.columns[len(header):]) >= {"object_id", "label", "n_points", "full", "pred_full"}
    importance = studies.paper_importance(studied["phase"])
    assert list(importance.columns) == list(pd.read_csv(folder / "phase_importance_catalog.csv", nrows=0).columns)
    values = importance.iloc[:, 1:]
    ok = values.notna().all(axis=1)
    assert ((values[ok].max(axis=1) == 1) & (values[ok].min(axis=1) == 0)).all()
    assert values[~ok].isna().all(axis=1).all()


@pytest.mark.realdata
def test_summary_of_the_papers_own_sampling_catalog(real_data):
    catalog = studies.read_catalog(real_data / "kepler_starwhisper" / "sampling_catalog.csv")
    summary = studies.summarise(catalog)
    assert summary["study"] == "sampling" and summary["n_stars"] == 6851
    assert summary["correct_if"] == "p_true>0.5" and summary["reference"] == "0.02"
    assert summary["class_counts"] == {"DSCT": 1337, "EB": 2821, "GDOR": 917, "HYB": 412, "RR": 1363, "T2CEP": 1}
    acc = summary["accuracy"]
    assert acc["0.02"] > 0.98 and acc["0.04"] < 0.9 * acc["0.02"] and acc["0.2"] < acc["0.04"]
    best = summary["max_cut"]["overall"]
    # on the paper's grid the first step already halves the points and loses 28%: the measured cut is
    # 0; between 0.02 and 0.04 d the threshold is crossed at ~18% of the points (the paper says 21%)
    assert best["sampling_points_cut"] == 0.0
    assert 0.15 < best["interpolated_cut"] < 0.25


# ---------------------------------------------------------------- the studies on the trained model


def test_full_window_is_the_models_plain_accuracy(studied):
    test, plain, phase, sampling = studied["test"], studied["plain"], studied["phase"], studied["sampling"]
    classes = sorted(test["label"].unique())
    accuracy = classification_metrics(test["label"], plain["label_pred"], classes)["accuracy"]
    assert (phase["pred_full"].to_numpy() == plain["label_pred"].to_numpy()).all()
    p_true = np.array([plain.at[i, f"p_{label}"] for i, label in enumerate(test["label"])])
    np.testing.assert_allclose(phase["full"], p_true, rtol=1e-6)
    for summary in (studied["phase_summary"], studied["sampling_summary"]):
        assert summary["accuracy"]["full"] == pytest.approx(accuracy, abs=1e-12)
        (full_point,) = [p for p in summary["curve"] if p["cut"] == 0.0]
        assert full_point["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    # keeping the whole cycle is the whole curve
    assert (phase["acc_keep_1"] == (phase["pred_full"] == phase["label"])).all()
    # 0.02 d is Kepler long cadence (0.0204 d): every point kept, the same prediction as the full curve
    assert (sampling["n_0.02"] == sampling["n_points"]).all()
    assert (sampling["pred_0.02"] == sampling["pred_full"]).all()


def test_accuracy_falls_at_the_extremes(studied):
    phase, sampling = studied["phase_summary"], studied["sampling_summary"]
    keep = {p["setting"]: p["accuracy"] for p in phase["curve"]}
    # measured on the ci model: 5% of each cycle 0.24 against 0.35 for the whole curve (37 test stars)
    assert keep[0.05] < keep[1.0]
    # every paper-shaped window keeps 5%; their mean accuracy is the 5% point of the sweep
    grid = studies.grid_columns(studied["phase"])
    assert np.mean([phase["accuracy"][c] for c in grid]) == pytest.approx(keep[0.05])
    # measured: 4-day sampling (~8 points a month) 0.22 against 0.35 at native cadence
    assert sampling["accuracy"][studies.column_name(EXTREME_INTERVAL)] < sampling["accuracy"]["full"]
    # coarser sampling keeps fewer points: half at 0.04 d, a tenth at 0.2 d
    cuts = [p["cut"] for p in sampling["curve"]]
    assert cuts == sorted(cuts) and cuts[0] == 0.0
    by = {p["setting"]: p["cut"] for p in sampling["curve"]}
    assert by[0.04] == pytest.approx(0.5, abs=0.02) and by[0.2] == pytest.approx(0.9, abs=0.02)
    assert (studied["phase"]["period_days"] > 0).all()


def test_summary_fields_present_and_consistent(studied):
    for summary, key, setting in ((studied["phase_summary"], "observation_time_cut", "window"),
                                  (studied["sampling_summary"], "sampling_points_cut", "interval_days")):
        assert {"study", "n_stars", "class_counts", "correct_if", "reference", "max_relative_loss", "accuracy",
                "accuracy_by_class", "mean_p_true", "curve", "max_cut"} <= set(summary)
        assert summary["reference"] == "full" and summary["correct_if"] == "argmax"
        counts = summary["class_counts"]
        assert sum(counts.values()) == summary["n_stars"] == len(studied["test"])
        for col, acc in summary["accuracy"].items():  # overall = per-class accuracies weighted by counts
            weighted = sum(counts[c] * summary["accuracy_by_class"][c][col] for c in counts) / summary["n_stars"]
            assert acc == pytest.approx(weighted)
        full = summary["accuracy"]["full"]
        best = summary["max_cut"]["overall"]
        assert best["relative_loss"] <= summary["max_relative_loss"] + 1e-12
        assert best["accuracy"] >= (1 - summary["max_relative_loss"]) * full - 1e-12
        assert best[key] <= best["interpolated_cut"] <= 1.0
        if best[setting] is not None:
            assert any(p["setting"] == best[setting] and p["cut"] == best[key] for p in summary["curve"])
        assert set(summary["max_cut"]["by_class"]) == set(counts)
        for c, entry in summary["max_cut"]["by_class"].items():
            # undefined exactly where no star of the class is right on the full curve
            assert (entry is None) == (summary["accuracy_by_class"][c]["full"] == 0)


def test_max_cut_takes_the_contiguous_passing_cuts_and_interpolates():
    # four stars; accuracies 1.0 (full), 0.75 (0.04 d), 1.0 (0.08 d): a lucky larger cut after a
    # failing smaller one must not count
    labels = ["RR", "RR", "EB", "EB"]
    catalog = pd.DataFrame({
        "Star": [f"{lab}_{i}" for i, lab in enumerate(labels)],
        "0.02": [0.9] * 4, "0.04": [0.9, 0.1, 0.9, 0.9], "0.08": [0.9] * 4,
        "object_id": [str(i) for i in range(4)], "label": labels, "n_points": [100] * 4,
        "full": [0.9] * 4, "pred_full": labels,
        "pred_0.02": labels, "pred_0.04": ["RR", "EB", "EB", "EB"], "pred_0.08": labels,
        "n_0.02": [100] * 4, "n_0.04": [50] * 4, "n_0.08": [25] * 4,
    })
    summary = studies.summarise(catalog)
    assert summary["study"] == "sampling"
    assert summary["accuracy"] == {"0.02": 1.0, "0.04": 0.75, "0.08": 1.0, "full": 1.0}
    best = summary["max_cut"]["overall"]
    assert best["sampling_points_cut"] == 0.0 and best["interval_days"] == 0.02
    assert best["interpolated_cut"] == pytest.approx(0.5 * 0.1 / 0.25)  # 10% of the way is lost at 40% of the step
    assert summary["max_cut"]["by_class"]["EB"]["sampling_points_cut"] == 0.75  # EB never fails
    assert summary["max_cut"]["by_class"]["EB"]["interpolated_cut"] == 0.75
    loose = studies.summarise(catalog, max_loss=0.3)["max_cut"]["overall"]
    assert loose["sampling_points_cut"] == 0.75


def test_write_catalog_csv_and_summary_json(studied, tmp_path):
    for kind in ("phase", "sampling"):
        csv, js = studies.write_catalog(studied[kind], tmp_path / "out" / f"{kind}_catalog.csv")
        assert csv.is_file() and js == tmp_path / "out" / f"{kind}_catalog.summary.json" and js.is_file()
        assert not list(csv.parent.glob(".*.tmp"))
        header = csv.read_text().splitlines()[0].split(",")
        paper = studies.PHASE_COLUMNS if kind == "phase" else studies.SAMPLING_COLUMNS
        assert header[: len(paper)] == paper
        back = studies.read_catalog(csv)
        assert len(back) == len(studied[kind])
        written = json.loads(js.read_text())
        again = json.loads(json.dumps(studies._json_safe(studies.summarise(back))))
        assert written == again == json.loads(json.dumps(studies._json_safe(studied[f"{kind}_summary"])))
        assert written["study"] == kind and not math.isnan(written["accuracy"]["full"])


# ---------------------------------------------------------------- clear errors


@pytest.mark.parametrize("windows", [(0.0,), (1.5,), (-0.1, 0.5), (float("nan"),), ()])
def test_window_outside_unit_interval_is_refused(windows):
    with pytest.raises(InputError, match=r"phase windows"):
        studies.phase_study(MODEL, _sine_frame(), windows=windows)


def test_other_bad_arguments_are_refused():
    with pytest.raises(InputError, match=r"starts must lie in \[-1, 1\)"):
        studies.phase_study(MODEL, _sine_frame(), starts=(0.0, 1.0))
    with pytest.raises(InputError, match="catalog_window"):
        studies.phase_study(MODEL, _sine_frame(), catalog_window=2.0)
    for intervals in ((0.0,), (-0.02, 0.04), (float("inf"),)):
        with pytest.raises(InputError, match="positive numbers of days"):
            studies.sampling_study(MODEL, _sine_frame(), intervals=intervals)
    for study in (studies.phase_study, studies.sampling_study):
        with pytest.raises(InputError, match="the frame is empty"):
            study(MODEL, _sine_frame().iloc[:0])
        with pytest.raises(InputError, match=r"lack columns \['label'\]"):
            study(MODEL, _sine_frame().drop(columns="label"))
        with pytest.raises(InputError, match="object_id must be unique"):
            study(MODEL, pd.concat([_sine_frame(1)] * 2))
    with pytest.raises(InputError, match="nothing to summarise"):
        studies.summarise(pd.DataFrame())
    with pytest.raises(InputError, match="starts with a 'Star' column"):
        studies.summarise(pd.DataFrame({"a": [1]}))


def test_unknown_model_is_one_clear_error(in_trained):
    for study in (studies.phase_study, studies.sampling_study):
        with pytest.raises(InputError, match=re.escape("model models:/nope@champion not found")):
            study("models:/nope@champion", _sine_frame())
    with pytest.raises(InputError, match=re.escape("cannot load model runs:/0123456789abcdef/model")):
        studies.sampling_study("runs:/0123456789abcdef/model", _sine_frame())
    with pytest.raises(InputError, match=r"labels \['Mira'\] are not classes of"):
        studies.sampling_study(MODEL, _sine_frame().assign(label="Mira"))


def test_run_study_is_what_the_cli_calls(in_trained, tmp_path):
    out = tmp_path / "sampling.csv"
    result = studies.run_study("sampling", MODEL, out, intervals=(0.02, 0.2))
    assert result["catalog"] == str(out) and result["summary_path"] == str(studies.summary_path(out))
    assert result["release"] == in_trained["release"] and result["split"] == "test"
    written = json.loads(studies.summary_path(out).read_text())
    assert written["model"] == MODEL and written["release"] == in_trained["release"]
    catalog = studies.read_catalog(out)
    assert list(catalog.columns[:3]) == ["Star", "0.02", "0.2"]
    text = studies.format_summary(result["summary"])
    assert "largest sampling points cut with <= 10% accuracy loss" in text
    with pytest.raises(InputError, match="release kepler/nope not found"):
        studies.run_study("sampling", MODEL, out, release="kepler/nope")
    with pytest.raises(InputError, match="study must be 'phase' or 'sampling'"):
        studies.run_study("cadence", MODEL, out)


def test_study_commands_write_the_catalogs(in_trained, tmp_path):
    from tests.cli.test_predict import lcml

    out = tmp_path / "sampling.csv"
    done = lcml("study", "sampling", "--model", MODEL, "--output", str(out), "--intervals", "0.02,0.5")
    assert done.returncode == 0, done.stderr
    assert out.is_file() and studies.summary_path(out).is_file()
    assert list(pd.read_csv(out).columns[:3]) == ["Star", "0.02", "0.5"]
    bad = lcml("study", "phase", "--model", MODEL, "--output", str(tmp_path / "p.csv"), "--windows", "0,2")
    assert bad.returncode != 0 and bad.stderr.strip().startswith("error:") and len(bad.stderr.strip().splitlines()) == 1
