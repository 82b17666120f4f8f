"""The one way feature extraction spreads work over processes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def in_processes(fn: Callable[..., Any], tasks: Iterable[tuple], n_jobs: int = 1) -> list[Any]:
    """``[fn(*task) for task in tasks]``, in order, over ``n_jobs`` processes (joblib's ``loky``; -1: all CPUs).

    loky starts fresh interpreters rather than forking, which nifty-ls's OpenMP runtime needs, and,
    unlike ``multiprocessing`` spawn, does not require a ``__main__`` guard in the caller. With
    ``n_jobs == 1`` or a single task everything runs in this process: no worker would run in parallel.
    """
    tasks = list(tasks)
    if n_jobs == 1 or len(tasks) <= 1:
        return [fn(*task) for task in tasks]
    from joblib import Parallel, delayed  # scikit-learn's own dependency

    return Parallel(n_jobs=n_jobs, backend="loky")(delayed(fn)(*task) for task in tasks)
