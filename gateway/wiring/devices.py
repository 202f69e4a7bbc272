"""From the config's `[[scanners]]` and `[thermal]` sections to device sources.

Every combination the config allows but no device can honour (a camera option on a serial
scanner, a spot thermometer without its protocol) is a `ValueError` naming the key. An
option is taken as given when it differs from its default.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devices.body_temperature import (
    BodyTemperatureEstimator,
    EstimatorSettings,
    PassageSettings,
    ReferencePatch,
)
from devices.camera import CameraScanner, Roi
from devices.http_thermal import HttpMatrixFeed
from devices.keyboard import KeyboardScanner
from devices.mlx90640 import DEFAULT_BAUDRATE as MLX_BAUDRATE
from devices.mlx90640 import Mlx90640Feed
from devices.qr_decode import Decoded, Decoder, GrayFrame, decoder
from devices.serial_scanner import SerialScanner
from devices.simulated import SimulatedThermal, payload_loop
from devices.spot_thermometer import SpotThermometer
from devices.thermal_camera import FrameFeed, ThermalCamera
from devices.uvc_thermal import UvcY16Feed
from gateway.config import ScannerConfig, Settings, ThermalConfig
from gateway.core.ports import ScanSource, ThermalSource

THERMAL_NAME = "thermal"
SIMULATED_SCAN_INTERVAL_S = 5.0
SPOT_BAUDRATE = 9600

_CAMERA_ONLY = ("decoder", "fps", "roi", "dedupe_s")
_FRAME_ONLY = ("emissivity", "reference_box", "reference_c", "frames_per_reading", "warmup_s")
_ONLY_FOR: dict[str, tuple[str, ...]] = {
    "baudrate": ("mlx90640-serial", "spot-serial"),
    "protocol": ("spot-serial",),
    "samples": ("spot-serial",),
    "url": ("http-matrix",),
    "username": ("http-matrix",),
    "password": ("http-matrix",),
    **{key: ("uvc-y16", "mlx90640-serial", "http-matrix") for key in _FRAME_ONLY},
}


@dataclass(frozen=True)
class Devices:
    scanners: Sequence[ScanSource] = field(default_factory=list)
    thermals: Sequence[ThermalSource] = field(default_factory=list)


class UnsupportedDevice(Exception):
    """A device configuration that cannot work (the message names the key)."""


def devices_from_settings(
    settings: Settings, *, observe_decode: Callable[[float], None] = lambda seconds: None
) -> Devices:
    """The scanners and thermal source the config file names."""
    try:
        scanners = [
            scanner_from_config(i, c, observe_decode=observe_decode)
            for i, c in enumerate(settings.scanners)
        ]
        thermal = thermal_from_config(settings.thermal)
    except ValueError as exc:
        raise UnsupportedDevice(str(exc)) from None
    return Devices(scanners=scanners, thermals=[thermal] if thermal else [])


def scanner_from_config(
    index: int,
    config: ScannerConfig,
    *,
    observe_decode: Callable[[float], None] = lambda seconds: None,
) -> ScanSource:
    """The scanner of `[[scanners]]` number `index` (0-based), named `scanner-<index + 1>`.

    `observe_decode` hears how long each camera frame took to decode, in seconds.
    """
    where = f"scanners[{index}]"
    name = f"scanner-{index + 1}"
    _only(where, config, _CAMERA_ONLY, config.kind == "camera", "camera scanners")
    _only(where, config, ("baudrate",), config.kind == "serial", "serial scanners")
    if config.kind == "camera":
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
    if config.kind == "serial":
        return SerialScanner(
            name,
            config.device,
            baudrate=config.baudrate,
            lane=config.lane,
            direction=config.direction,
        )
    if config.kind == "keyboard":
        return KeyboardScanner(name, config.device, lane=config.lane, direction=config.direction)
    return _simulated_scanner(where, config)


def _timed(decode: Decoder, observe: Callable[[float], None]) -> Decoder:
    def timed(gray: GrayFrame) -> list[Decoded]:
        started = time.perf_counter()
        try:
            return decode(gray)
        finally:
            observe(time.perf_counter() - started)

    return timed


def thermal_from_config(config: ThermalConfig) -> ThermalSource | None:
    """The temperature source of `[thermal]`, named `thermal`; None for kind "none"."""
    for key, kinds in _ONLY_FOR.items():
        if _customised(config, key) and config.kind not in kinds:
            raise ValueError(f"thermal.{key} applies to kind {' or '.join(kinds)} only")
    if config.kind == "none":
        return None
    if config.kind == "simulated":
        return SimulatedThermal(THERMAL_NAME, period_s=SIMULATED_SCAN_INTERVAL_S)
    if config.kind == "spot-serial":
        if config.protocol is None:
            raise ValueError("thermal.protocol is needed for spot-serial: 'ascii' or 'binary'")
        return SpotThermometer(
            THERMAL_NAME,
            _device(config),
            dialect=config.protocol,
            baudrate=config.baudrate or SPOT_BAUDRATE,
            samples=config.samples,
            offset_c=config.offset_c,
        )
    return ThermalCamera(
        THERMAL_NAME,
        _feed(config),
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


def _feed(config: ThermalConfig) -> FrameFeed:
    if config.kind == "uvc-y16":
        return UvcY16Feed(_device(config))
    if config.kind == "mlx90640-serial":
        return Mlx90640Feed(_device(config), baudrate=config.baudrate or MLX_BAUDRATE)
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


def _device(config: ThermalConfig) -> str:
    if not config.device:
        raise ValueError(f"thermal.device is needed for {config.kind}")
    return config.device


def _only(
    where: str, config: ScannerConfig, keys: tuple[str, ...], allowed: bool, what: str
) -> None:
    given = [key for key in keys if _customised(config, key)]
    if given and not allowed:
        raise ValueError(f"{where}.{given[0]} applies to {what} only, not kind {config.kind!r}")


def _customised(config: ScannerConfig | ThermalConfig, key: str) -> bool:
    """Whether `key` differs from its default. (Which keys the file named is not known:
    the settings sources pass defaults on explicitly.)"""
    return bool(getattr(config, key) != type(config).model_fields[key].default)


def _simulated_scanner(where: str, config: ScannerConfig) -> ScanSource:
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
