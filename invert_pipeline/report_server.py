"""The reports of a workspace over http on loopback (``invert report --serve``), and a report's address there.

A browser refuses ``file://`` links from an http page such as the Prefect UI, so a run links its
report as ``<reports url>/<report folder>/index.html``: the reports url is ``$INVERT_REPORTS_URL``,
else ``http://127.0.0.1:8790``, where ``invert report --serve`` serves ``<workspace>/reports/``.
"""

from __future__ import annotations

import functools
import os
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from invert_pipeline.workspace import Workspace

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8790
REPORTS_URL_VARIABLE = "INVERT_REPORTS_URL"


def reports_url() -> str:
    """Where the reports are served: ``$INVERT_REPORTS_URL``, else ``http://127.0.0.1:8790``, without a trailing slash."""
    return os.environ.get(REPORTS_URL_VARIABLE, f"http://{LOOPBACK}:{DEFAULT_PORT}").rstrip("/")


def served_report_url(index_html: str | Path, workspace: str | Path) -> str:
    """The http address of ``index_html`` (a report in ``<workspace>/reports/``) where the reports are served."""
    relative = Path(index_html).resolve().relative_to(Workspace(workspace).reports_dir.resolve())
    return f"{reports_url()}/{urllib.parse.quote(relative.as_posix())}"


def reports_server(reports_dir: str | Path, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """An http server of the files under ``reports_dir`` on ``127.0.0.1:port`` (0: a free port); call ``serve_forever``."""
    handler = functools.partial(_QuietHandler, directory=str(reports_dir))
    return ThreadingHTTPServer((LOOPBACK, port), handler)


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without logging every request to standard error."""

    def log_message(self, format: str, *args: object) -> None:
        pass
