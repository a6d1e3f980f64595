"""Checks made before anything launches: is the tracking store reachable and fit for the cluster?

MLflow retries an unreachable HTTP server for minutes (~250 s measured) before it fails with
a long traceback; a one-request health check with a short timeout answers in seconds.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

HEALTH_TIMEOUT_S = 5.0


class SweepLaunchError(RuntimeError):
    """The sweep cannot start as asked; the message says why and what to change."""


class TrackingUnavailable(SweepLaunchError):
    """The tracking store cannot be used; the message names the URI and the fix."""


def check_tracking_uri(uri: str, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Raise `TrackingUnavailable` unless `uri` is a reachable server or a writable sqlite file.

    Raises:
        TrackingUnavailable: an HTTP server that does not answer `/health` within
            `timeout_s`, or a sqlite file whose folder cannot be written.
    """
    if uri.startswith(("http://", "https://")):
        _check_server(uri.rstrip("/"), timeout_s)
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if folder.exists() and not folder.is_dir():
            raise TrackingUnavailable(f"tracking URI {uri}: {folder} is not a folder; pass another --workdir")


def _check_server(uri: str, timeout_s: float) -> None:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=timeout_s) as reply:
            if reply.status == 200:
                return
            problem = f"answered HTTP {reply.status} on /health"
    except urllib.error.HTTPError as err:
        problem = f"answered HTTP {err.code} on /health"
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        refused = isinstance(reason, ConnectionRefusedError)  # nothing listens: said at once, no wait
        problem = f"refused the connection ({reason})" if refused else f"did not answer within {timeout_s:g} s ({reason})"
    raise TrackingUnavailable(
        f"MLflow tracking server {uri} {problem}; start one with `scalinglab server --host 0.0.0.0 "
        f"--port <port>` on a machine every node can reach, or drop --tracking-uri to log to local sqlite"
    )


def check_store_fits_cluster(uri: str, num_nodes: int) -> None:
    """Refuse a sqlite store for a multi-node cluster: other nodes cannot write a local file.

    Raises:
        TrackingUnavailable: `uri` is sqlite and the cluster has more than one node.
    """
    if num_nodes > 1 and uri.startswith("sqlite:"):
        raise TrackingUnavailable(
            f"tracking URI {uri} is a local sqlite file, but the Ray cluster has {num_nodes} nodes whose "
            "trials cannot write it; run `scalinglab server --host 0.0.0.0 --port 5000` on the head node and "
            "pass --tracking-uri http://<head>:5000"
        )
