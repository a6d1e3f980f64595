"""`python -m cluster.cli` runs the `scalinglab` command line (as the tests do)."""

from cluster.cli.entry import main

main()
