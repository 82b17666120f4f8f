"""One trial of a search as MLflow records it: a pruned trial's run ends KILLED, not FAILED."""

import mlflow
import optuna
import pytest
from mlflow.tracking import MlflowClient

from lcml.config import FamilySearchParams, Paths
from lcml.families.fitting import fitter
from lcml.tracking import use_tracking_uri
from lcml.training.search import _trial

from .test_loop import toy


def test_a_pruned_trial_run_ends_killed_and_the_parent_run_goes_on(project, tmp_path):
    use_tracking_uri(Paths.from_env())
    experiment = mlflow.create_experiment("prune", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)  # the nested trial run goes there, not to an earlier test's
    params = FamilySearchParams(n_trials=1, epochs=3, batch_size=32, patience=10, pruner="none", seed=0,
                                space={"n_layers": [1, 1], "filters": [32, 32], "dropout": [0.1, 0.2], "lr": [1e-3, 1e-2]})
    # a pruner that stops every trial at its first report: balanced accuracy never reaches 2
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    trial = study.ask()
    (tmp_path / "checkpoints").mkdir()
    with mlflow.start_run(experiment_id=experiment) as parent:
        with pytest.raises(optuna.TrialPruned):
            _trial(trial, fitter("conv_bilstm"), toy(64, 0), toy(32, 1), n_classes=2, params=params,
                   checkpoints=tmp_path / "checkpoints", parent_run_id=None)
        assert mlflow.active_run().info.run_id == parent.info.run_id  # the search's run is still the active one
    client = MlflowClient()
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["state"] == "pruned"
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
