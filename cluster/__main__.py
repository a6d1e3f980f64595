"""`python -m cluster` runs the `scalinglab` command line."""

from cluster.cli.entry import main

main()
