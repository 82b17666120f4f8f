import pytest

from lcml.config import Paths, load_params
from lcml.errors import ConfigError

from .conftest import REPO


def test_demo_profile_is_default_and_ci_overrides(monkeypatch):
    monkeypatch.delenv("LCML_PROFILE", raising=False)
    demo = load_params(REPO / "params.yaml")
    ci = load_params(REPO / "params.yaml", profile="ci")
    assert demo.profile == "demo"
    assert ci.data.simulate.n_objects < demo.data.simulate.n_objects
    assert ci.search.conv_bilstm.n_trials == 2
    # keys a profile does not mention keep the base value
    assert ci.search.conv_bilstm.space["filters"] == demo.search.conv_bilstm.space["filters"] == [32, 128, 16]
    assert demo.search.conv_bilstm.space["lr"] == [1e-5, 1e-1, "log"]
    assert demo.search.families == ci.search.families == ["conv_bilstm", "baseline"]


def test_survey_files_default_to_the_survey_profile(monkeypatch):
    from lcml.config import source_profile

    monkeypatch.delenv("LCML_PROFILE", raising=False)
    assert source_profile(None) == "survey" and source_profile("ci") == "ci"
    monkeypatch.setenv("LCML_PROFILE", "paper")
    assert source_profile(None) == "paper"  # an explicit choice always wins
    survey = load_params(REPO / "params.yaml", profile="survey")
    demo = load_params(REPO / "params.yaml", profile="demo")
    assert survey.search.families == ["fusion", "conv_bilstm", "baseline"] and survey.search.fusion.n_trials == 4
    baseline = survey.search.baseline
    assert baseline.options["bags"] == 10 and baseline.cv_folds == 5 and baseline.space["per_class"] == [50, 200]
    assert survey.search.conv_bilstm.options["n_jobs"] == 2  # its period search on both cores
    # the survey space adds to the base one, key by key
    assert baseline.space["learning_rate"] == demo.search.baseline.space["learning_rate"]
    assert demo.search.baseline.options["bags"] == 0 and demo.search.baseline.cv_folds == 0


def test_overrides_and_hash():
    a = load_params(REPO / "params.yaml", profile="ci")
    b = load_params(REPO / "params.yaml", profile="ci", overrides={"search": {"conv_bilstm": {"epochs": 1}}})
    assert b.search.conv_bilstm.epochs == 1
    assert a.hash() == load_params(REPO / "params.yaml", profile="ci").hash()
    assert a.hash() != b.hash()


def test_cv_folds_is_none_or_at_least_two():
    with pytest.raises(ConfigError, match="cv_folds: 0 .no cross-validation. or at least 2"):
        load_params(REPO / "params.yaml", profile="ci", overrides={"search": {"baseline": {"cv_folds": 1}}})


def test_unknown_profile_and_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        load_params(REPO / "params.yaml", profile="nope")
    with pytest.raises(ConfigError, match="sum to 1"):
        load_params(REPO / "params.yaml", profile="ci", overrides={"data": {"split": {"train": 0.9}}})
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_paths_default_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("LCML_PROJECT_DIR", str(tmp_path))
    monkeypatch.delenv("LCML_HOME", raising=False)
    paths = Paths.from_env()
    assert paths.home == tmp_path / ".lcml"
    assert paths.mlflow_tracking_uri == f"sqlite:///{tmp_path / '.lcml' / 'mlflow.db'}"
    assert paths.optuna_storage.endswith("optuna.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("LCML_OPTUNA_STORAGE", "postgresql://u@h/optuna")
    assert Paths.from_env().mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert Paths.from_env().optuna_storage == "postgresql://u@h/optuna"


def test_profile_empty_mapping_clears_and_per_model_gates():
    demo = load_params(REPO / "params.yaml", profile="demo")
    ci = load_params(REPO / "params.yaml", profile="ci")
    name = demo.registry.name_for("kepler")
    assert name == "kepler-variable-star-classifier"
    assert demo.gates.for_model(name).class_recall_floors == {"T2CEP": 0.5}
    assert ci.gates.models == {} and ci.gates.for_model(name).class_recall_floors == {}


def test_coarse_period_search_is_the_default_and_a_model_saved_before_it_keeps_the_fine_grid():
    from lcml.config import FeatureParams

    assert load_params().features.period.coarse == 2.0
    old = FeatureParams.model_validate({"fold_length": 128, "period": {
        "min_period_days": 0.05, "max_period_days": 1500.0, "oversample": 5}})
    assert old.period.coarse is None  # what a model.json written before `coarse` existed was trained with
    with pytest.raises(ValueError):
        FeatureParams.model_validate({"fold_length": 128, "period": {
            "min_period_days": 0.05, "max_period_days": 1500.0, "oversample": 5, "coarse": 0}})
