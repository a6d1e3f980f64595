#!/usr/bin/env bash
# On the GPU machine, from the repo root (carry bench/wheels; bench/gpu_check.py says how to build it): install the carried wheels, then run the check.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site bench/wheels/*.whl && PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 exec python3 bench/gpu_check.py "$@"
