"""How both commands stop on Ctrl-C, SIGTERM and SIGHUP: one rule, in one place.

Hand-written because Python's defaults lose work, and no library covers these three cases:

- **SIGTERM and SIGHUP ended Python on the spot.** SIGTERM is what ``kill``, ``timeout``,
  ``docker stop`` and a batch system's time limit send; SIGHUP is sent when the terminal closes.
  Python's default for both is to end the process on the spot. ``files.atomic_write``'s temporary
  file stayed beside the output, a video's ffmpeg went on encoding, and ``train.py`` lost every
  step since its last checkpoint. Within :func:`stopping_signals` these two signals raise
  :class:`Terminated`, a KeyboardInterrupt, so every ``finally`` runs as it does on Ctrl-C. Once
  one has been raised, the next SIGTERM or SIGHUP ends the process at once.
- **A Ctrl-C could be lost.** CPython drops an exception raised inside a garbage-collector
  callback; JAX registers one, which runs often while Keras is imported, and its report reads
  "Exception ignored in: <function _xla_gc_callback>". A library's bare ``except:`` can swallow
  one too. A job interrupted at that moment finished with exit 0, or trained for hours. Every
  signal is now remembered. :meth:`Stop.check` raises it again (the trainer calls it between
  its start-up steps), and so does the end of the block. CPython's report of the dropped
  exception is left out.
- **Training defers the first signal.** The trainer sets ``Stop.deferring`` in its loop. There
  the first signal is a request, answered at the next step boundary by saving a checkpoint
  (``training.Run.stop``), so an interrupted run loses no steps. A second signal interrupts at
  once.

A signal that is already ignored stays ignored: ``nohup`` ignores SIGHUP, and a script's
background job ignores SIGINT. Python lets only the main thread set handlers; elsewhere the
block runs as it is.
"""

import contextlib
import os
import signal
import stat
import sys
import threading

HANDLED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""SIGHUP does not exist on Windows."""


class Terminated(KeyboardInterrupt):
    """The process was asked to end by ``signum`` (SIGTERM or SIGHUP). It is a
    KeyboardInterrupt, so it unwinds as Ctrl-C does."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def interruption(signum):
    """The exception that ``signum`` raises in the job."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def stopped(error):
    """What the commands print for an interruption: "interrupted" or "stopped by SIGTERM"."""
    return f"stopped by {error}" if isinstance(error, Terminated) else "interrupted"


def exit_status(error):
    """The shell's status for a process ended by a signal, 128 + its number (130 for Ctrl-C)."""
    return 128 + (error.signum if isinstance(error, Terminated) else signal.SIGINT)


class Stop:
    """The signals received inside :func:`stopping_signals`, oldest first."""

    def __init__(self):
        self.received = []
        self.deferring = False  # set by the training loop: the first signal waits for a step boundary

    @property
    def requested(self):
        return bool(self.received)

    def check(self):
        """Raises the first signal's interruption again, if one came (it may have been dropped)."""
        if self.received:
            raise interruption(self.received[0])

    def _handle(self, signum, frame):
        self.received.append(signum)
        if signum == getattr(signal, "SIGHUP", None):
            _leave_a_closed_terminal()
        if self.deferring and len(self.received) == 1:
            return
        for number in HANDLED:  # a second SIGTERM or SIGHUP ends the process at once
            if number != signal.SIGINT and signal.getsignal(number) == self._handle:
                signal.signal(number, signal.SIG_DFL)
        raise interruption(signum)


def _leave_a_closed_terminal():
    """SIGHUP means the terminal has gone: every write to it fails (EIO). The stop line, the
    checkpoint's line and Python's flush at exit then raised, and the run ended with status 1 or
    120 and a traceback no one could read. Output that went to a terminal goes to the null
    device from now on; output to a file or a pipe (a log) is kept."""
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with contextlib.suppress(OSError):  # not isatty(): a terminal that has hung up answers False
            if stat.S_ISCHR(os.fstat(fd).st_mode):
                os.dup2(null, fd)
    os.close(null)


@contextlib.contextmanager
def stopping_signals():
    """Within the block, Ctrl-C, SIGTERM and SIGHUP are handled as the module docstring says.
    Yields the block's :class:`Stop`; the handlers that were set before are restored at its end."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    report = sys.unraisablehook

    def unless_dropped(unraisable):  # the dropped interruption is raised again; its report is noise
        if not (stop.received and isinstance(unraisable.exc_value, KeyboardInterrupt)):
            report(unraisable)

    previous = {number: signal.getsignal(number) for number in HANDLED}
    previous = {number: handler for number, handler in previous.items() if handler is not signal.SIG_IGN}
    for number in previous:
        signal.signal(number, stop._handle)
    sys.unraisablehook = unless_dropped
    try:
        yield stop
        stop.check()
    finally:
        sys.unraisablehook = report
        for number, handler in previous.items():
            # None: a handler that was not set from Python (an embedding program); Python's own then
            signal.signal(number, handler if handler is not None else
                          signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
