"""`python -m cluster.cli` runs the `scalinglab` command line (as the tests do)."""

from cluster.cli import app

app(prog_name="scalinglab")
