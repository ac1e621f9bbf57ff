"""Outputs that cannot be written (issue 9): found before the work where possible, otherwise one
line naming the file, no temporary file left, an existing file untouched."""

import errno
import functools
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, file_size_limit, unwritable_folder
from transformnet.files import WriteError, check_writable, read_problem
from transformnet.images import ImageError, output_format


def test_formats_pil_cannot_write_are_refused_up_front():
    for path in ("a.jpg", "a.JPEG", "a.png", "a.tif", "a.webp"):
        output_format(path)
    for path, words in (("a.psd", "cannot write RGB photos as PSD"), ("a.xbm", "as XBM"), ("a.foo", "unknown image format")):
        with pytest.raises(ImageError, match=words) as info:
            output_format(path)
        assert str(info.value).startswith(f"{path}: ")


def test_places_that_cannot_hold_a_file_are_refused_up_front(tmp_path):
    blocker = tmp_path / "photo.jpg"
    blocker.write_bytes(b"x")
    for path in (blocker / "out.jpg", blocker / "new" / "deeper" / "out.jpg"):
        with pytest.raises(WriteError, match="is a file, not a folder") as info:
            check_writable(path)
        assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(WriteError, match="is a folder"):
        check_writable(tmp_path)
    with pytest.raises(WriteError, match="file name longer than"):
        check_writable(tmp_path / ("y" * 250 + "_starry.jpg"))  # a long photo name plus the suffix
    check_writable(tmp_path / "new" / "deeper" / "out.jpg")  # folders that do not exist yet are fine
    assert not (tmp_path / "new").exists()


def test_inputs_that_cannot_be_read_are_named_for_what_they_are(tmp_path):
    good = tmp_path / "photo.jpg"
    good.write_bytes(b"x")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would block: refused before open
    assert read_problem(good) is None
    expected = {
        "missing.jpg": "no such file",
        "empty.jpg": "empty file (0 bytes)",
        "folder.jpg": "is a folder, not a file",
        "dangling.jpg": f"broken link (to {tmp_path / 'gone.jpg'})",
        "pipe.jpg": "not a regular file",
    }
    assert {name: read_problem(tmp_path / name) for name in expected} == expected


def _readers():
    """Every function that opens an input file the user names, with the error it raises."""
    from transformnet import checks, fast, images, settings, video, vgg

    return {
        "photo or painting": (images.load_image, images.ImageError),
        "image size probe": (images.probe_image, images.ImageError),
        "video": (video.probe, video.VideoError),
        "model path": (fast.resolve_model, fast.ModelError),
        "model file": (fast.load_transform_model, fast.ModelError),
        "--vgg-weights flag": (checks.vgg_weights, checks.FlagError),
        "VGG16 weights": (functools.partial(vgg._load_weights, None), vgg.WeightsError),
        "--config": (settings.read_settings_file, settings.TrainingError),
    }


@pytest.mark.parametrize("kind", sorted(_readers()))
def test_every_input_reader_says_what_is_wrong_with_the_file(tmp_path, kind):
    """One rule (files.read_problem) for every input: a folder where a file should be reads as a
    folder, not as "not a Keras model file" or "weights file not found"."""
    read, error_type = _readers()[kind]
    for name, words in (("folder.keras", "is a folder, not a file"), ("missing.keras", "no such file")):
        path = tmp_path / name
        if name.startswith("folder"):
            path.mkdir(exist_ok=True)
        with pytest.raises(error_type) as info:
            read(str(path))
        assert str(info.value).startswith(f"{path}: ") and words in str(info.value), str(info.value)


def test_unwritable_folder_is_refused_up_front(tmp_path):
    with unwritable_folder(tmp_path / "locked") as locked:
        with pytest.raises(WriteError, match="not writable"):
            check_writable(locked / "out.jpg")
        with pytest.raises(WriteError, match="not writable"):
            check_writable(locked / "sub" / "out.jpg")


SAVE = """
import sys
import numpy as np
from transformnet.files import WriteError
from transformnet.images import save_image
noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
try:
    save_image(sys.argv[1], noise, replace=True)
except WriteError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
"""


