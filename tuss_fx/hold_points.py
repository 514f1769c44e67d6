"""Hold points: a run stops where a test asks, so a kill lands at a known point and not when a clock says.

With TUSS_FX_HOLD=DIR in its environment, a run that has written the first block of an output to its
temporary file looks in DIR and the folders below it for NAME.hold files (a test keeps its own in a folder
of its own, so no other test's leftovers answer it); one whose text ends the output's path ("c_00000000.wav",
"take2/speech.wav") holds it there: the run writes NAME.held (holding the temporary file's path, which
exists then) and waits until NAME.go appears, until it is killed, or until a stop is requested
(signals.check_stop: a cancelled Ray task). Without the variable nothing is looked at. The kill tests (tests/test_conform.py, tests/test_batch_ray.py) stop runs this way, so they
find the same finished outputs and the same temporary file however fast the machine does the work.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tuss_fx.signals import check_stop

HOLD_ENV = "TUSS_FX_HOLD"
POLL_SECONDS = 0.01


def hold_point(final_path: Path, temp_path: Path) -> None:
    """Wait here if DIR (TUSS_FX_HOLD) asks to hold the writing of final_path; return at once otherwise."""
    folder = os.environ.get(HOLD_ENV)
    if not folder:
        return
    target = Path(final_path).as_posix()
    for hold in sorted(Path(folder).rglob("*.hold")):
        wanted = hold.read_text().strip()
        if wanted and target.endswith(wanted):
            held = hold.with_suffix(".held")
            partial = held.with_name(f".{held.name}.{os.getpid()}")
            partial.write_text(str(temp_path))
            partial.replace(held)  # whole or absent: the test reads it as soon as it appears
            go = hold.with_suffix(".go")
            while not go.exists():
                check_stop()
                time.sleep(POLL_SECONDS)
            return
