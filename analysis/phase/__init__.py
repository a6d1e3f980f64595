"""Complexity-control phases of the composite anchor task.

- `table`: thresholds, the seed-averaged cell table and phase boundaries.
- `plots`: the (γ, λ) phase diagram and γ curves.
- `report`: the analysis the `scalinglab phase` command runs.
"""
