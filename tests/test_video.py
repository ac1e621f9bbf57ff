"""Video: frame rate, frame count, size and the audio track survive; clips made by the test."""

import subprocess

import numpy as np
import pytest

from transformnet import video


def _make_clip(path, audio, fps=12, seconds=1, size="64x48"):
    cmd = [video.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    cmd += ["-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path)]
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

    frames = video.stylize_video(src, dst, invert, progress=False)
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


def test_bad_video_is_one_line(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(video.VideoError) as info:
        video.probe(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(video.VideoError, match="no such file"):
        video.probe(tmp_path / "missing.mp4")
