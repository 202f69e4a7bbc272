"""Benchmark: what a technician's preview costs the gate computer.

    .venv/bin/python -m benchmarks.previews [--count 200]

Each preview is rendered only when the technician page asks for it (about 2.5 times a second
per device while the page is open): a 720p camera frame with a code outlined, and a Lepton
(160x120) and an MLX90640 (32x24) thermal frame with the measured face, as JPEG.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

import numpy as np
import segno

from devices.body_temperature import BodyTemperatureEstimator, EstimatorSettings
from devices.preview import camera_jpeg, thermal_jpeg
from devices.qr_decode import decode_zxing
from devices.qr_scenes import code_frame
from devices.thermal_scenes import ThermalScene

PAGE_REFRESHES_PER_S = 2.5


def per_call_ms(render: Callable[[], bytes], count: int) -> tuple[float, int]:
    size = len(render())
    started = time.perf_counter()
    for _ in range(count):
        render()
    return (time.perf_counter() - started) / count * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    modules = np.array(segno.make("CP1:PREVIEW", error="m", micro=False).matrix, dtype=bool)
    frame = code_frame(modules, "rotation", (1280, 720), rng)
    outlines = [code.polygon for code in decode_zxing(frame)]
    cases: list[tuple[str, Callable[[], bytes]]] = [
        ("camera 1280x720, 1 code", lambda: camera_jpeg(frame, outlines))
    ]
    for width, height in ((160, 120), (32, 24)):
        celsius = ThermalScene(width=width, height=height).render(rng)
        estimate = BodyTemperatureEstimator(EstimatorSettings()).estimate(celsius)
        thermal = functools.partial(
            thermal_jpeg, celsius, face=estimate.face, reading_c=estimate.celsius
        )
        cases.append((f"thermal {width}x{height}, 1 face", thermal))
    print(f"preview rendering ({args.count} each), JPEG as served:")
    for name, render in cases:
        ms, size = per_call_ms(render, args.count)
        share = ms * PAGE_REFRESHES_PER_S / 10  # % of one core at the page's refresh rate
        print(f"  {name:26} {ms:5.2f} ms, {size / 1000:5.1f} kB, {share:.2f} % of a core")


if __name__ == "__main__":
    main()
