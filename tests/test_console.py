"""The console filter of quiet.py (issue 9): TensorFlow's start-up noise goes, real errors stay."""

import subprocess
import sys

from conftest import ROOT, as_from_a_terminal

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795465685.100658    4678 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1795465685.100978    4678 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
    "W0000 00:00:1795465685.100978    4678 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.",
    "E0000 00:00:1795465687.225933    4678 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
]
REAL = [
    "E0000 00:00:1795465687.225933    4678 bfc_allocator.cc:12] Allocator ran out of memory",
    "F0000 00:00:1795465687.225933    4678 cpu_feature_guard.cc:9] The TensorFlow library was compiled to use AVX",
    "Traceback (most recent call last):",
    "ImportError: libcudnn.so.9: cannot open shared object file",
]


def _run(body):
    script = "import os, sys\nfrom transformnet.quiet import filtered_stderr\n" + body
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_noise_is_dropped_and_everything_else_kept_in_order():
    lines = NOISE[:3] + REAL[:1] + NOISE[3:] + REAL[1:]
    text = "".join(line + "\n" for line in lines)
    result = _run(f"with filtered_stderr():\n    os.write(2, {text.encode()!r})\n    print('python', file=sys.stderr)\n"
                  "os.write(2, b'after\\n')\n")
    assert result.stderr.splitlines() == REAL + ["python", "after"]


def test_a_crash_inside_still_shows_what_was_printed():
    """The filter is a separate process, so a crash during the import (abort) loses nothing."""
    result = _run(f"with filtered_stderr():\n    os.write(2, {(NOISE[1] + chr(10) + REAL[1] + chr(10)).encode()!r})\n"
                  "    os.abort()\n")
    assert result.returncode != 0
    assert result.stderr.splitlines() == [REAL[1]]


def test_ctrl_c_while_the_filter_runs_prints_no_traceback_and_loses_no_line():
    """Ctrl-C at a terminal (or ``timeout -s INT``) reaches the whole process group, the filter
    too: while Keras loaded, eval.py printed the filter's own ``Traceback ... KeyboardInterrupt``
    above its ``error: interrupted``, and whatever the process printed after went nowhere."""
    body = (
        "import signal, time\n"
        "signal.signal(signal.SIGINT, lambda *args: None)  # this process goes on, as eval.py cleans up\n"
        "with filtered_stderr():\n"
        "    time.sleep(1)  # the filter has started\n"
        "    os.killpg(0, signal.SIGINT)\n"
        "    time.sleep(0.5)\n"
        "    os.write(2, b'a line after Ctrl-C\\n')\n"
    )
    script = "import os, sys\nfrom transformnet.quiet import filtered_stderr\n" + body
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            start_new_session=True)  # its own group: the signal reaches it and its filter only
    assert (result.returncode, result.stderr) == (0, "a line after Ctrl-C\n")


def test_training_progress_is_a_bar_at_a_terminal_and_plain_lines_in_a_log():
    """tqdm's redraws in a log file (nohup, SLURM, CI) would be one endless line of carriage
    returns: there, each loss fetch is one line of its own."""
    import io

    from transformnet.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for console, is_terminal in ((Terminal(), True), (io.StringIO(), False)):
        progress = Progress(20, file=console)
        progress.start(0)
        for step in (5, 10):
            progress.advance(step)
        progress.losses(10, "loss 1.5")
        progress.close()
        text = console.getvalue()
        assert ("\r" in text) is is_terminal, text
        if not is_terminal:
            assert [line.split(" eta")[0] for line in text.splitlines()] == ["step 10/20 loss 1.5"]


def test_training_lines_go_to_a_piped_output_even_with_a_terminal_beside_it(monkeypatch):
    """``train.py | tee log`` at a terminal: standard error is the terminal, standard output the
    pipe. tqdm alone drew its bar on the terminal and the log got no line; now the lines go to
    the log, and a bar is drawn only where both are terminals."""
    import io

    from transformnet.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stdout, stderr, bar in ((io.StringIO(), Terminal(), False), (Terminal(), Terminal(), True), (Terminal(), io.StringIO(), False)):
        monkeypatch.setattr(sys, "stdout", stdout)
        monkeypatch.setattr(sys, "stderr", stderr)
        progress = Progress(20)
        progress.start(0)
        progress.losses(10, "loss 1.5")
        progress.close()
        monkeypatch.undo()
        assert ("\r" in stderr.getvalue()) is bar, stderr.getvalue()
        assert ("step 10/20 loss 1.5" in stdout.getvalue()) is not bar, stdout.getvalue()


