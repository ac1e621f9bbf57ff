"""Video: frame rate, frame count, size and the audio track survive; clips made by the test."""

import subprocess

import numpy as np
import pytest

from transformnet import video


def _make_clip(path, audio, fps=12, seconds=1, size="64x48", audio_seconds=None, video_filter=None):
    cmd = [video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={audio_seconds or seconds}", "-c:a", "aac"]
    if video_filter:  # a variable frame rate: keep only the frames the filter selects
        cmd += ["-vf", video_filter, "-fps_mode", "vfr"]
    cmd += ["-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)]
    subprocess.run(cmd, check=True)


def _count_frames(path):
    import imageio_ffmpeg

    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


@pytest.mark.parametrize("audio", [False, True])
def test_video_keeps_fps_frames_and_audio(tmp_path, audio):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_clip(src, audio)
    seen = []

    def invert(frame):
        seen.append(frame.shape)
        return 255 - frame

    frames = video.stylize_video(src, dst, invert, progress=False, replace=False)
    meta_in, meta_out = video.probe(src), video.probe(dst)
    assert frames == _count_frames(src) == _count_frames(dst) == 12
    assert meta_out["fps"] == meta_in["fps"] == 12
    assert meta_out["size"] == meta_in["size"] == (64, 48)
    assert set(seen) == {(48, 64, 3)}
    assert bool(meta_out.get("audio_codec")) is audio
    # The frames really are the processed ones (inverted), up to H.264 loss.
    import imageio_ffmpeg

    reader_in, reader_out = imageio_ffmpeg.read_frames(str(src)), imageio_ffmpeg.read_frames(str(dst))
    next(reader_in), next(reader_out)
    a = np.frombuffer(next(reader_in), np.uint8).astype(float)
    b = np.frombuffer(next(reader_out), np.uint8).astype(float)
    assert np.abs((255 - a) - b).mean() < 12
    assert not list(tmp_path.glob(".tmp-*"))


def test_an_audio_track_a_little_shorter_keeps_every_frame(tmp_path):
    """Camera and phone files often end their audio a few ms before the picture; ffmpeg's
    -shortest then dropped the last frame and the check for a full disk reported that as one."""
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_clip(src, audio=True, seconds=1, audio_seconds=0.9)
    assert video.stylize_video(src, dst, lambda frame: frame, progress=False, replace=False) == 12
    assert _count_frames(dst) == 12 and video.probe(dst).get("audio_codec")


def test_a_longer_audio_track_is_cut_to_the_video(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_clip(src, audio=True, seconds=1, audio_seconds=3)
    video.stylize_video(src, dst, lambda frame: frame, progress=False, replace=False)
    assert video.probe(dst)["duration"] < 1.2


def test_a_variable_frame_rate_clip_keeps_its_length(tmp_path):
    """A clip with frames at uneven times (3 of every 10 kept: ffmpeg says 10.2 fps, base rate 30)
    was decoded at 30 frames/s with repeats and written at 10.2: 3.3 times too long."""
    import imageio_ffmpeg

    src, dst = tmp_path / "vfr.mp4", tmp_path / "out.mp4"
    _make_clip(src, audio=False, fps=30, seconds=2, video_filter="select='lt(mod(n\\,10)\\,3)'")
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(src))
    assert frames == 18  # the clip is what the test means
    written = video.stylize_video(src, dst, lambda frame: frame, progress=False, replace=False)
    assert abs(imageio_ffmpeg.count_frames_and_secs(str(dst))[1] - seconds) < 0.35  # 3 of its frames; it was 5.8 s
    assert written == _count_frames(dst) <= frames + 3


def test_a_phone_video_is_read_upright_without_library_chatter(tmp_path, caplog):
    """A phone's portrait clip is stored landscape with a rotation tag; ffmpeg applies it, and
    imageio-ffmpeg's warning about it (printed three times per run) is not shown."""
    flat, phone = tmp_path / "flat.mp4", tmp_path / "phone.mp4"
    _make_clip(flat, audio=False)
    tag = [video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-display_rotation", "90", "-i", str(flat), "-c", "copy", str(phone)]
    if subprocess.run(tag, capture_output=True).returncode:
        pytest.skip("this ffmpeg cannot tag a rotation (-display_rotation needs ffmpeg >= 7)")
    seen = set()
    video.stylize_video(phone, tmp_path / "out.mp4", lambda frame: seen.add(frame.shape) or frame, progress=False, replace=False)
    assert seen == {(64, 48, 3)} and video.probe(tmp_path / "out.mp4")["size"] == (48, 64)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("imageio_ffmpeg")] == []


def test_the_video_takes_the_size_of_the_stylized_frames(tmp_path):
    """A frame function may resize (``--max-size``): the video is the size it returns, odd sides
    scaled up by 1 px for yuv420p; a frame that changes size midway is one line."""
    src = tmp_path / "in.mp4"
    _make_clip(src, audio=False)
    half = lambda frame: frame[::2, ::2][:, :31]  # noqa: E731 - 31x24
    assert video.stylize_video(src, tmp_path / "half.mp4", half, progress=False, replace=False) == 12
    assert video.probe(tmp_path / "half.mp4")["size"] == (32, 24)
    calls = []

    def shrinking(frame):
        calls.append(1)
        return frame if len(calls) < 3 else frame[:40]

    with pytest.raises(video.VideoError, match=r"^.*in\.mp4: frame 3 came out 64x40, not 64x48$"):
        video.stylize_video(src, tmp_path / "bad.mp4", shrinking, progress=False, replace=False)
    assert not (tmp_path / "bad.mp4").exists() and not list(tmp_path.glob(".tmp-*"))


def test_bad_video_is_one_line(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(video.VideoError) as info:
        video.probe(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(video.VideoError, match="no such file"):
        video.probe(tmp_path / "missing.mp4")
    sound = tmp_path / "sound.m4a"
    cmd = [video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", str(sound)]
    subprocess.run(cmd, check=True)
    with pytest.raises(video.VideoError, match=r"sound\.m4a: no video stream found \(only audio\)$"):
        video.probe(sound)


def test_a_photo_is_not_taken_for_a_video_but_an_animated_gif_is(tmp_path):
    """ffmpeg reads a JPEG as a 1-frame video; --video photo.jpg is a slip for --image."""
    from PIL import Image

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 24), (200, 30, 30)).save(photo)
    with pytest.raises(video.VideoError, match=r"photo\.jpg: a still JPEG image, not a video; stylize it with --image$"):
        video.probe(photo)
    frames = [Image.new("RGB", (32, 24), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    meta = video.probe(tmp_path / "anim.gif")
    assert meta["size"] == (32, 24)
    assert video.stylize_video(tmp_path / "anim.gif", tmp_path / "anim.mp4", lambda f: f, progress=False, replace=False) == 3


def test_a_full_disk_while_adding_the_audio_names_the_output_not_the_source(tmp_path, monkeypatch):
    """ffmpeg's "No space left on device" while muxing the audio was reported as the input
    video's problem ("could not copy the audio track"); it is the output's write failure, which
    stops a batch like any full disk."""
    from transformnet.files import STOPS_EVERYTHING, WriteError

    full = subprocess.CompletedProcess([], 1, "", "[out#0/mp4 @ 0x1] Error closing file: No space left on device\n")
    monkeypatch.setattr(video.subprocess, "run", lambda *args, **kwargs: full)
    with pytest.raises(WriteError) as info:
        video._mux_audio(str(tmp_path / "v.mp4"), "in.mp4", str(tmp_path / ".tmp-1.mp4"), "out.mp4", 1.0)
    assert str(info.value) == "out.mp4: cannot write (No space left on device)" and info.value.errno in STOPS_EVERYTHING
    other = subprocess.CompletedProcess([], 1, "", "Invalid data found when processing input\n")
    monkeypatch.setattr(video.subprocess, "run", lambda *args, **kwargs: other)
    with pytest.raises(video.VideoError, match="in.mp4: could not copy the audio track"):
        video._mux_audio(str(tmp_path / "v.mp4"), "in.mp4", str(tmp_path / ".tmp-1.mp4"), "out.mp4", 1.0)


def test_a_file_size_limit_while_adding_the_audio_names_the_output_not_the_source(tmp_path):
    """``ulimit -f`` kills ffmpeg with SIGXFSZ, which prints nothing (subprocess gives children
    the default action Python ignores): the line blamed the input, "in.mp4: could not copy the
    audio track (ffmpeg failed)"; it is the output's write failure, and stops a batch."""
    import errno
    import sys

    from conftest import ROOT, file_size_limit

    src, picture = tmp_path / "in.mp4", tmp_path / "picture.mp4"
    _make_clip(src, audio=True)
    _make_clip(picture, audio=False)
    code = ("import sys\nfrom transformnet import video\n"
            "try:\n    video._mux_audio(sys.argv[1], sys.argv[2], sys.argv[3], 'out.mp4', 1.0)\n"
            "except Exception as error:\n    print(type(error).__name__, getattr(error, 'errno', None), error)\n")
    result = subprocess.run([sys.executable, "-c", code, str(picture), str(src), str(tmp_path / ".tmp-1.mp4")], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, preexec_fn=file_size_limit(1000))
    assert result.stdout == f"WriteError {errno.EFBIG} out.mp4: cannot write (File too large)\n", result.stderr
