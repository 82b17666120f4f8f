"""The ``lcml`` command line: one module per command group, each command parses, calls one function, prints.

=============  ===============================================================
module         commands
=============  ===============================================================
``data``       ``lcml data build / validate / publish / release / features / fetch / list / diff / quarantine``
``run``        ``lcml train``, ``lcml pipeline run``, ``lcml demo``, ``lcml airflow``, ``lcml predict``,
               ``lcml sonify``, ``lcml serve``
``registry``   ``lcml registry status / rollback / history / compare / lineage / card``, ``lcml reproduce``
``study``      ``lcml study phase / sampling / label-fraction``
``embed``      ``lcml embed / similar / anomalies / suspects / embedding-map``
=============  ===============================================================
"""

from __future__ import annotations

import sys

from lcml.cli import data, embed, registry, run, study  # noqa: F401 - each registers its commands
from lcml.cli.common import app

__all__ = ["app"]


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
