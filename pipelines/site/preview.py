"""A quick look at a built site: an HTTP server bound to 127.0.0.1 only."""

from __future__ import annotations

import logging
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipelines.core import config
from pipelines.site.pages import PublishError

log = logging.getLogger(__name__)


def preview_server(site: Path = config.SITE, port: int = 8000):
    """An HTTP server for `site` bound to 127.0.0.1 only (port 0: any free port)."""
    site = Path(site)
    if not (site / "index.html").exists():
        raise PublishError(f"{site}: no index.html (run `servicereview publish` first)")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format, *args):
            log.debug("preview: " + format, *args)

    return ThreadingHTTPServer(("127.0.0.1", port), partial(Quiet, directory=str(site)))


def serve(site: Path = config.SITE, port: int = 8000, announce=print) -> None:
    """Serve `site` on http://127.0.0.1:<port>/ until interrupted (localhost only)."""
    with preview_server(site, port) as server:
        announce(f"serving {site} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
