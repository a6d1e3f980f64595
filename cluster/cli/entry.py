"""The `scalinglab` console script: run the command, then leave without tearing Python down.

Once pandas, matplotlib, SciPy and MLflow are loaded, the interpreter's own shutdown —
clearing every module and freeing every object one by one — takes ~0.5 s of CPU on this
2-core machine (measured: 2.45–2.64 s wall against 2.00–2.07 s for the same work), a sixth of
an analysis command's wall time, and none of it is anything a finished command needs. So
`main` does the parts of the shutdown that matter — it waits for non-daemon threads, runs the
atexit handlers (logging's flush, MLflow's) and flushes stdout/stderr — and then exits with
`os._exit`. A command that imported Ray (`run`, `submit`, `jobs`, …) exits the ordinary way:
Ray's processes and finalizers get the full shutdown they expect.

Tests call `cluster.cli.app` in-process (typer's runner) and never reach this.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from cluster.cli.app import app


def main() -> None:
    """Run the command line; exit with its status."""
    try:
        app(prog_name="scalinglab")
        code = 0
    except SystemExit as stop:  # click ends every command in standalone mode with one
        code = _status(stop.code)
    if "ray" in sys.modules:
        sys.exit(code)
    _exit_now(code)


def _status(code: object) -> int:
    """The exit status `sys.exit(code)` would give (a message is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _exit_now(code: int) -> None:
    """What the interpreter's shutdown does that a command relies on, then `os._exit`."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # undocumented but stable; prints a handler's error as Python does
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # `scalinglab results | head`, or a closed stream
            pass
    os._exit(code)
