"""Stylizing a video frame by frame, keeping its frame rate and its audio track.

imageio-ffmpeg is the optional ``[video]`` extra: without it ``--video`` is refused with one
line saying what to install. It has no audio API, so the audio mux alone calls its ffmpeg.

Decoding and encoding use imageio-ffmpeg (the ffmpeg layer under imageio, used directly:
frames stream as raw RGB bytes without imageio's plugin machinery). It ships its own static
ffmpeg binary, so nothing has to be installed system-wide. Frames are decoded as RGB24, stylized one at a time (memory
stays one frame), and encoded as H.264 (yuv420p, the format every player accepts) at the
input's frame rate. They are decoded at that same rate (``-r``): a variable-rate clip (phones,
screen recordings, GIFs with uneven delays) was otherwise decoded at ffmpeg's base rate, with
repeated frames, and played back at the average rate, three or four times too long. If the input has an audio track it is then muxed in from the input
unchanged (stream copy; re-encoded as AAC only if the container refuses the original codec).
The result is written to a temporary file next to the output, read back (ffmpeg does not report
a full disk), and renamed when complete.
"""

import errno
import logging
import os
import signal
import subprocess
import warnings

import numpy as np

from .files import WriteError, atomic_write, read_problem, write_failure_named_in
from .progress import tqdm_disable

QUALITY = 8
"""imageio-ffmpeg's 0..10 quality scale (libx264 CRF ~ 18): visually lossless for stylized
frames, whose brush-stroke texture compresses poorly at lower settings."""


class VideoError(ValueError):
    """A video that cannot be read or written; ``str()`` is one line naming the file."""


def _imageio_ffmpeg(path):
    """The imageio_ffmpeg module, or a VideoError naming ``path`` and the extra to install."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VideoError(f'{path}: --video needs imageio-ffmpeg, which comes with the [video] extra: pip install "transformnet[video]"') from None
    # Its warnings are about what this module asks of it: a phone video's rotation applied on
    # reading ("frame size for reading ... is different"), odd sides scaled up by 1 px on writing.
    # They would print as raw lines between ours; failures still raise.
    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)
    # JAX warns at every fork that a forked copy of its threads may deadlock; subprocess execs
    # ffmpeg at once, so that cannot happen here.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning, module="subprocess")
    return imageio_ffmpeg


def ffmpeg_exe():
    return _imageio_ffmpeg("ffmpeg").get_ffmpeg_exe()


def _still_image_format(path):
    """PIL's format name when ``path`` is a still image (ffmpeg would make a 1-frame video of it),
    else None. An animated GIF is a video; a camera's MPO JPEG (a photo plus a preview or a
    stereo pair) is still."""
    from PIL import Image, UnidentifiedImageError

    from .images import is_animated

    try:
        with Image.open(path) as image:
            return None if is_animated(image) else image.format
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def probe(path):
    """Returns imageio-ffmpeg's metadata (fps, size, duration, codec, audio_codec) of ``path``."""
    path = os.fspath(path)
    imageio_ffmpeg = _imageio_ffmpeg(path)
    problem = read_problem(path)
    if problem:
        raise VideoError(f"{path}: {problem}")
    still = _still_image_format(path)
    if still:
        raise VideoError(f"{path}: a still {still} image, not a video; stylize it with --image")
    try:
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        reader.close()
    except (OSError, RuntimeError, StopIteration) as error:
        kinds = sorted({kind.lower() for kind in _streams(path)})
        if kinds and "video" not in kinds:
            raise VideoError(f"{path}: no video stream found (only {' and '.join(kinds)})") from None
        first = (str(error).strip().splitlines() or ["unreadable"])[-1]
        raise VideoError(f"{path}: not a readable video ({first[:120]})") from None
    if not meta.get("fps") or not meta.get("size"):
        raise VideoError(f"{path}: no video stream found")
    return meta


def _streams(path):
    """The kinds of ``path``'s streams as ffmpeg lists them (``["Video", "Audio"]``); [] if none.

    Asked only when reading frames failed, to tell an audio-only file from an unreadable one:
    imageio-ffmpeg's own error for it is ffmpeg's "Error opening output files"."""
    import re

    listing = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", path], capture_output=True, text=True, errors="replace")
    return re.findall(r"^\s*Stream #\S+.*?: (Video|Audio|Subtitle|Data|Attachment):", listing.stderr, re.MULTILINE)


