"""The Typer apps, shared options and output helpers of the ``lcml`` command line.

Every command parses its options, calls one function (of :mod:`lcml.pipeline` or another package) and
prints; lcml's own errors become one ``error:`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from typing import Annotated, Optional

import typer

from lcml.errors import LcmlError
from lcml.surveys import SURVEYS

app = typer.Typer(help="lcml: versioned survey releases, classifier searches and a gated MLflow registry.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Build, validate and publish releases.", no_args_is_help=True)
registry_app = typer.Typer(help="Inspect the MLflow Model Registry.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Run the retraining DAG.", no_args_is_help=True)
study_app = typer.Typer(help="StarWhisper's catalogs (accuracy against phase coverage and sampling) and "
                             "AstroM3's label-fraction study.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")
app.add_typer(data_app, name="data")
app.add_typer(registry_app, name="registry")
app.add_typer(pipeline_app, name="pipeline")

#: "kepler, k2, tess, catalina-sss, crts or astrom3", from the one table of surveys
SURVEY_NAMES = ", ".join(list(SURVEYS)[:-1]) + " or " + list(SURVEYS)[-1]

Profile = Annotated[Optional[str], typer.Option("--profile", "-p", help="params.yaml profile (default $LCML_PROFILE or demo)")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]


class _Progress(logging.StreamHandler):
    """lcml's progress events, one line each on the stderr of the moment (``[  12.3 s] message``, seconds
    since the command started), readable in a terminal and in a CI log alike."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.start = time.monotonic()

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # a test runner may have swapped it since
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.start:7.1f} s] {record.getMessage()}"


def show_progress(shown: bool = True) -> None:
    """Send lcml's INFO events (searches, trials, training, registration) to stderr, once per process;
    ``shown=False`` stops them (a later command of the same process asked for ``--quiet``)."""
    logger = logging.getLogger("lcml")
    ours = [h for h in logger.handlers if isinstance(h, _Progress)]
    if not shown:
        for handler in ours:
            logger.removeHandler(handler)
        return
    if not ours:
        logger.addHandler(_Progress())
    logger.setLevel(logging.INFO)


@app.callback()
def _options(quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress lines on stderr")] = False):
    """lcml: versioned survey releases, classifier searches and a gated MLflow registry."""
    show_progress(not quiet)


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn):
    """Report lcml's own errors as one line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LcmlError as exc:
            fail(str(exc))

    return wrapper


def wide_console(width: int = 120):
    """A rich console at least ``width`` columns wide (piped output defaults to 80)."""
    from rich.console import Console

    console = Console()
    console.width = max(console.width, width)
    return console


def floats(text: Optional[str]) -> Optional[tuple[float, ...]]:
    """``"0.1,0.2"`` → ``(0.1, 0.2)``; one ``error:`` line for anything else."""
    if not text:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        fail(f"expected comma-separated numbers, got {text!r}")


def echo_frame(frame, as_json: bool) -> None:
    if as_json:
        typer.echo(frame.to_json(orient="records", indent=2))
    else:
        typer.echo(frame.to_string(index=False))
