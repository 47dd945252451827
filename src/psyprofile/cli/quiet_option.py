"""``--quiet``: one option for every command that draws progress bars.

``psyprofile --quiet CMD`` and ``psyprofile CMD --quiet`` mean the same. Either silences the
libraries' bars as well (:func:`psyprofile.quiet.silence_progress`), as soon as the option
is parsed: before the command imports them.
"""

from __future__ import annotations

import click

from psyprofile.quiet import silence_progress


def _quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    value = value or bool(ctx.find_root().params.get("quiet"))
    if value:
        # the environment is put back when the command ends, so a command run in-process
        # (tests, the demo) leaves the caller's bars alone
        ctx.call_on_close(silence_progress())
    return value


# the flag; the command receives ``quiet: bool``
quiet_option = click.option("--quiet", is_flag=True, callback=_quiet,
                            help="No progress bars (none from the libraries used either).")
