"""Drive `tuss-fx audition` as a person at the page would, for the manual's snippets: wait for the URL it
prints, save through the page's HTTP API (the speech fader moved), then stop it with Ctrl-C.

    python tests/audition_client.py tuss-fx audition FILE --save show.toml --no-browser ...

Prints the saved preset's path; exits non-zero if the audition prints no URL within START_SECONDS, the save
is refused, or the audition does not stop cleanly within STOP_SECONDS (never a hang that passes).
Standard library only.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
from urllib.parse import urlsplit

START_SECONDS = 300  # the separation of a short programme on a slow CPU, then the URL
STOP_SECONDS = 30
SAVED_SPEECH_DB = 6.5


def _save(url: str) -> dict:
    address = urlsplit(url)
    token = address.fragment.removeprefix("token=")
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    origin = f"http://{address.hostname}:{address.port}"
    connection.request("POST", "/api/save", body=json.dumps({"gains_db": {"speech": SAVED_SPEECH_DB}}),
                       headers={"Host": address.netloc, "Origin": origin, "X-Tuss-Token": token,
                                "Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"audition_client: the save was refused ({response.status}): {answer}")
    return answer


def main(command: list[str]) -> int:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = _first_line(process)
        print(_save(url)["preset"])
        process.send_signal(signal.SIGINT)
        return process.wait(timeout=STOP_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()


def _first_line(process: subprocess.Popen) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_SECONDS)
    if not lines or not lines[0].startswith("http://"):
        raise SystemExit(f"audition_client: no URL from the audition within {START_SECONDS} s")
    return lines[0].strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
