"""Opening the audition page in the user's browser without handing its token to other users.

A browser started with a URL keeps it in its command line for its whole life (/proc/PID/cmdline on Linux,
`ps` on macOS), which every local user can read. So the browser is given a file instead, as Jupyter does:
a page written 0600 in a folder of its own (0700) that sends the browser on to the real address, and is
removed when the audition ends.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REDIRECT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={url}">
<title>tuss-fx audition</title></head>
<body><p>Opening the audition: <a href="{url}">continue</a>.</p></body></html>
"""


@contextmanager
def redirect_file(url: str) -> Iterator[Path]:
    """A local page that sends the browser to `url`, readable by this user alone; removed on leaving."""
    folder = Path(tempfile.mkdtemp(prefix="tuss-fx-audition-open-"))  # created 0700
    try:
        page = folder / "open.html"
        descriptor = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(REDIRECT.format(url=html.escape(url, quote=True)))
        yield page
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_page(page: Path) -> bool:
    """Ask the user's browser ($BROWSER, else the platform's) to open `page`; False if none could."""
    return webbrowser.open(page.as_uri())
