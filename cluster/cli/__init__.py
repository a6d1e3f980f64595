"""The `scalinglab` command line (the composition root): one module per command group.

`app.py` holds the root app and the sweep/phase/MLflow commands; `fit.py` and `density.py`
the law fits.
"""

from cluster.cli.app import app

__all__ = ["app"]