@pytest.mark.parametrize("name", ["kept.jpg", "kept.png"])
def test_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, name):
    """PIL's JPEG writer ignores a failed write: before issue 9 a truncated JPEG replaced the old file."""
    target = tmp_path / name
    target.write_bytes(b"the good old file")
    result = subprocess.run([sys.executable, "-c", SAVE, str(target)], cwd=ROOT, capture_output=True, text=True,
                            preexec_fn=file_size_limit(20_000), timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == f"error: {target}: cannot write (File too large)"
    assert target.read_bytes() == b"the good old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_full_disk_leaves_no_empty_folder_it_made(tmp_path):
    """``--output new/deeper/`` on a full disk: the first photo's failure left the empty folders."""
    target = tmp_path / "new" / "deeper" / "photo.jpg"
    result = subprocess.run([sys.executable, "-c", SAVE, str(target)], cwd=ROOT, capture_output=True, text=True,
                            preexec_fn=file_size_limit(20_000), timeout=120)
    assert result.stderr.strip() == f"error: {target}: cannot write (File too large)"
    assert list(tmp_path.iterdir()) == []


def test_no_space_left_on_a_real_small_disk(tmp_path):
    """The same with ENOSPC on a 32 KiB tmpfs (needs root to mount; skipped otherwise)."""
    from transformnet.images import save_image

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        target = disk / "kept.jpg"
        save_image(target, np.zeros((8, 8, 3), np.uint8), replace=False)
        before = target.read_bytes()
        noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
        with pytest.raises(WriteError, match=f"^{target}: cannot write \\(No space left on device\\)$") as info:
            save_image(target, noise, replace=True)
        assert info.value.errno == 28
        assert target.read_bytes() == before
        assert [p.name for p in disk.iterdir()] == ["kept.jpg"]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


VIDEO = """
import sys
from transformnet.files import WriteError
from transformnet.video import stylize_video
try:
    stylize_video(sys.argv[1], sys.argv[2], lambda frame: 255 - frame, progress=False, replace=True)
except WriteError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
"""


@pytest.mark.parametrize("audio", [False, True])
def test_video_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, audio):
    """ffmpeg reports no failed write; the finished file is read back instead."""
    from test_video import _make_clip

    clip = tmp_path / "in.mp4"
    _make_clip(clip, audio=audio, fps=10, seconds=2, size="320x240")
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run([sys.executable, "-c", VIDEO, str(clip), str(out / "styled.mp4")], cwd=ROOT,
                            capture_output=True, text=True, preexec_fn=file_size_limit(20_000), timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {out / 'styled.mp4'}: cannot write")
    assert not list(out.iterdir())


def _appears_meanwhile(target, content):
    """A ``write`` for atomic_write that, while it writes, lets another job create ``target``."""

    def write(tmp):
        with open(tmp, "w") as handle:
            handle.write("this job's result")
        with open(target, "w") as handle:
            handle.write(content)

    return write


@pytest.mark.parametrize("hard_links", [True, False])
def test_an_output_that_appears_while_the_job_runs_is_not_replaced(tmp_path, monkeypatch, hard_links):
    """The check before the work cannot see a file that another job creates during it (two
    train.py --name starry, two eval.py on one folder): without replace it is kept, one line says
    so, and no temporary file is left. Where hard links fail (FAT), a last look does the same."""
    from transformnet.files import atomic_write

    if not hard_links:
        def no_link(src, dst):
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "starry.keras"
    with pytest.raises(WriteError) as info:
        atomic_write(target, _appears_meanwhile(target, "the other job's model"), replace=False)
    assert str(info.value) == (f"{target}: appeared while this job ran (another job writing the same name?); "
                               "left as it is, use --force to replace it")
    assert info.value.errno == 17
    assert target.read_text() == "the other job's model"
    assert [p.name for p in tmp_path.iterdir()] == ["starry.keras"]
    fresh = tmp_path / "fresh.jpg"
    atomic_write(fresh, lambda tmp: open(tmp, "w").write("new"), replace=False)  # nothing there: written
    assert fresh.read_text() == "new" and (fresh.stat().st_mode & 0o777) == 0o666 & ~_umask()
    atomic_write(target, _appears_meanwhile(target, "the other job's model"), replace=True)  # --force
    assert target.read_text() == "this job's result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.jpg", "starry.keras"]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_folder_output_is_published_the_same_way(tmp_path):
    """A SavedModel export is a folder: one that appeared meanwhile is kept unless replacing."""
    from transformnet.files import publish

    def finished(name):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "saved_model.pb").write_text(name)
        return folder

    target = tmp_path / "starry_savedmodel"
    publish(finished(".tmp-1"), target, replace=False)
    assert (target / "saved_model.pb").read_text() == ".tmp-1"
    with pytest.raises(WriteError, match="appeared while this job ran"):
        publish(finished(".tmp-2"), target, replace=False)
    assert (target / "saved_model.pb").read_text() == ".tmp-1"
    mine = tmp_path / "starry_savedmodel.old"  # a user's folder: replacing used it as scratch and deleted it
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    publish(tmp_path / ".tmp-2", target, replace=True)
    assert (target / "saved_model.pb").read_text() == ".tmp-2"
    assert (mine / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["starry_savedmodel", "starry_savedmodel.old"]


LOCK_HOLDER = """
import sys, time
from transformnet.files import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_folder_lock_is_exclusive_and_dies_with_its_process(tmp_path):
    """train.py's --logdir lock: a second holder is refused at once naming the first; a killed
    holder leaves no stale lock; the block's end releases it."""
    from transformnet.files import FolderBusy, folder_lock

    folder = tmp_path / "runs" / "starry"
    child = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "locked\n"
        with pytest.raises(FolderBusy, match=f"^pid {child.pid} on "):
            with folder_lock(folder):
                pass
    finally:
        child.kill()
        child.wait()
    with folder_lock(folder):
        with pytest.raises(FolderBusy, match=f"^pid {os.getpid()} on "):
            with folder_lock(folder):
                pass
    with folder_lock(folder):
        pass
    assert [p.name for p in folder.iterdir()] == [".lock"]


def test_a_folder_lock_removes_the_folders_it_made_if_nothing_else_was_written(tmp_path):
    """A run that stopped on bad photos left runs/NAME/.lock behind (and runs/): the folders the
    lock made go with it when they hold nothing else, also when the block raised; a folder that
    was there before, or that the block wrote into, stays."""
    from transformnet.files import folder_lock

    with pytest.raises(ValueError):
        with folder_lock(tmp_path / "runs" / "bad"):
            raise ValueError("no readable photos")
    assert list(tmp_path.iterdir()) == []
    with folder_lock(tmp_path / "runs" / "good"):
        (tmp_path / "runs" / "good" / "events").write_text("x")
    assert sorted(p.name for p in (tmp_path / "runs" / "good").iterdir()) == [".lock", "events"]
    (tmp_path / "kept").mkdir()
    with folder_lock(tmp_path / "kept"):
        pass
    assert [p.name for p in (tmp_path / "kept").iterdir()] == [".lock"]


def test_a_folder_lock_on_a_full_disk_is_one_line_naming_the_lock(tmp_path):
    """train.py on a --logdir whose disk is full said "error: output: No space left on device":
    the pid written into .lock failed with an OSError that names no file. Now a WriteError names
    .lock, and the folders the lock made are gone again."""
    from conftest import file_size_limit

    script = ("import sys\nfrom transformnet.files import WriteError, folder_lock\n"
              "try:\n    with folder_lock(sys.argv[1]):\n        print('locked')\nexcept WriteError as error:\n    print(error)\n")
    folder = tmp_path / "runs" / "starry"
    done = subprocess.run([sys.executable, "-c", script, str(folder)], cwd=ROOT, capture_output=True, text=True,
                          preexec_fn=file_size_limit(0))  # no byte can be written, as on a full disk
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{folder / '.lock'}: cannot write (File too large)\n"
    assert list(tmp_path.iterdir()) == []


def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    """kill -9 (or the OOM killer) during a write leaves a hidden temporary (a half-written video
    can be gigabytes). The next write into that folder removes it; a live writer's temporary and
    one from another host (a shared file system) stay."""
    from transformnet.files import atomic_write

    code = ("import sys, time; from transformnet.files import atomic_write\n"
            "atomic_write(sys.argv[1], lambda tmp: (print(tmp, flush=True), time.sleep(60)), replace=False)")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / f"out{i}.mp4")], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True) for i in range(2)]
    killed, live = (writer.stdout.readline().strip() for writer in writers)
    writers[0].kill()
    writers[0].wait()
    host = os.path.basename(killed).split("-")[2]
    other_host = tmp_path / f".tmp-{writers[0].pid}-{'0' if host[0] != '0' else '1'}{host[1:]}-abc.mp4"
    other_host.write_bytes(b"x")
    try:
        assert os.path.exists(killed) and os.path.exists(live)
        atomic_write(tmp_path / "next.jpg", lambda tmp: open(tmp, "wb").write(b"jpeg"), replace=False)
        assert not os.path.exists(killed)
        assert os.path.exists(live) and other_host.exists()
        assert (tmp_path / "next.jpg").read_bytes() == b"jpeg"
    finally:
        writers[1].kill()
        writers[1].wait()