def test_eval_shows_no_bar_where_its_console_is_not_a_terminal(tmp_path):
    """Several photos with the slow path's per-iteration bar, stderr a pipe: only our lines."""
    import numpy as np
    from PIL import Image

    photos = []
    for i in range(2):
        photos.append(tmp_path / f"p{i}.png")
        Image.fromarray(np.full((24, 24, 3), 60 * i, np.uint8)).save(photos[-1])
    done = subprocess.run(
        [sys.executable, "eval.py", "--style", str(photos[0]), "--image", str(photos[1]), "--size", "24",
         "--iterations", "3", "--output", str(tmp_path / "out.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "it/s" not in done.stderr, done.stderr


def _device_out_of_memory():
    """The error the active Keras backend raises for an allocation no machine has (1 TiB)."""
    import keras

    try:
        keras.ops.convert_to_numpy(keras.ops.zeros((1 << 40,), "uint8"))
    except Exception as error:  # noqa: BLE001 - whatever type the backend raises
        return error
    raise AssertionError("allocated 1 TiB")


def test_out_of_memory_is_recognised_whichever_backend_raises_it():
    from transformnet.quiet import out_of_memory

    reason = out_of_memory(_device_out_of_memory())
    assert reason and "\n" not in reason and len(reason) <= 160
    assert out_of_memory(MemoryError()) == "MemoryError"
    assert out_of_memory(ValueError("shapes do not match")) is None


def test_out_of_memory_is_one_line_naming_what_to_lower(tmp_path, monkeypatch, capsys):
    """A batch or photo too large for the device: one line with the flags that lower it, and the
    other photos still stylized; never a traceback."""
    import numpy as np
    from PIL import Image

    import transformnet
    from transformnet import cli, training

    oom = _device_out_of_memory()

    def fail(*args, **kwargs):
        raise oom

    monkeypatch.setattr(transformnet, "train", fail)
    status = training.main(["--style", "s.jpg", "--name", "n", "--data", str(tmp_path), "--batch-size", "64"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1, err
    assert err[0].startswith("error: out of memory at --batch-size 64 --image-size 256 --style-size 512 (")

    from transformnet.network import build_transform_net
    from transformnet.quiet import out_of_memory

    build_transform_net(width=0.125).save(tmp_path / "m.keras")
    photos = []
    for name in ("big", "small"):
        photos.append(tmp_path / f"{name}.png")
        Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photos[-1])
    real, calls = transformnet.stylize, []

    def first_fails(model, photo, **options):
        calls.append(photo.shape)
        return fail() if len(calls) == 1 else real(model, photo, **options)

    monkeypatch.setattr(transformnet, "stylize", first_fails)
    status = cli.main(["--model", str(tmp_path / "m.keras"), "--image", *map(str, photos), "--output", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(calls) == 2
    assert err == [f"error: {photos[0]}: out of memory ({out_of_memory(oom)}); {cli.LOWER_MEMORY['--model']}"]
    assert (tmp_path / "out" / "small_m.jpg").exists() and not (tmp_path / "out" / "big_m.jpg").exists()


def test_sighup_from_a_closed_terminal_still_ends_with_the_signals_status():
    """A closed terminal sends SIGHUP, and every write to it then fails (EIO): the stop line
    raised, and the run ended with status 1 and a traceback instead of 128 + SIGHUP."""
    import os
    import pty
    import signal

    script = ("import os, signal, sys, time\nfrom transformnet.signals import exit_status, stopped, stopping_signals\n"
              "try:\n    with stopping_signals():\n        print('ready', flush=True)\n        time.sleep(60)\n"
              "except KeyboardInterrupt as stop:\n    print(stopped(stop), file=sys.stderr, flush=True)\n"
              "    print('and more output', flush=True)\n    sys.exit(exit_status(stop))\n")
    terminal, side = pty.openpty()
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdin=side, stdout=side, stderr=side,
                             preexec_fn=as_from_a_terminal())
    os.close(side)
    with os.fdopen(terminal, "rb", buffering=0) as screen:
        assert screen.read(5) == b"ready"
    # The terminal is gone: the child's writes to it fail from now on.
    child.send_signal(signal.SIGHUP)
    assert child.wait(timeout=60) == 128 + signal.SIGHUP
