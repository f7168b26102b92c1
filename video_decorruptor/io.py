"""Video reading and writing.

Readers share one interface and are chosen by name (``pyav``, the default, or ``decord``), imported
lazily. They report fps, frame count and size, stream frames in chunks (memory does not grow with
the video's length) and fetch given frame indices. Folders of frames (PNG/JPEG) and single image
files read as videos too. The writer encodes with PyAV into a temporary file beside the target and
renames it into place only when complete.

Frames are always uint8 RGB arrays: one frame (H, W, 3), a chunk (T, H, W, 3).

One file because the readers and the writer are one interface: they share the frame convention, the
error type and the info record, and ``open_video`` chooses among them by name; about 415 lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from image_core.io import atomic_path, read_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "READERS",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "open_video",
    "read_video",
    "write_video",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_IMAGE_FPS = 25.0
# Decoding may end this many frames short of what the container states (at least 2 frames, or
# this share of them) before a video counts as truncated: edit lists and durations that include the
# last frame's length make the stated figure a little larger than what a decoder gives.
TRUNCATION_SLACK = (2, 0.05)


class VideoError(ValueError):
    """A file that cannot be read as a video (missing, empty, truncated, not a video)."""


class DamagedVideoError(VideoError):
    """A video whose decoding fails part way or ends before what its container states: the part
    before can be salvaged (``open_video(..., salvage=True)``)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a reader knows about its source before decoding it."""

    path: Path
    fps: float
    num_frames: int
    width: int
    height: int
    bit_rate: int | None = None
    has_audio: bool = False
    rotation: int = 0  # degrees counterclockwise the source's display matrix asked for, applied to the frames
    bits: int = 8  # bits per sample in the source; frames are decoded to 8 (uint16 from a deep reader)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


class VideoReader(Protocol):
    info: VideoInfo
    lost_frames: int  # frames a salvaging reader could not decode (0 once a video decoded in full)

    def chunks(self, chunk_size: int) -> Iterator[np.ndarray]:
        """Consecutive frames in chunks of (<= chunk_size, H, W, 3)."""

    def frames_at(self, indices: Sequence[int]) -> np.ndarray:
        """The frames at ``indices`` (any order, repeats allowed), (len(indices), H, W, 3)."""

    def close(self) -> None: ...


def _check_indices(indices: Sequence[int], num_frames: int) -> np.ndarray:
    wanted = np.asarray(indices, dtype=np.int64)
    if wanted.size and (wanted.min() < 0 or wanted.max() >= num_frames):
        raise IndexError(f"frame indices must lie in [0, {num_frames}), got {wanted.min()}..{wanted.max()}")
    return wanted


class PyAVReader:
    """Decode with PyAV (FFmpeg). Streams; ``frames_at`` decodes up to the last wanted frame once
    and converts only the wanted ones to arrays.

    A video whose decoding fails part way, or ends well before the frame count (or duration) its
    container states (:data:`TRUNCATION_SLACK`), raises :class:`VideoError` once the decoding gets
    there. With ``salvage`` it ends quietly after the last readable frame instead and counts the
    rest in ``lost_frames``.

    With ``deep``, a source of more than 8 bits per sample (10-bit HEVC, ProRes, ...) gives uint16
    RGB frames (0-65535) instead of uint8, so that its precision can be kept; an 8-bit source gives
    uint8 as always."""

    def __init__(self, path: str | Path, salvage: bool = False, deep: bool = False):
        import av

        self.path, self.salvage, self.lost_frames = Path(path), salvage, 0
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as error:
            raise VideoError(f"cannot open {self.path} as a video: {error}") from error
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{self.path} has no video stream")
        stream = self._container.streams.video[0]
        # frame threading loses the frames it holds when a packet fails: a salvaging reader decodes by slices
        stream.thread_type = "SLICE" if salvage else "AUTO"
        rate = stream.average_rate or stream.guessed_rate or Fraction(DEFAULT_IMAGE_FPS)
        num_frames = stream.frames or self._count_frames()
        if num_frames <= 0:
            self._container.close()
            raise VideoError(f"{self.path} has no decodable video frames")
        self.quarter_turns = self._quarter_turns()
        width, height = stream.codec_context.width, stream.codec_context.height
        self.info = VideoInfo(
            path=self.path,
            fps=float(rate),
            num_frames=num_frames,
            width=height if self.quarter_turns % 2 else width,
            height=width if self.quarter_turns % 2 else height,
            bit_rate=stream.bit_rate or self._container.bit_rate or None,
            has_audio=bool(self._container.streams.audio),
            rotation=90 * self.quarter_turns,
            bits=stream.codec_context.format.components[0].bits if stream.codec_context.format else 8,
        )
        self.rate = rate
        self.stated_frames = self._stated_frames(stream)
        self.frame_format = "rgb48le" if deep and self.info.bits > 8 else "rgb24"  # uint16 or uint8 frames

    def _quarter_turns(self) -> int:
        """Quarter turns counterclockwise (-1, 0, 1 or 2) that show the frames as the display matrix
        asks (a phone's portrait clip is stored sideways); from the first frame, which carries it."""
        import av

        try:
            first = next(self._container.decode(self._container.streams.video[0]), None)
        except av.error.FFmpegError:
            first = None
        finally:
            self._container.seek(0)
        turns = round(getattr(first, "rotation", 0) / 90) % 4 if first is not None else 0
        return turns - 4 if turns == 3 else turns

    def _array(self, frame) -> np.ndarray:
        """A decoded frame as (H, W, 3) uint8 RGB (uint16 from a deep reader of a deep source), turned upright."""
        array = frame.to_ndarray(format=self.frame_format)
        return np.ascontiguousarray(np.rot90(array, self.quarter_turns)) if self.quarter_turns else array

    def _stated_frames(self, stream) -> int | None:
        """The frame count the container states, or its duration times the frame rate; None if it says neither."""
        if stream.frames:
            return stream.frames
        if stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        elif self._container.duration:
            seconds = self._container.duration / 1_000_000  # AV_TIME_BASE
        else:
            return None
        return round(seconds * float(self.rate))

    def _count_frames(self) -> int:
        """Count video packets when the container does not say (e.g. raw or some AVI files)."""
        stream = self._container.streams.video[0]
        count = sum(1 for packet in self._container.demux(stream) if packet.size)
        self._container.seek(0)
        return count

    def _decoded(self) -> Iterator:
        """The frames in order. A salvaging reader skips the packets the decoder refuses and goes
        on (frames after the next keyframe decode again); the demuxer's last, empty packet drains
        the frames the decoder holds back."""
        import av

        self._container.seek(0)
        stream = self._container.streams.video[0]
        decoded = 0
        try:
            for packet in self._container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as error:
                    if not self.salvage:
                        raise DamagedVideoError(
                            f"{self.path} is damaged or truncated: decoding failed after frame {decoded} ({error})"
                        ) from error
                    continue
                for frame in frames:
                    yield frame
                    decoded += 1
        except av.error.FFmpegError as error:  # the container itself unreadable from here on
            if not self.salvage:
                raise DamagedVideoError(
                    f"{self.path} is damaged or truncated: reading failed after frame {decoded} ({error})"
                ) from error
        self._check_complete(decoded)

    def verify(self) -> None:
        """Read every packet (no decoding: a fraction of the cost) and apply the truncation check
        to their count, so a cut file fails before anything is restored. Decoding checks again."""
        import av

        stream = self._container.streams.video[0]
        packets = 0
        try:
            for packet in self._container.demux(stream):
                packets += packet.size > 0
        except av.error.FFmpegError as error:
            if not self.salvage:
                raise DamagedVideoError(
                    f"{self.path} is damaged: reading failed after frame {packets} ({error})"
                ) from error
        finally:
            self._container.seek(0)
        self._check_complete(packets)
        self.lost_frames = 0  # counted again, from frames, when decoding

    def _check_complete(self, decoded: int) -> None:
        """Raise (or, salvaging, count the loss) when ``decoded`` falls short of the stated frames."""
        stated = self.stated_frames
        if stated is None or decoded >= stated:
            return
        least, share = TRUNCATION_SLACK
        if not self.salvage and stated - decoded > max(least, share * stated):
            raise DamagedVideoError(
                f"{self.path} is truncated: it ends after frame {decoded}, its container states {stated} frames"
            )
        self.lost_frames = stated - decoded

    def chunks(self, chunk_size: int) -> Iterator[np.ndarray]:
        buffer: list[np.ndarray] = []
        for frame in self._decoded():
            buffer.append(self._array(frame))
            if len(buffer) == chunk_size:
                yield np.stack(buffer)
                buffer = []
        if buffer:
            yield np.stack(buffer)

    def frames_at(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(indices, self.info.num_frames)
        needed = set(wanted.tolist())
        found: dict[int, np.ndarray] = {}
        last = int(wanted.max()) if wanted.size else -1
        for index, frame in enumerate(self._decoded()):
            if index in needed:
                found[index] = self._array(frame)
            if index >= last:
                break
        missing = needed - set(found)
        if missing:
            raise VideoError(f"{self.path} ended before frame {min(missing)} (it reports {self.info.num_frames})")
        return np.stack([found[i] for i in wanted.tolist()]) if wanted.size else self._empty()

    def _empty(self) -> np.ndarray:
        dtype = np.uint16 if self.frame_format == "rgb48le" else np.uint8
        return np.zeros((0, self.info.height, self.info.width, 3), dtype)

    def close(self) -> None:
        self._container.close()


class DecordReader:
    """Decode with decord: fast random access. Resets its cursor after each batch (decord's memory
    grows on long videos otherwise)."""

    def __init__(self, path: str | Path):
        import decord

        self.path, self.lost_frames = Path(path), 0
        if not self.path.is_file() or self.path.stat().st_size == 0:
            raise VideoError(f"cannot open {self.path} as a video: missing or empty file")
        try:
            self._reader = decord.VideoReader(str(self.path), num_threads=1)
        except (decord.DECORDError, RuntimeError) as error:
            raise VideoError(f"cannot open {self.path} as a video: {error}") from error
        first = self._reader[0].shape
        fps = self._reader.get_avg_fps() or DEFAULT_IMAGE_FPS
        self.info = VideoInfo(
            path=self.path, fps=float(fps), num_frames=len(self._reader), width=first[1], height=first[0]
        )

    def chunks(self, chunk_size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.info.num_frames, chunk_size):
            yield self.frames_at(range(start, min(start + chunk_size, self.info.num_frames)))

    def frames_at(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(indices, self.info.num_frames)
        if not wanted.size:
            return np.zeros((0, self.info.height, self.info.width, 3), np.uint8)
        frames = self._reader.get_batch(wanted.tolist()).asnumpy()
        self._reader.seek(0)
        return frames

    def close(self) -> None:
        del self._reader


class ImageSequenceReader:
    """A folder of image files (sorted by name) or one image file, read as a video."""

    def __init__(self, path: str | Path, fps: float = DEFAULT_IMAGE_FPS):
        self.path, self.lost_frames = Path(path), 0
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not self.files:
                raise VideoError(f"{self.path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
        else:
            self.files = [self.path]
        first = self._load(self.files[0])
        self.info = VideoInfo(
            path=self.path, fps=fps, num_frames=len(self.files), width=first.shape[1], height=first.shape[0]
        )

    def _load(self, file: Path) -> np.ndarray:
        image = read_image(file)
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        if hasattr(self, "info") and image.shape[:2] != (self.info.height, self.info.width):
            raise VideoError(
                f"{file} is {image.shape[1]}x{image.shape[0]}, the sequence is {self.info.width}x{self.info.height}"
            )
        return image

    def chunks(self, chunk_size: int) -> Iterator[np.ndarray]:
        for start in range(0, len(self.files), chunk_size):
            yield np.stack([self._load(f) for f in self.files[start : start + chunk_size]])

    def frames_at(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(indices, len(self.files))
        return np.stack([self._load(self.files[i]) for i in wanted.tolist()])

    def close(self) -> None:
        pass


READERS: dict[str, Callable[[Path], VideoReader]] = {"pyav": PyAVReader, "decord": DecordReader}


def open_video(
    path: str | Path, backend: str = "pyav", salvage: bool = False, fps: float | None = None, deep: bool = False
) -> VideoReader:
    """Open a video file, a folder of frames or an image file.

    Args:
        salvage: a damaged or truncated video gives its readable frames instead of an error
            (:class:`PyAVReader`; the pyav backend only).
        deep: a video of more than 8 bits per sample gives uint16 frames (:class:`PyAVReader`;
            the other readers give uint8).
        fps: the frame rate of a folder of frames or an image (default :data:`DEFAULT_IMAGE_FPS`);
            a video file keeps its own.

    Raises:
        VideoError: the path is missing, empty, truncated or not a video.
        ValueError: unknown backend, or ``salvage`` with another backend than pyav.
    """
    if backend not in READERS:
        raise ValueError(f"unknown video backend {backend!r}; allowed: {', '.join(READERS)}")
    if salvage and backend != "pyav":
        raise ValueError("salvaging a damaged video needs the pyav backend")
    path = Path(path)
    if not path.exists():
        raise VideoError(f"no such file or folder: {path}")
    if path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSequenceReader(path, DEFAULT_IMAGE_FPS if fps is None else fps)
    if path.stat().st_size == 0:
        raise VideoError(f"{path} is an empty file")
    return PyAVReader(path, salvage, deep) if backend == "pyav" else READERS[backend](path)


def read_video(path: str | Path, backend: str = "pyav") -> tuple[np.ndarray, VideoInfo]:
    """All frames (T, H, W, 3) and the info; for short clips (tests, UCF-101 videos)."""
    reader = open_video(path, backend)
    try:
        frames = np.concatenate(list(reader.chunks(256)))
    finally:
        reader.close()
    return frames, reader.info


# Output container (extension) -> encoders in order of preference; the first this FFmpeg has is used.
VIDEO_ENCODERS: dict[str, tuple[str, ...]] = {
    ".mp4": ("libx264", "mpeg4"),
    ".m4v": ("libx264", "mpeg4"),
    ".mov": ("libx264", "mpeg4"),
    ".mkv": ("libx264", "mpeg4"),
    ".avi": ("libx264", "mpeg4"),
    ".webm": ("libvpx-vp9", "libsvtav1", "libaom-av1", "libvpx"),
}
# An odd-sized video in these containers: VP9, whose 4:2:0 holds any size (H.264's needs even sides),
# so the output keeps the source's size and browsers and players open it. Elsewhere (and where this
# FFmpeg lacks VP9) H.264 keeps the size in 4:4:4, which desktop players open and browsers refuse.
ODD_SIZE_ENCODERS: dict[str, tuple[str, ...]] = {".mp4": ("libvpx-vp9",), ".mkv": ("libvpx-vp9",)}
# Encoders whose 4:2:0 takes odd sides.
ANY_SIZE_420 = ("libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1")
# Encoders that keep 10 bits per sample of deep (uint16) frames; the others get them at 8 bits.
DEEP_ENCODERS = ("libx264", "libx265")
# Encoder options the writer adds (callers' options win): AVI stores no presentation timestamps, so
# H.264 goes in without B-frames (reordered frames came out with shuffled timestamps); VP9 at
# constant quality (its CRF counts only with a bit rate of 0) and at a speed fit for a CPU.
# x264 runs on one thread and without its macroblock tree, so that the same frames give the same
# file in any process and at any point of it (restore-dataset's resume and shards depend on it):
# with several threads, or with the tree (which reads uninitialised memory, image_core/codec.py),
# repeated encodes of one clip in one process came out different, up to 22 grey levels apart once
# decoded. The tree's absence costs 18 % more bytes and 0.5 dB at CRF 18 (vtest.avi, 150 frames).
CODEC_DEFAULTS: dict[str, dict[str, str]] = {"libx264": {"threads": "1", "x264-params": "mbtree=0"}}
VP9_DEFAULTS = {"b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
ENCODER_DEFAULTS: dict[tuple[str, str], dict[str, str]] = {
    (".avi", "libx264"): {"bf": "0"},
    **{(suffix, "libvpx-vp9"): VP9_DEFAULTS for suffix in (".webm", ".mp4", ".mkv")},
}


def video_encoder(path: str | Path, odd_size: bool = False) -> str:
    """The encoder :class:`VideoWriter` uses for ``path``'s container (for frames with an odd side,
    :data:`ODD_SIZE_ENCODERS` first).

    Raises:
        VideoError: an extension that names no video container this writer knows (or none), or
            one whose encoders this FFmpeg lacks.
    """
    import av

    suffix = Path(path).suffix.lower()
    if not suffix:
        raise VideoError(f"{path} has no extension; name a video file: {', '.join(VIDEO_ENCODERS)}")
    if suffix not in VIDEO_ENCODERS:
        raise VideoError(f"{path}: '{suffix}' is not a video format this tool writes; use {', '.join(VIDEO_ENCODERS)}")
    preferred = (*ODD_SIZE_ENCODERS.get(suffix, ()), *VIDEO_ENCODERS[suffix]) if odd_size else VIDEO_ENCODERS[suffix]
    for encoder in preferred:
        if encoder in av.codecs_available:
            return encoder
    raise VideoError(f"{path}: this FFmpeg has no {suffix} encoder ({', '.join(VIDEO_ENCODERS[suffix])})")


def output_kind(src: str | Path, dst: str | Path) -> str:
    """What restoring ``src`` into ``dst`` writes, "image" or "video", checked before any model
    loads: an image restores into an image, a video or a folder of frames into a video file.

    Raises:
        VideoError: ``dst`` is a folder, its format does not fit ``src``, or it is no format this
            tool writes (one line, naming what would work).
    """
    src, dst = Path(src), Path(dst)
    if dst.is_dir():
        raise VideoError(f"{dst} is a folder; name the output file")
    image_in = src.is_file() and src.suffix.lower() in IMAGE_EXTENSIONS
    image_out = dst.suffix.lower() in IMAGE_EXTENSIONS
    if image_in != image_out:
        wanted = f"an image ({', '.join(IMAGE_EXTENSIONS)})" if image_in else f"a video ({', '.join(VIDEO_ENCODERS)})"
        given = "an image" if image_in else ("a folder of frames" if src.is_dir() else "a video")
        raise VideoError(f"{src} is {given}: it restores into {wanted}, not {dst.name}")
    if image_out:
        return "image"
    video_encoder(dst)
    return "video"


def to_depth(frames: np.ndarray, deep: bool) -> np.ndarray:
    """``frames`` as uint16 (0-65535) if ``deep`` else uint8, rounded to nearest; unchanged if already so."""
    if deep:
        return frames if frames.dtype == np.uint16 else frames.astype(np.uint16) * 257
    return frames if frames.dtype == np.uint8 else ((frames.astype(np.uint32) + 128) // 257).astype(np.uint8)


# x265 (PyAV 18's wheels) corrupted the heap and aborted the process on frames 34 to 48 px wide
# (image_core/codec.py pads such frames; a written video keeps its size, so the writer refuses them)
X265_MIN_WIDTH = 50


class VideoWriter:
    """Encode frames with PyAV into a temporary file; rename onto ``path`` on a clean ``close``.

    Args:
        path: output file; the container follows the extension (:data:`VIDEO_ENCODERS`).
        fps: frame rate (a Fraction keeps NTSC rates exact).
        codec: ``libx264``, ``libx265``, ...; None: the container's (:func:`video_encoder`, with
            :data:`ENCODER_DEFAULTS`). Ignored when ``lossless``.
        crf: constant rate factor for x264/x265 (lower = better).
        pixel_format: default yuv420p (what players expect). Odd sizes keep their size: in MP4 and
            MKV the container's encoder becomes VP9, whose 4:2:0 takes any size
            (:data:`ODD_SIZE_ENCODERS`); an encoder that needs even sides in 4:2:0 (H.264, as in
            MOV and AVI) switches to yuv444p. ``crop_odd`` drops the odd row or column instead.
        crop_odd: drop an odd last row or column instead, as OpenCV's writer does (the published
            UCF-101C's storage).
        lossless: exact RGB (libx264rgb, qp 0): decoders give back the very pixels written.
        options: extra encoder options (``preset``, ``x265-params``, ...).
        interpolation: swscale filter for the RGB -> ``pixel_format`` conversion (its chroma
            subsampling), e.g. ``BICUBIC`` as OpenCV's writer uses; None: PyAV's default (bilinear).
        audio_from: a media file whose first audio stream is copied into the output unchanged
            (no re-encoding), e.g. the source of a restored video.

    Frames are uint8, or uint16 (0-65535) from a deep source: those are written at 10 bits
    (``yuv420p10le``, H.264 High 10) where the encoder has them (:data:`DEEP_ENCODERS`; an odd size
    then stays H.264, in ``yuv444p10le``), else rounded to 8 bits.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        codec: str | None = None,
        crf: int | None = 18,
        pixel_format: str = "yuv420p",
        lossless: bool = False,
        options: dict[str, str] | None = None,
        interpolation: str | None = None,
        audio_from: str | Path | None = None,
        crop_odd: bool = False,
    ):
        self.path = Path(path)
        self.crop_odd = crop_odd
        self.audio_from = Path(audio_from) if audio_from is not None else None
        self._audio_source = None
        self._audio_stream = None
        self.fps = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        self.codec, self.crf, self.pixel_format, self.lossless = codec, crf, pixel_format, lossless
        self.options = dict(options or {})
        self.interpolation = interpolation
        self._atomic = atomic_path(self.path, clear_stale=True)  # one restore writes one output
        self._temporary = self._atomic.__enter__()
        self._container = None
        self._stream = None
        self.deep = False  # written at 10 bits (set by the first frames and the encoder)
        self.frames_written = 0

    def _open(self, height: int, width: int, deep: bool) -> None:
        import av

        if self.codec == "libx265" and not self.lossless and width < X265_MIN_WIDTH:
            raise ValueError(
                f"libx265 cannot write {width} px wide frames here (34 to 48 px aborted the process; this writer takes "
                f"it from {X265_MIN_WIDTH} px); use libx264"
            )
        self._container = av.open(str(self._temporary), mode="w")
        codec, options, pixel_format = self.codec, dict(self.options), self.pixel_format
        odd, deep = bool(height % 2 or width % 2), deep and not self.lossless
        if codec is None:  # a deep odd-sized video stays with H.264 (4:4:4), which keeps its bits
            codec = video_encoder(self.path, odd_size=odd and not deep)
            options = {**ENCODER_DEFAULTS.get((self.path.suffix.lower(), codec), {}), **options}
        options = {**CODEC_DEFAULTS.get(codec, {}), **options}
        self.deep = deep and codec in DEEP_ENCODERS
        if self.lossless:
            codec, pixel_format = "libx264rgb", "rgb24"
            options.update({"qp": "0", "preset": options.get("preset", "veryfast")})
        else:
            if pixel_format == "yuv420p" and odd and codec not in ANY_SIZE_420:
                pixel_format = "yuv444p"
            if self.deep and pixel_format in ("yuv420p", "yuv444p"):
                pixel_format += "10le"
            if self.crf is not None:
                options.setdefault("crf", str(self.crf))
        self._stream = self._container.add_stream(codec, rate=self.fps, options=options)
        self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, pixel_format
        if codec == "libx265":
            self._stream.codec_context.options.setdefault("x265-params", "log-level=error")
        if self.audio_from is not None:
            source = av.open(str(self.audio_from))
            if source.streams.audio:
                self._audio_source = source
                self._audio_stream = self._container.add_stream_from_template(source.streams.audio[0])
            else:
                source.close()

    def _copy_audio(self) -> None:
        """Remux the source's audio packets as they are (after the video: the muxer interleaves)."""
        if self._audio_source is None:
            return
        audio = self._audio_source.streams.audio[0]
        for packet in self._audio_source.demux(audio):
            if packet.dts is None:
                continue
            packet.stream = self._audio_stream
            self._container.mux(packet)
        self._audio_source.close()

    def write(self, frames: np.ndarray) -> None:
        """Append frames: (H, W, 3) or (T, H, W, 3) RGB, uint8 or uint16 (a deep source's)."""
        import av

        frames = frames[None] if frames.ndim == 3 else frames
        if frames.dtype not in (np.uint8, np.uint16) or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 or uint16 (T, H, W, 3), got {frames.dtype} {frames.shape}")
        if self.crop_odd:
            frames = frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]
        if self._container is None:
            self._open(frames.shape[1], frames.shape[2], deep=frames.dtype == np.uint16)
        elif (frames.shape[1], frames.shape[2]) != (self._stream.height, self._stream.width):
            raise ValueError(
                f"frame size {frames.shape[2]}x{frames.shape[1]} differs from the video's "
                f"{self._stream.width}x{self._stream.height}"
            )
        frames = to_depth(frames, self.deep)
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame), format="rgb48le" if self.deep else "rgb24"
            )
            if self.interpolation is not None:
                video_frame = video_frame.reformat(format=self._stream.pix_fmt, interpolation=self.interpolation)
            self._container.mux(self._stream.encode(video_frame))
            self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and move the file into place."""
        if self._container is None:
            self._atomic.__exit__(ValueError, ValueError("no frames were written"), None)
            raise ValueError(f"no frames were written to {self.path}")
        self._container.mux(self._stream.encode(None))
        self._copy_audio()
        self._container.close()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop everything written so far; nothing appears at ``path``."""
        if self._container is not None:
            self._container.close()
        if self._audio_source is not None:
            self._audio_source.close()
        try:
            self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)
        except RuntimeError:
            pass

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str | Path, frames: np.ndarray, fps: float | Fraction, **writer_options) -> None:
    """Write all ``frames`` (T, H, W, 3) at once; see :class:`VideoWriter` for the options."""
    with VideoWriter(path, fps, **writer_options) as writer:
        writer.write(frames)
