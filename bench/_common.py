"""What every benchmark records: the repository it ran in and the commit it measured."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> str | None:
    """``git ARGS`` in the repository; ``None`` outside a checkout or without git."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def scratch_project(root: Path, profile: str | None = None) -> Path:
    """A fresh lcml project in ``root`` (``params.yaml`` copied; releases and state written under it, never
    into this checkout's ``data/``), with the environment pointed at it; ``profile``: ``LCML_PROFILE``."""
    import os
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    os.environ.update(LCML_PROJECT_DIR=str(root), LCML_HOME=str(root / ".lcml"))
    if profile:
        os.environ["LCML_PROFILE"] = profile
    for var in ("MLFLOW_TRACKING_URI", "LCML_PARAMS", "LCML_OPTUNA_STORAGE", "LCML_DVC_REMOTE"):
        os.environ.pop(var, None)
    return root


def provenance(benchmark: str) -> dict:
    """What every result file opens with: the benchmark, when, which commit (and whether ``src``/``bench``
    had uncommitted changes) and on what machine."""
    import os
    import platform
    from datetime import datetime, timezone

    return {
        "benchmark": benchmark,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "src", "bench")),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def write_scaling(path: Path, benchmark: str, runs: list[dict], seconds: str, target: str, **about) -> None:
    """Write a scaling benchmark's result: :func:`provenance`, what it ran on (``about``), the runs (each with
    ``n_curves`` and its ``seconds`` key) and the ratio of time per curve, largest run to smallest (1: linear)."""
    import json

    per_curve = [r[seconds] / r["n_curves"] for r in runs]
    result = {**provenance(benchmark), **about, "runs": runs,
              "seconds_per_curve_ratio_largest_to_smallest": round(per_curve[-1] / per_curve[0], 3), "target": target}
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


class PeakRss:
    """Peak resident memory of a process and all its descendants together, sampled every ``every`` s in a
    thread (``with PeakRss(pid) as peak: ...; peak.total_mb``): a parent's feature workers count too."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        import threading

        self.pid, self.every = pid, every
        self.total_mb = self.main_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            try:
                main = root.memory_info().rss
                total = main
                for child in root.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
            except psutil.NoSuchProcess:
                return
            self.main_mb = max(self.main_mb, main / 2**20)
            self.total_mb = max(self.total_mb, total / 2**20)
            self._stop.wait(self.every)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
