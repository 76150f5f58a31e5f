"""`__main__.py` of the benchmark's profiling run: the landing-zone program (copied beside it as
`_program_main.py`) under cProfile, timing the CPU of the thread that runs it (the asyncio loop
where the Pulumi SDK registers resources and waits on their outputs). The profile is written to
$TLZ_PROGRAM_PROFILE when the language host's interpreter exits (no profiling without it)."""

import atexit
import cProfile
import os
import time
from pathlib import Path

_profile = cProfile.Profile(time.thread_time)


def _dump() -> None:
    _profile.disable()
    if os.environ.get("TLZ_PROGRAM_PROFILE"):  # a run without it (bench's `up`) keeps none
        _profile.dump_stats(os.environ["TLZ_PROGRAM_PROFILE"])


atexit.register(_dump)
_program = Path(__file__).resolve().with_name("_program_main.py")
if os.environ.get("TLZ_PROGRAM_PROFILE"):
    _profile.enable()
exec(compile(_program.read_text(), "__main__.py", "exec"))
