"""In-memory video codec round trips with PyAV: encode frames to an MP4 in a BytesIO, decode back.

Shared by the codec video corruptions (CRF / ABR encodes, bit errors, packet loss) and the
training degradation model (one intra-coded H.264 frame).

x264 gets frames padded to a width of an even number of macroblocks (a multiple of 32 pixels, the
last column repeated; decoding crops it off). On odd macroblock widths (80, 112, 176, 336 px
measured) valgrind shows x264's macroblock tree reading uninitialised stack memory, and a process
that had run some round trips then encoded the same frames to different bytes now and then (the
seeded codec tests failed about 1 run in 10). Even widths (96, 160, 320, 352 px) read nothing
uninitialised, and x264 keeps its defaults (``mbtree=0`` would also cure it, but it doubled the
size of a CRF-23 stream and so changed every severity). The RGB <-> YUV 4:2:0 conversions are
OpenCV's.
"""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Callable

import cv2
import numpy as np

__all__ = ["decode_stream", "encode_frames"]

X264_WIDTH_MULTIPLE = 32  # two macroblocks: see the module docstring


def encode_frames(frames: np.ndarray, fps: float, codec: str, options: dict[str, str], bit_rate: int | None = None) -> io.BytesIO:
    """Encode to an in-memory MP4 (4:2:0, as real streams are)."""
    import av

    height, width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
    if codec == "libx264":
        width = -(-frames.shape[2] // X264_WIDTH_MULTIPLE) * X264_WIDTH_MULTIPLE
        frames = np.pad(frames, ((0, 0), (0, 0), (0, width - frames.shape[2]), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001), options=options)
        stream.height, stream.width = height, width
        stream.pix_fmt = "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        for frame in frames:
            planar = cv2.cvtColor(np.ascontiguousarray(frame[:height, :width]), cv2.COLOR_RGB2YUV_I420)
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
    good one (the first good one for a damaged start); odd sizes get their last row/column back,
    padded widths lose their padding."""
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
        last = decoded.get(index, last)[:, :width]
        out[index, : last.shape[0], : last.shape[1]] = last
        out[index, last.shape[0] :, : last.shape[1]] = last[-1:]
        out[index, :, last.shape[1] :] = out[index, :, last.shape[1] - 1 : last.shape[1]]
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
