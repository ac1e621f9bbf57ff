"""The console filter of quiet.py (issue 9): TensorFlow's start-up noise goes, real errors stay."""

import subprocess
import sys

from conftest import ROOT

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