def test_a_path_through_a_link_and_dotdot_is_written_where_the_kernel_says(tmp_path):
    """``link/../new/out.jpg`` is in the folder above the link's target. ``os.path.abspath``
    cleans it to ``./new/out.jpg``: the write made that folder, put its temporary there and
    failed to move it to the real place ("No such file or directory")."""
    from transformnet.files import atomic_write

    (tmp_path / "elsewhere" / "target").mkdir(parents=True)
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "link").symlink_to(tmp_path / "elsewhere" / "target")
    path = tmp_path / "here" / "link" / ".." / "new" / "out.jpg"
    check_writable(path)
    atomic_write(path, lambda tmp: open(tmp, "wb").write(b"jpeg"), replace=False)
    assert (tmp_path / "elsewhere" / "new" / "out.jpg").read_bytes() == b"jpeg"
    assert not (tmp_path / "here" / "new").exists()

    def disk_full(tmp):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError, match="No space left"):  # the folder it made is removed: the real one
        atomic_write(tmp_path / "here" / "link" / ".." / "newer" / "out.jpg", disk_full, replace=False)
    assert not (tmp_path / "elsewhere" / "newer").exists() and not (tmp_path / "here" / "newer").exists()


def test_a_folder_removed_by_another_jobs_failure_is_made_again(tmp_path, monkeypatch):
    """Two jobs write into one new --output folder; the one that fails removes the folder it
    made, possibly between the other's makedirs and mkstemp. The other one makes it again."""
    import tempfile

    from transformnet.files import atomic_write

    real, calls = tempfile.mkstemp, []

    def racing(*args, dir, **kwargs):
        if not calls:
            os.rmdir(dir)  # the other job's clean-up, just now
        calls.append(dir)
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", racing)
    atomic_write(tmp_path / "new" / "out.jpg", lambda tmp: open(tmp, "wb").write(b"jpeg"), replace=False)
    assert (tmp_path / "new" / "out.jpg").read_bytes() == b"jpeg" and len(calls) == 2


def test_a_process_in_another_pid_namespace_on_this_host_names_its_temporaries_apart(tmp_path):
    """Two containers sharing the host's name (``--network host``) and a mounted output folder
    number their processes each on their own: a live writer of one looked dead to the other,
    whose next write removed that writer's temporary mid-write. Their names now differ."""
    import shutil

    from transformnet import files

    code = "from transformnet import files; print(files._HOST)"
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"no new PID namespace here: {done.stderr.strip()[-200:]}")
    same = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert same.stdout.strip() == files._HOST  # the same namespace: its dead writers' temporaries are removed
    assert done.stdout.strip() != files._HOST
