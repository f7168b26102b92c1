"""Video corruptions: the 12 of UCF-101C plus the other video-benchmark corruptions, severities 1-5.

Kinds:
- ``frame``: an image corruption with a fresh random draw in every frame (noise, rain, blur, jpeg);
- ``clip``: one random draw for the whole clip (fog's layer) or none (brightness, saturate, contrast);
- ``temporal``: mixes frames (frame-averaging motion blur, frame-rate reduction);
- ``codec``: re-encodes in memory with PyAV: libx264 / libx265 at a CRF or an average bitrate,
  random bit errors through FFmpeg's ``noise`` bitstream filter, lost packets.

x265 does not always repeat itself: four average-bitrate encodes (``h265_abr``) of one 16-frame
64x64 clip at 40 kb/s in one process gave four different streams (also with
``pools=none:frame-threads=1``); at a CRF it repeated in one process but not in every build of a
dataset by two worker processes. x264 repeated bit for bit in every such test. Build a UCF-101C
once and keep it, rather than rebuilding it for each comparison.

Every corruption keeps the source's frame count, size and fps: decoders that lose frames (packet
loss, bit errors) repeat the last good frame, as a player freezes; ``frame_rate`` shows each
frame of the lower-rate video for as long as it lasts, so the duration is kept too.

Parameters follow the Kinetics-C / SSv2-C benchmark (Yi et al., NeurIPS 2021) where it defines
them, ImageNet-C otherwise (gauss, impulse, zoom, defocus, motion, jpeg, fog, brightness,
saturate); salt and pepper use the impulse-noise amounts with one kind of grain each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from image_core.codec import decode_stream, encode_frames
from image_core.corruptions import SEVERITIES, as_generator, corrupt

__all__ = [
    "UCF101C_CORRUPTIONS",
    "VIDEO_CORRUPTIONS",
    "VideoCorruption",
    "corrupt_frames",
    "corrupt_video",
    "video_corruption_names",
]

UCF101C_CORRUPTIONS = (
    "gauss",
    "pepper",
    "salt",
    "shot",
    "zoom",
    "impulse",
    "defocus",
    "motion",
    "jpeg",
    "contrast",
    "rain",
    "h265_abr",
)


@dataclass(frozen=True)
class ClipContext:
    """What a corruption may need beyond the frames: the clip's frame rate and source bitrate."""

    fps: float
    source_bit_rate: int | None = None


ClipFn = Callable[[np.ndarray, int, np.random.Generator, ClipContext], np.ndarray]


@dataclass(frozen=True)
class VideoCorruption:
    """A registered video corruption: ``fn(frames_uint8_THW3, severity, rng, context) -> frames``."""

    name: str
    kind: str
    fn: ClipFn


VIDEO_CORRUPTIONS: dict[str, VideoCorruption] = {}


def _register(name: str, kind: str) -> Callable[[ClipFn], ClipFn]:
    def add(fn: ClipFn) -> ClipFn:
        VIDEO_CORRUPTIONS[name] = VideoCorruption(name, kind, fn)
        return fn

    return add


