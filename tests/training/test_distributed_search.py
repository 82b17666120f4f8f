"""Several worker processes on one Optuna study in a real PostgreSQL server."""

import multiprocessing as mp
import os
import signal
import time

import mlflow
import optuna
from optuna.trial import TrialState

from lcml.config import FamilySearchParams
from lcml.families.fitting import fitter
from lcml.training.search import run_search

from .test_loop import toy

CAP = 6
SPACE = {"n_layers": [1, 1], "filters": [32, 32], "dropout": [0.1, 0.2], "lr": [1e-3, 1e-2]}


def search_params(epochs=3, heartbeat=1):
    return FamilySearchParams(
        n_trials=CAP, epochs=epochs, batch_size=32, patience=10, pruner="none", seed=0, heartbeat_seconds=heartbeat,
        space=SPACE,
    )


def worker(storage, study, folder, epochs):
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow-{os.getpid()}.db")  # each worker its own run log
    # artifacts (trial checkpoints) in the test's folder, not ./mlruns of whatever directory pytest runs in
    experiment = mlflow.create_experiment("workers", artifact_location=(folder / f"artifacts-{os.getpid()}").as_uri())
    mlflow.set_experiment(experiment_id=experiment)  # the nested trial runs go there too
    with mlflow.start_run():
        run_search(toy(96, 0), toy(32, 1), n_classes=2, params=search_params(epochs), study_name=study,
                   storage=storage, checkpoints=folder / "checkpoints", family=fitter("conv_bilstm"))


def start(ctx, storage, study, folder, epochs=3):
    p = ctx.Process(target=worker, args=(storage, study, folder, epochs))
    p.start()
    return p


def test_two_workers_share_the_cap_exactly(postgres_url, tmp_path):
    ctx = mp.get_context("spawn")
    procs = [start(ctx, postgres_url, "shared-cap", tmp_path) for _ in range(2)]
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    study = optuna.load_study(study_name="shared-cap", storage=postgres_url)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == CAP
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    assert len(list((tmp_path / "checkpoints").glob("trial-*.safetensors"))) == CAP


def test_killed_worker_trial_is_reclaimed(postgres_url, tmp_path):
    ctx = mp.get_context("spawn")
    victim = start(ctx, postgres_url, "reclaim", tmp_path, epochs=200)  # a long trial to kill
    deadline = time.monotonic() + 180
    storage = optuna.storages.RDBStorage(postgres_url)  # one connection pool for all the polling
    while True:
        try:
            study = optuna.load_study(study_name="reclaim", storage=storage)
            # mid-trial: RUNNING with all its hyperparameters drawn (a worker killed between two draws
            # leaves a trial with only some to repeat, and the retry samples the rest afresh)
            if any(t.state == TrialState.RUNNING and set(t.params) == set(SPACE) for t in study.trials):
                break
        except KeyError:  # study not created yet
            pass
        assert time.monotonic() < deadline
        time.sleep(0.5)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join()
    survivor = start(ctx, postgres_url, "reclaim", tmp_path)
    survivor.join(timeout=300)
    assert survivor.exitcode == 0
    study = optuna.load_study(study_name="reclaim", storage=postgres_url)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1  # the killed worker's trial, failed by its missing heartbeat
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert retried and retried[0].state == TrialState.COMPLETE  # and re-run with the same parameters
    assert retried[0].params == failed[0].params
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == CAP


def test_workers_starting_at_once_on_a_fresh_database_all_open_the_study(postgres_url):
    """The first workers on a new PostgreSQL database race to create Optuna's schema; a loser must wait
    for the winner's schema, not fail (seen once in CI: `type "studydirection" already exists`)."""
    import threading

    from lcml.training.study import open_study
    from ..conftest import postgres_database

    for round_ in range(5):
        url = postgres_database(postgres_url, f"race{round_}")
        start, errors, studies = threading.Barrier(8), [], []

        def open_one():
            start.wait()
            try:
                studies.append(open_study("raced", url, search_params()))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc)[:300])

        threads = [threading.Thread(target=open_one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == [] and len(studies) == 8, f"round {round_}: {errors}"
        assert {s._study_id for s in studies} == {studies[0]._study_id}  # one study, created once
