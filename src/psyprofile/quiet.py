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

# TQDM_DISABLE sets the default of every tqdm(disable=...) (tqdm >= 4.66 reads TQDM_* when
# it is imported); HF_HUB_DISABLE_PROGRESS_BARS is read by huggingface_hub, and transformers
# takes its own default from huggingface_hub. PSYPROFILE_QUIET tells the study's DuckDB
# connections to draw no bar of their own either (see progress_silenced).
QUIET_ENV: dict[str, str] = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                             "PSYPROFILE_QUIET": "1"}


def silence_progress() -> None:
    """Switch off progress bars in this process and in the processes it starts.

    Call it before the heavy libraries are imported (the CLI does so while it parses the
    options): tqdm reads its environment variables once, on import. Libraries imported
    already are switched off through their public functions.
    """
    os.environ.update(QUIET_ENV)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def progress_silenced() -> bool:
    """Whether :func:`silence_progress` ran in this process or the one that started it."""
    return os.environ.get("PSYPROFILE_QUIET") == "1"
