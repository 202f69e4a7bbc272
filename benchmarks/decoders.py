"""Benchmark: the two QR decoder backends on this computer.

    .venv/bin/python -m benchmarks.decoders [--per-category 4] [--seed 1]

For zxing-cpp and pyzbar, at 640x480 and 1280x720: milliseconds per empty frame and per
frame with a code (median wall time), the share of degraded codes read (every degradation
of `devices.qr_scenes`, community passes and URLs), and the CPU share of continuous
scanning at 15 and 30 fps: the process CPU time (time.process_time) spent decoding one
second of a fixed gate stream (four empty frames to one with a code), as a share of one
core. Above 100 % the decoder cannot keep up and the camera's frames are dropped.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from collections.abc import Sequence

import numpy as np
import segno

from devices.qr_decode import DECODERS, Decoder, GrayFrame
from devices.qr_scenes import CATEGORIES, code_frame, empty_frame

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
SIZES = ((640, 480), (1280, 720))
FRAME_RATES = (15, 30)
EMPTY_PER_CODE = 4  # in the continuous stream: most frames at a gate show no code


def payload(rnd: random.Random, n: int) -> str:
    if n % 5 == 4:
        token = "".join(rnd.choices(string.ascii_letters + string.digits, k=rnd.randint(20, 60)))
        return f"https://jkm.example.gov.cn/v?c={token}"
    return "CP1:" + "".join(rnd.choices(BASE45, k=rnd.randint(200, 400)))


def code_frames(
    size: tuple[int, int], per_category: int, seed: int
) -> list[tuple[bytes, GrayFrame]]:
    rnd, rng = random.Random(seed), np.random.default_rng(seed)
    frames = []
    for category in CATEGORIES:
        for n in range(per_category):
            text = payload(rnd, n)
            modules = np.array(segno.make(text, error="m", micro=False).matrix, dtype=bool)
            frames.append((text.encode(), code_frame(modules, category, size, rng)))
    return frames


def median_ms(decode: Decoder, frames: Sequence[GrayFrame]) -> float:
    times = []
    for frame in frames:
        started = time.perf_counter()
        decode(frame)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def cpu_share(decode: Decoder, stream: Sequence[GrayFrame], fps: int) -> float:
    """CPU seconds spent decoding one second of video at `fps`, per second (one core = 1)."""
    second = [stream[n % len(stream)] for n in range(fps)]
    started = time.process_time()
    for frame in second:
        decode(frame)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-category", type=int, default=4, help="code frames per category")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"{'backend':8} {'frame':>9} {'empty ms':>9} {'code ms':>8} {'read':>7}", end="")
    print("".join(f" {'CPU @' + str(fps) + 'fps':>11}" for fps in FRAME_RATES))
    for size in SIZES:
        rng = np.random.default_rng(args.seed)
        empties = [empty_frame(size, rng) for _ in range(20)]
        codes = code_frames(size, args.per_category, args.seed)
        stream: list[GrayFrame] = []
        for _, frame in codes:
            stream += [*empties[:EMPTY_PER_CODE], frame]
            empties = empties[EMPTY_PER_CODE:] + empties[:EMPTY_PER_CODE]
        for name, decode in DECODERS.items():
            empty_ms = median_ms(decode, empties)
            code_ms = median_ms(decode, [frame for _, frame in codes])
            read = sum(expected in [d.payload for d in decode(frame)] for expected, frame in codes)
            shares = [cpu_share(decode, stream, fps) for fps in FRAME_RATES]
            print(
                f"{name:8} {size[0]:>4}x{size[1]:<4} {empty_ms:>9.1f} {code_ms:>8.1f} "
                f"{read / len(codes):>7.1%}" + "".join(f" {share:>11.0%}" for share in shares)
            )


if __name__ == "__main__":
    main()
