"""In-memory video codec round trips with PyAV: encode frames to an MP4 in a BytesIO, decode back.

Shared by the codec video corruptions (CRF / ABR encodes, bit errors, packet loss) and the
training degradation model (one intra-coded H.264 frame).

Frames are padded (last row and column repeated) to a size each encoder handles safely, and the
decoded frames cropped back. Measured with this project's PyAV wheels (x264 core 165, x265 4.x):
- x264, widths of an odd number of macroblocks (80, 112, 176, 336 px): valgrind shows the
  macroblock tree reading uninitialised stack memory, and a process running x264 round trips of
  an 80 px wide clip now and then encoded it to different bytes. Even macroblock counts (96, 160,
  320, 352 px) read nothing uninitialised, so widths are padded to a multiple of 32 px, and x264
  keeps its defaults (``mbtree=0`` would also quiet valgrind, but it made a CRF-23 stream much
  larger and so changed every severity). Padded, a process that ran the whole corruption test
  file still got another stream now and then (in the macroblocks beside the padding), while fresh
  processes always gave the same one. (In-process writes of a 64 px wide clip were not repeatable
  either: ``corrupt_video`` in ``video_decorruptor.benchmark.corruptions`` stores with the tree off.)
- x265, one coding tree unit wide (up to 64 px): widths 34 to 48 px corrupted the heap (the
  process aborted with "free(): invalid next size", with or without threads), so widths are
  padded to at least 128 px, two units. It is not repeatable within a process either, nor with
  its threads even in fresh processes; fresh processes single-threaded
  (``pools=none:frame-threads=1``) always gave the same stream.
- So by default every encode runs in a fresh Python process (``python -m image_core.codec``,
  frames in and the stream out through its pipes): the same frames give the same stream, and an
  encoder's abort becomes an error here.
- Decoding uses the demuxer's own codec context. A decoder made with ``CodecContext.create`` and
  given the stream's extradata read uninitialised memory when it opened (valgrind), and an x264
  round trip in a process that had also decoded HEVC then came out different now and then (not
  since decoding moved to the demuxer's context).
The run counts behind these findings are in docs/history.md.
The RGB <-> YUV 4:2:0 conversions are OpenCV's.
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

__all__ = ["decode_stream", "encode_frames"]

# codec -> (multiple, minimum) of the encoded width in pixels: see the module docstring
WIDTH_RULES = {"libx264": (32, 0), "libx265": (2, 128)}
X265_PARAMS = "log-level=error:pools=none:frame-threads=1"


def encoded_size(height: int, width: int, codec: str) -> tuple[int, int]:
    """The (height, width) a codec is given: 4:2:0 needs even sizes, and some widths break encoders."""
    multiple, minimum = WIDTH_RULES.get(codec, (2, 0))
    return height + height % 2, max(minimum, -(-width // multiple) * multiple)


def encode_frames(
    frames: np.ndarray,
    fps: float,
    codec: str,
    options: dict[str, str],
    bit_rate: int | None = None,
    fresh_process: bool = True,
) -> io.BytesIO:
    """Encode (T, H, W, 3) uint8 frames to an in-memory MP4 (4:2:0, as real streams are).

    ``fresh_process``: encode in a new Python process, so the same frames always give the same stream
    (module docstring; at the cost of a process start per encode). False suits many small encodes (training pairs)
    where one stream in many may come out different."""
    if codec == "libx265":  # quiet and single-threaded (module docstring), then the caller's own params
        options = {**options, "x265-params": ":".join(filter(None, [X265_PARAMS, options.get("x265-params")]))}
    if fresh_process:
        return _encode_in_fresh_process(frames, fps, codec, options, bit_rate)
    return _encode(frames, fps, codec, options, bit_rate)


def _encode_in_fresh_process(
    frames: np.ndarray, fps: float, codec: str, options: dict[str, str], bit_rate: int | None
) -> io.BytesIO:
    """:func:`_encode` in ``python -m image_core.codec``: the request and the stream go through its pipes."""
    package_root = str(Path(__file__).resolve().parents[1])
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    request = pickle.dumps((np.ascontiguousarray(frames), fps, codec, options, bit_rate))
    result = subprocess.run(
        [sys.executable, "-m", "image_core.codec"], input=request, capture_output=True, env=environment
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(
            f"{codec} failed on {frames.shape[2]}x{frames.shape[1]} frames "
            f"(exit status {result.returncode}): {message[0]}"
        )
    return io.BytesIO(result.stdout)


def _encode(frames: np.ndarray, fps: float, codec: str, options: dict[str, str], bit_rate: int | None) -> io.BytesIO:
    import av

    height, width = encoded_size(frames.shape[1], frames.shape[2], codec)
    frames = np.pad(frames, ((0, 0), (0, height - frames.shape[1]), (0, width - frames.shape[2]), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001), options=options)
        stream.height, stream.width = height, width
        stream.pix_fmt = "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        for frame in frames:
            planar = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(planar, format="yuv420p")))
        container.mux(stream.encode(None))
    buffer.seek(0)
    return buffer


def decode_stream(
    buffer: io.BytesIO,
    reference: np.ndarray,
    fps: float,
    keep_packet: Callable[[int], bool] = lambda index: True,
    bitstream_filter: str | None = None,
) -> np.ndarray:
    """Decode the stream back to the reference's shape: lost or undecodable frames repeat the last
    good one (the first good one for a damaged start), and the encoder's padding is cropped off."""
    import av

    count, height, width = reference.shape[:3]
    decoded: dict[int, np.ndarray] = {}
    with av.open(buffer, mode="r", format="mp4") as container:
        stream = container.streams.video[0]
        decoder = stream.codec_context
        noise = av.bitstream.BitStreamFilterContext(bitstream_filter, stream) if bitstream_filter else None
        packets = [packet for packet in container.demux(stream) if packet.size]
        for index, packet in enumerate(packets):
            if not keep_packet(index):
                continue
            for filtered in noise.filter(packet) if noise else [packet]:
                _decode_packet(decoder, filtered, stream.time_base, fps, decoded)
        _decode_packet(decoder, None, stream.time_base, fps, decoded)
    out = np.empty_like(reference)
    good = sorted(i for i in decoded if 0 <= i < count)
    if not good:  # nothing survived: a receiver would show a black screen
        out[:] = 0
        return out
    last = decoded[good[0]]
    for index in range(count):
        last = decoded.get(index, last)
        out[index] = last[:height, :width]
    return out


def _decode_packet(decoder, packet, time_base, fps: float, decoded: dict[int, np.ndarray]) -> None:
    import av

    try:
        frames = decoder.decode(packet)
    except av.error.FFmpegError:  # damaged data: the decoder skips it, as players do
        return
    for frame in frames:
        if frame.pts is None:
            continue
        planar = frame.to_ndarray(format="yuv420p")
        decoded[int(round(float(frame.pts * time_base) * fps))] = cv2.cvtColor(planar, cv2.COLOR_YUV2RGB_I420)


if __name__ == "__main__":  # the fresh process of _encode_in_fresh_process
    sys.stdout.buffer.write(_encode(*pickle.loads(sys.stdin.buffer.read())).getvalue())
