"""What produced a model: code version, parameters, data and packages."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

TRACKED_PACKAGES = ("lcml", "torch", "mlflow", "optuna", "apache-airflow", "great-expectations", "dvc", "numpy")


def git_state(path: Path) -> tuple[str, bool]:
    """``(commit, dirty)`` of the repository holding ``path``; ``("unknown", False)`` outside git.

    ``dirty`` means tracked files other than ``data.dvc`` and the documentation (``*.md``, ``docs/``)
    differ from the commit: what could change a trained model.
    """

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True)

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return "unknown", False
    # data.dvc changes with every published release; the data is pinned by its own md5, not the commit
    ignored = (":(exclude)data.dvc", ":(exclude,glob)**/*.md", ":(exclude)docs")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", *ignored).stdout.strip())
    return head.stdout.strip(), dirty


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
