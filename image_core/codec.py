"""In-memory video codec round trips with PyAV: encode frames to an MP4 in a BytesIO, decode back.

Shared by the codec video corruptions (CRF / ABR encodes, bit errors, packet loss) and the
training degradation model (one intra-coded H.264 frame).

Frames are padded (last row and column repeated) to a size each encoder handles safely, and the
decoded frames cropped back. Measured with this project's PyAV wheels (x264 core 165, x265 4.x):
- x264, widths of an odd number of macroblocks (80, 112, 176, 336 px): valgrind shows the
  macroblock tree reading uninitialised stack memory, and a process that had run some round trips
  now and then encoded the same frames to different bytes (the seeded codec tests failed about 1
  run in 10). Even macroblock counts (96, 160, 320, 352 px) read nothing uninitialised, so widths
  are padded to a multiple of 32 px and x264 keeps its defaults (``mbtree=0`` cures it too, but
  it doubled a CRF-23 stream and so changed every severity).
- x265, one coding tree unit wide (up to 64 px): widths 34 to 48 px corrupted the heap (the
  process aborted with "free(): invalid next size"), and 64 px gave another stream every few
  encodes; 80 to 128 px were stable. So widths are padded to at least 128 px, two units. (At
  very low average bitrates x265 is still not always repeatable at any width: README.)
The RGB <-> YUV 4:2:0 conversions are OpenCV's.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Callable

import cv2
import numpy as np

__all__ = ["decode_stream", "encode_frames"]

# codec -> (multiple, minimum) of the encoded width in pixels: see the module docstring
WIDTH_RULES = {"libx264": (32, 0), "libx265": (2, 128)}


def encoded_size(height: int, width: int, codec: str) -> tuple[int, int]:
    """The (height, width) a codec is given: 4:2:0 needs even sizes, and some widths break encoders."""
    multiple, minimum = WIDTH_RULES.get(codec, (2, 0))
    return height + height % 2, max(minimum, -(-width // multiple) * multiple)


def encode_frames(frames: np.ndarray, fps: float, codec: str, options: dict[str, str], bit_rate: int | None = None) -> io.BytesIO:
    """Encode to an in-memory MP4 (4:2:0, as real streams are)."""
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
        decoder = av.CodecContext.create(stream.codec_context.name, "r")
        decoder.extradata = stream.codec_context.extradata
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
