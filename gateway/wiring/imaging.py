"""The devices that see: camera scanners, thermal cameras and the simulated ones, which draw
their frames. Imported by `devices` only when one of them is configured."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from devices.body_temperature import (
    BodyTemperatureEstimator,
    EstimatorSettings,
    PassageSettings,
    ReferencePatch,
)
from devices.camera import CameraScanner, Roi
from devices.http_thermal import HttpMatrixFeed
from devices.mlx90640 import DEFAULT_BAUDRATE as MLX_BAUDRATE
from devices.mlx90640 import Mlx90640Feed
from devices.qr_decode import Decoded, Decoder, GrayFrame, decoder
from devices.simulated import SimulatedThermal, payload_loop
from devices.thermal_camera import FrameFeed, ThermalCamera
from devices.uvc_thermal import UvcY16Feed
from gateway.config import ScannerConfig, ThermalConfig
from gateway.core.ports import ScanSource, ThermalSource

SIMULATED_SCAN_INTERVAL_S = 5.0


def camera_scanner(
    where: str, name: str, config: ScannerConfig, observe_decode: Callable[[float], None]
) -> ScanSource:
    """A camera scanner; `observe_decode` hears how long each frame took to decode."""
    try:
        roi = Roi(*config.roi) if config.roi is not None else None
    except ValueError as exc:
        raise ValueError(f"{where}.roi: {exc}") from None
    return CameraScanner(
        name,
        config.device,
        lane=config.lane,
        direction=config.direction,
        decoder=_timed(decoder(config.decoder), observe_decode),
        roi=roi,
        fps=config.fps,
        dedupe_s=config.dedupe_s,
    )


def _timed(decode: Decoder, observe: Callable[[float], None]) -> Decoder:
    def timed(gray: GrayFrame) -> list[Decoded]:
        started = time.perf_counter()
        try:
            return decode(gray)
        finally:
            observe(time.perf_counter() - started)

    return timed


def thermal_camera(
    name: str, config: ThermalConfig, device: Callable[[ThermalConfig], str]
) -> ThermalSource:
    """A radiometric camera (UVC Y16, MLX90640 or an HTTP matrix) read as body temperatures."""
    return ThermalCamera(
        name,
        _feed(config, device),
        BodyTemperatureEstimator(
            EstimatorSettings(
                emissivity=config.emissivity,
                reference=_reference(config),
                offset_c=config.offset_c,
            )
        ),
        passage=PassageSettings(
            frames=config.frames_per_reading, remeasure_above_c=config.fever_threshold_c
        ),
        warmup_s=config.warmup_s,
    )


def simulated_thermal(name: str) -> ThermalSource:
    return SimulatedThermal(name, period_s=SIMULATED_SCAN_INTERVAL_S)


def _feed(config: ThermalConfig, device: Callable[[ThermalConfig], str]) -> FrameFeed:
    if config.kind == "uvc-y16":
        return UvcY16Feed(device(config))
    if config.kind == "mlx90640-serial":
        return Mlx90640Feed(device(config), baudrate=config.baudrate or MLX_BAUDRATE)
    if not config.url:
        raise ValueError("thermal.url is needed for http-matrix")
    try:
        return HttpMatrixFeed(config.url, username=config.username, password=config.password)
    except ValueError as exc:
        raise ValueError(f"thermal.url: {exc}") from None


def _reference(config: ThermalConfig) -> ReferencePatch | None:
    if config.reference_box is None or config.reference_c is None:
        return None
    try:
        return ReferencePatch(*config.reference_box, celsius=config.reference_c)
    except ValueError as exc:
        raise ValueError(f"thermal.reference_box: {exc}") from None


def simulated_scanner(where: str, config: ScannerConfig) -> ScanSource:
    """Plays the payloads of a text file (one per line) in a loop, one every few seconds."""
    if not config.device:
        raise ValueError(
            f"{where}: a simulated scanner needs 'device', a text file of payloads, one per "
            "line (or run 'checkpoint demo')"
        )
    try:
        lines = Path(config.device).read_bytes().splitlines()
    except OSError as exc:
        raise ValueError(f"{where}.device: cannot read {config.device}: {exc.strerror}") from None
    payloads = [line.strip() for line in lines if line.strip()]
    if not payloads:
        raise ValueError(f"{where}.device: {config.device} holds no payload")
    return payload_loop(
        payloads, SIMULATED_SCAN_INTERVAL_S, lane=config.lane, direction=config.direction
    )
