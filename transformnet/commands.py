"""How a message names the two commands, so that the command it suggests runs where the user is.

A checkout runs ``python eval.py`` and ``python train.py``; an installed wheel has no such scripts,
only the entry points ``transformnet-stylize`` and ``transformnet-train`` (pyproject.toml; an
editable install has them too). Messages that said ``python train.py`` to a wheel's user named a
file that is not there. So a process started as one of the scripts names the scripts, by the path
it was started with; anything else (an entry point, the Python API) names the entry points.
"""

import os
import sys

COMMANDS = {"stylize": ("eval.py", "transformnet-stylize"), "train": ("train.py", "transformnet-train")}
"""job -> (the checkout's script, the installed entry point)."""


def command(job):
    """What to type for ``job`` ("stylize" or "train"): ``python eval.py`` (the path this
    process was started with, if it is a checkout's script) or ``transformnet-stylize``."""
    script, entry_point = COMMANDS[job]
    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started) in {name for name, _ in COMMANDS.values()}:
        return f"python {os.path.join(os.path.dirname(started), script)}"
    return entry_point
