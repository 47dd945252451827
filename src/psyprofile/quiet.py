"""Silence every progress bar: psyprofile's own and those of the libraries it drives.

psyprofile's bars take ``progress=False``. Libraries draw their own (sentence-transformers'
and transformers' "Loading weights", huggingface_hub's downloads, any tqdm), so ``--quiet``
also flips their public switches: the environment variables they read (which worker
processes started later inherit) and, for a library already imported, its own off switch.
DuckDB's own bar (for queries over 2 s) is switched off on every study connection.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

# TQDM_DISABLE sets the default of every tqdm(disable=...) (tqdm >= 4.66 reads TQDM_* when
# it is imported); HF_HUB_DISABLE_PROGRESS_BARS is read by huggingface_hub, and transformers
# takes its own default from huggingface_hub. PSYPROFILE_QUIET tells the study's DuckDB
# connections to draw no bar of their own either (see progress_silenced).
QUIET_ENV: dict[str, str] = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                             "PSYPROFILE_QUIET": "1"}


def silence_progress() -> Callable[[], None]:
    """Switch off progress bars in this process and in the processes it starts; returns a
    function that puts the environment variables back as they were (for a command run
    inside a longer-lived process, such as a test or the demo).

    Call it before the heavy libraries are imported (the CLI does so while it parses the
    options): tqdm reads its environment variables once, on import. Libraries imported
    already are switched off through their public functions.
    """
    saved = {name: os.environ.get(name) for name in QUIET_ENV}
    os.environ.update(QUIET_ENV)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

    def restore() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    return restore


def progress_silenced() -> bool:
    """Whether :func:`silence_progress` ran in this process or the one that started it."""
    return os.environ.get("PSYPROFILE_QUIET") == "1"
