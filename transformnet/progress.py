"""The console's progress bars: where they are shown, and the training bar.

A bar is for a person at a terminal. Where the console (standard output or error) is a file or
a pipe (``nohup``, SLURM, CI, ``| tee``) tqdm's redraws would be one endless line of carriage returns, so there
eval.py's bars are hidden (its per-photo lines stay) and training prints one line per loss fetch.
"""

import sys
import time

from .info import duration


def tqdm_disable(quiet):
    """tqdm's ``disable``: True for ``--quiet`` and where standard output is no terminal; else
    None, tqdm's own "no bar unless its stream (standard error) is a terminal".

    Both streams are asked because the lines go to standard output and the bar to standard
    error: with ``| tee log`` or ``> log`` at a terminal, tqdm alone saw a terminal, drew its bar
    there and the log got no line at all.
    """
    return True if quiet or not _is_terminal(sys.stdout) else None


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class Progress:
    """The console's training bar: it moves with every finished step and shows the losses and an
    ETA whenever they are fetched (every ``--log-every`` steps).

    It starts after the train step has compiled (``start``), so compile time does not distort the
    rate or the ETA. Where the console is not a terminal (or tqdm is missing): one printed line
    per loss fetch instead.
    """

    def __init__(self, total, file=None, log=None):
        """``log``: a callable that takes each line instead of a bar (``transformnet.train``'s
        ``log=``: a caller who takes the status lines takes these too)."""
        self.total, self.file, self.log, self.bar, self.done = total, file, log, None, 0
        self.started, self.first = time.time(), 0

    def start(self, step):
        self.started, self.first, self.done = time.time(), step, step
        if self.log is not None:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        bar = tqdm(total=self.total, initial=step, unit="step", dynamic_ncols=True, file=self.file,
                   disable=None if self.file is not None else tqdm_disable(False))
        self.bar = None if bar.disable else bar

    def advance(self, step):
        """``step`` steps are finished (a count the bar never exceeds)."""
        if self.bar is not None and step > self.done:
            self.bar.update(step - self.done)
        self.done = max(self.done, step)

    def losses(self, step, text):
        self.advance(step)
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=True)
            return
        rate = (step - self.first) / max(time.time() - self.started, 1e-9)
        eta = f"eta {duration((self.total - step) / rate)}" if rate > 0 else ""
        line = f"step {step}/{self.total} {text} {eta}"
        if self.log is not None:
            self.log(line)
        else:
            print(line, file=self.file or sys.stdout, flush=True)

    def note(self, text):
        """What the run is doing besides training steps (validating, saving); '' clears it."""
        if self.bar is not None:
            self.bar.set_description_str(text, refresh=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