def _mux_audio(video_only, source, target, output, seconds):
    """Copies ``source``'s audio (if any), its first ``seconds`` (the stylized video's length),
    next to ``video_only``'s picture into ``target`` (the temporary file of ``output``). A failed
    write (full disk) names ``output``, not the source.

    The audio is cut by reading no more of the source than the video lasts, not by ffmpeg's
    ``-shortest``: that cut the *video* to an audio track a few milliseconds shorter (common in
    camera and phone files), dropping its last frame."""
    base = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", video_only, "-t", f"{seconds:.6f}", "-i", source,
            "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy"]
    for audio in (["-c:a", "copy"], ["-c:a", "aac", "-b:a", "192k"]):
        result = subprocess.run(base + audio + [target], capture_output=True, text=True)
        if result.returncode == 0:
            return
    message = (result.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
    number = write_failure_named_in(result.stderr)
    if result.returncode == -getattr(signal, "SIGXFSZ", 0):
        # A file-size limit (ulimit -f) kills ffmpeg silently: Python ignores SIGXFSZ, but
        # subprocess gives children its default action back. Its output is what was too large.
        number = errno.EFBIG
    if number is not None:
        raise WriteError(f"{output}: cannot write ({os.strerror(number)})", number)
    raise VideoError(f"{source}: could not copy the audio track ({message[:120]})")


def _check_written(path, frames, target):
    """ffmpeg (under imageio-ffmpeg) reports no failed disk write: a full disk leaves a silently
    truncated file. So the finished file is read back; fewer frames than were sent is a failure."""
    import imageio_ffmpeg

    try:
        written, _ = imageio_ffmpeg.count_frames_and_secs(path)
    except (OSError, RuntimeError):
        written = 0
    if written < frames:
        raise WriteError(f"{target}: cannot write (the encoded video is incomplete: disk full or a file-size limit?)")


def _writer(path, shape, fps):
    """imageio-ffmpeg's H.264 writer for frames of ``shape`` (H, W, 3), primed."""
    writer = _imageio_ffmpeg(path).write_frames(
        path,
        (shape[1], shape[0]),
        fps=fps,
        codec="libx264",
        pix_fmt_out="yuv420p",
        quality=QUALITY,
        macro_block_size=2,  # yuv420p needs even sides; odd ones are scaled up by 1 px
        ffmpeg_log_level="error",
    )
    writer.send(None)
    return writer


def stylize_video(source, target, stylize_frame, progress=True, *, replace):
    """Writes ``target``: every frame of ``source`` passed through ``stylize_frame``; an existing
    ``target`` is replaced only if ``replace`` (``files.publish``).

    ``stylize_frame(rgb_uint8) -> rgb`` (uint8 or float 0..255; the first frame's output size,
    e.g. after ``--max-size``, is the video's, and every frame must keep it). Returns the
    number of frames written. ``progress``: show a tqdm bar (total estimated from duration).
    """
    from tqdm import tqdm

    source, target = os.fspath(source), os.fspath(target)
    meta = probe(source)
    imageio_ffmpeg = _imageio_ffmpeg(source)
    fps = float(meta["fps"])
    width, height = meta["size"]
    estimate = int(round(fps * meta["duration"])) if meta.get("duration") else None
    has_audio = bool(meta.get("audio_codec"))

    def write(tmp):
        video_only = tmp + ".video.mp4" if has_audio else tmp
        try:
            frames = _encode(video_only)
            _check_written(video_only, frames, target)
            if has_audio:
                _mux_audio(video_only, source, tmp, target, frames / fps)
                _check_written(tmp, frames, target)
        finally:
            if has_audio and os.path.exists(video_only):
                os.remove(video_only)
        return frames

    def _encode(video_only):
        frames = 0
        reader = imageio_ffmpeg.read_frames(source, output_params=["-r", f"{fps:g}"])
        next(reader)
        writer = None  # sized by the first stylized frame: --max-size makes frames smaller
        bar = tqdm(total=estimate, unit="frame", desc=os.path.basename(source), disable=tqdm_disable(not progress))
        try:
            for raw in reader:
                frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
                out = np.asarray(stylize_frame(frame))
                if out.dtype != np.uint8:
                    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
                if writer is None:
                    writer, shape = _writer(video_only, out.shape, fps), out.shape
                elif out.shape != shape:
                    raise VideoError(f"{source}: frame {frames + 1} came out {out.shape[1]}x{out.shape[0]}, not {shape[1]}x{shape[0]}")
                writer.send(np.ascontiguousarray(out))
                frames += 1
                bar.update(1)
        finally:
            bar.close()
            reader.close()
            if writer is not None:
                writer.close()
        if frames == 0:
            raise VideoError(f"{source}: no frames could be decoded")
        return frames

    return atomic_write(target, write, replace=replace)
