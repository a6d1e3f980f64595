"""`python -m cluster` runs the `scalinglab` command line."""

from cluster.cli import app

app(prog_name="scalinglab")