def _each_frame(image_corruption: str) -> ClipFn:
    """An image corruption applied frame by frame, the generator advancing between frames."""

    def apply(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
        return np.stack([corrupt(frame, image_corruption, severity, rng) for frame in frames])

    return apply


for _name, _image_name in (
    ("gauss", "gaussian_noise"),
    ("shot", "shot_noise"),
    ("impulse", "impulse_noise"),
    ("zoom", "zoom_blur"),
    ("defocus", "defocus_blur"),
    ("motion", "motion_blur"),
    ("jpeg", "jpeg_compression"),
):
    _register(_name, "frame")(_each_frame(_image_name))
for _name in ("brightness", "saturate"):
    _register(_name, "clip")(_each_frame(_name))


def _grain(frames: np.ndarray, severity: int, rng: np.random.Generator, value: int) -> np.ndarray:
    amount = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    out = frames.copy()
    out[rng.random(frames.shape, dtype=np.float32) < amount] = value
    return out


@_register("salt", "frame")
def salt(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    """White grains on a fraction [0.03 .. 0.27] of the values, redrawn every frame."""
    return _grain(frames, severity, rng, 255)


@_register("pepper", "frame")
def pepper(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    """Black grains on a fraction [0.03 .. 0.27] of the values, redrawn every frame."""
    return _grain(frames, severity, rng, 0)


@_register("contrast", "clip")
def contrast(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    c = [0.5, 0.4, 0.3, 0.2, 0.1][severity - 1]
    x = frames.astype(np.float32)
    means = x.mean(axis=(1, 2), keepdims=True)
    return np.clip(np.rint((x - means) * c + means), 0, 255).astype(np.uint8)


@_register("rain", "frame")
def rain(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    """Grey streaks redrawn every frame with one slant per clip, a 3x3 blur, then darkening."""
    c = [(770, 10, 0.8), (770, 30, 0.8), (770, 60, 0.7), (500, 60, 0.6), (400, 80, 0.5)][severity - 1]
    area_per_drop, length, darkening = c
    _, h, w, _ = frames.shape
    drops = max(1, h * w // area_per_drop)
    slant = rng.uniform(-10, 10)  # pixels of horizontal travel per streak, the wind of the clip
    dx = int(round(slant * length / 60))
    out = np.empty_like(frames)
    for index, frame in enumerate(frames):
        rainy = frame.copy()
        xs = rng.integers(-abs(dx), w + abs(dx), drops)
        ys = rng.integers(-length, h, drops)
        for x, y in zip(xs.tolist(), ys.tolist()):
            cv2.line(rainy, (x, y), (x + dx, y + length), (220, 220, 220), 1)
        rainy = cv2.blur(rainy, (3, 3))
        hsv = cv2.cvtColor(rainy, cv2.COLOR_RGB2HSV)
        hsv[..., 2] = (hsv[..., 2] * darkening).astype(np.uint8)
        out[index] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


@_register("fog", "clip")
def fog(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    """ImageNet-C fog with ONE plasma layer for the whole clip (re-seeding per frame draws the same layer)."""
    clip_seed = int(rng.integers(2**63))
    return np.stack([corrupt(frame, "fog", severity, np.random.default_rng(clip_seed)) for frame in frames])


@_register("temporal_motion_blur", "temporal")
def temporal_motion_blur(
    frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext
) -> np.ndarray:
    """Each frame becomes the mean of the 2c frames around it, [t - c, t + c), clipped at the ends."""
    c = [3, 5, 7, 9, 11][severity - 1]
    count = len(frames)
    # A running window sum in int32 (exact): memory of one frame, not of the clip.
    window = frames[: min(c, count)].sum(axis=0, dtype=np.int32)
    out = np.empty_like(frames)
    for t in range(count):
        if t + c - 1 < count and t > 0:  # frame t + c - 1 enters (it was not in [t - 1 - c, t - 1 + c))
            window += frames[t + c - 1]
        if t - c - 1 >= 0:  # frame t - c - 1 leaves
            window -= frames[t - c - 1]
        size = min(t + c, count) - max(t - c, 0)
        out[t] = np.rint(window / size).astype(np.uint8)
    return out


@_register("frame_rate", "temporal")
def frame_rate(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    """Resample to 20 .. 6 fps and back onto the source's timeline: same frame count and duration,
    each kept frame held until the next (a source at or below the target rate is unchanged)."""
    target = [20, 16, 12, 9, 6][severity - 1]
    if context.fps <= target:
        return frames.copy()
    times = np.arange(len(frames)) / context.fps
    kept_times = np.floor(times * target) / target
    source = np.clip(np.floor(kept_times * context.fps + 1e-6).astype(int), 0, len(frames) - 1)
    return frames[source]


# ---------------------------------------------------------------------------------------------
# Codec corruptions, in memory with PyAV
# ---------------------------------------------------------------------------------------------


def _source_bit_rate(frames: np.ndarray, context: ClipContext) -> int:
    """The source's bitrate, or that of a typical-quality H.264 encode (CRF 23) when unknown."""
    if context.source_bit_rate:
        return int(context.source_bit_rate)
    size = len(encode_frames(frames, context.fps, "libx264", {"crf": "23", "preset": "veryfast"}).getvalue())
    return int(size * 8 * context.fps / len(frames))


def _crf(codec: str, table: list[int]) -> ClipFn:
    def apply(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
        options = {"crf": str(table[severity - 1])}
        return decode_stream(encode_frames(frames, context.fps, codec, options), frames, context.fps)

    return apply


def _abr(codec: str) -> ClipFn:
    def apply(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
        bit_rate = max(1000, _source_bit_rate(frames, context) // [2, 4, 8, 16, 32][severity - 1])
        options = {"maxrate": str(bit_rate), "bufsize": str(bit_rate)}
        return decode_stream(encode_frames(frames, context.fps, codec, options, bit_rate=bit_rate), frames, context.fps)

    return apply


_register("h264_crf", "codec")(_crf("libx264", [23, 30, 37, 44, 51]))
_register("h265_crf", "codec")(_crf("libx265", [27, 33, 39, 45, 51]))
_register("h264_abr", "codec")(_abr("libx264"))
_register("h265_abr", "codec")(_abr("libx265"))


@_register("bit_error", "codec")
def bit_error(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    """H.264 (CRF 23) through FFmpeg's ``noise`` filter: about one byte in ``amount`` altered.

    The filter draws from its own fixed pseudo-random sequence, so this corruption is
    deterministic but does not depend on the seed."""
    amount = [100000, 50000, 30000, 20000, 10000][severity - 1]
    buffer = encode_frames(frames, context.fps, "libx264", {"crf": "23"})
    return decode_stream(buffer, frames, context.fps, bitstream_filter=f"noise=amount={amount}")


@_register("packet_loss", "codec")
def packet_loss(frames: np.ndarray, severity: int, rng: np.random.Generator, context: ClipContext) -> np.ndarray:
    """H.264 (CRF 23) with 1, 2, 3, 4 or 6 % of the packets dropped at random; the first packet
    (the keyframe that opens the stream) always arrives, later frames decode with errors from
    their lost references."""
    probability = [0.01, 0.02, 0.03, 0.04, 0.06][severity - 1]
    buffer = encode_frames(frames, context.fps, "libx264", {"crf": "23"})
    lost = rng.random(len(frames) + 16) < probability
    return decode_stream(buffer, frames, context.fps, keep_packet=lambda index: index == 0 or not lost[index])


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def video_corruption_names(ucf101c_only: bool = False) -> list[str]:
    """The 12 UCF-101C corruptions first, then the other video-benchmark ones."""
    if ucf101c_only:
        return list(UCF101C_CORRUPTIONS)
    return list(UCF101C_CORRUPTIONS) + [n for n in VIDEO_CORRUPTIONS if n not in UCF101C_CORRUPTIONS]


def _check(name: str, severity: int) -> VideoCorruption:
    if name not in VIDEO_CORRUPTIONS:
        raise ValueError(f"unknown video corruption {name!r}; allowed: {', '.join(video_corruption_names())}")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer 1 to 5, got {severity!r}")
    return VIDEO_CORRUPTIONS[name]


def corrupt_frames(
    frames: np.ndarray,
    name: str,
    severity: int,
    rng: np.random.Generator | int | None = None,
    fps: float = 25.0,
    source_bit_rate: int | None = None,
) -> np.ndarray:
    """Corrupt a clip in memory.

    Args:
        frames: (T, H, W, 3) uint8, H and W >= 32.
        name: a name from :func:`video_corruption_names`.
        severity: 1 to 5.
        rng: a ``numpy.random.Generator`` or an int seed (same seed, same output).
        fps: the clip's frame rate (frame_rate and the codecs need it).
        source_bit_rate: bits/s of the source (ABR codecs); measured from a CRF-23 encode if None.

    Returns:
        (T, H, W, 3) uint8.
    """
    corruption = _check(name, severity)
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"frames must be a uint8 array (T, H, W, 3), got {type(frames).__name__} {shape}")
    if len(frames) == 0 or min(frames.shape[1:3]) < 32:
        raise ValueError(f"frames must hold at least one frame of at least 32x32, got {frames.shape}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return corruption.fn(frames, int(severity), as_generator(rng), ClipContext(float(fps), source_bit_rate))


def corrupt_video(
    src: str | Path,
    dst: str | Path,
    name: str,
    severity: int,
    seed: int = 0,
    crf: int = 10,
    write: Callable[[Path, np.ndarray, float], None] | None = None,
) -> dict:
    """Corrupt a video file into ``dst`` (atomically). Returns a summary (frames, fps, size).

    By default the result is stored with libx264 at CRF ``crf`` in 4:4:4, which keeps the
    corruption as it is: a default encode (CRF 23, 4:2:0) acts as a denoiser on noise corruptions
    (docs/commands.md, make-ucf101c, has the figures). x264 runs without its macroblock tree, which
    is not repeatable within one process, so a corrupted dataset built twice is the same.
    ``write(dst, frames, fps)`` stores the frames another way (e.g. as the published UCF-101C does).
    """
    from video_decorruptor.io import VideoWriter, read_video

    _check(name, severity)
    frames, info = read_video(src)
    corrupted = corrupt_frames(frames, name, severity, rng=seed, fps=info.fps, source_bit_rate=info.bit_rate)
    if write is not None:
        write(Path(dst), corrupted, info.fps)
    else:
        options = {"preset": "fast", "x264-params": "mbtree=0"}
        fps = Fraction(info.fps).limit_denominator(1001)
        with VideoWriter(dst, fps, crf=crf, pixel_format="yuv444p", options=options) as writer:
            writer.write(corrupted)
    return {
        "frames_in": len(frames),
        "frames_out": len(corrupted),
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
    }
