"""Writing video files that stand in for cameras: 8-bit scenes and 16-bit radiometric (Y16)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from devices.qr_decode import GrayFrame


def write_video(path: Path, frames: Iterable[GrayFrame], fps: float) -> int:
    """Write grey frames as Motion-JPEG (.avi), as many USB cameras deliver; returns the count.

    The file is written beside `path` and renamed into place, so a reader never sees half
    a file.
    """
    return _write(path, frames, fps, cv2.VideoWriter.fourcc(*"MJPG"), depth=cv2.CV_8U)


def write_y16_video(path: Path, frames: Iterable[npt.NDArray[np.uint16]], fps: float) -> int:
    """Write 16-bit frames losslessly (FFV1 in .mkv), read back bit-exact as Y16 frames."""
    return _write(path, frames, fps, cv2.VideoWriter.fourcc(*"FFV1"), depth=cv2.CV_16U)


def _write(
    path: Path,
    frames: Iterable[npt.NDArray[np.generic]],
    fps: float,
    fourcc: int,
    *,
    depth: int,
) -> int:
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    writer: cv2.VideoWriter | None = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(
                    str(partial),
                    cv2.CAP_FFMPEG,
                    fourcc,
                    fps,
                    (width, height),
                    [cv2.VIDEOWRITER_PROP_DEPTH, depth, cv2.VIDEOWRITER_PROP_IS_COLOR, 0],
                )
                if not writer.isOpened():
                    raise OSError(f"cannot write a video file at {partial}")
            writer.write(np.ascontiguousarray(frame))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count == 0:
        raise ValueError("a video needs at least one frame")
    partial.replace(path)
    return count
