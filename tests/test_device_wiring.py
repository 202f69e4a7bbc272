from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from devices.camera import CameraScanner
from devices.keyboard import KeyboardScanner
from devices.serial_scanner import SerialScanner
from devices.simulated import SimulatedThermal
from devices.spot_thermometer import SpotThermometer
from devices.thermal_camera import ThermalCamera
from gateway.config import ScannerConfig, Settings, ThermalConfig, load_settings
from gateway.core.values import Direction, Scan
from gateway.operations.example_config import render_example
from gateway.wiring.devices import scanner_from_config, thermal_from_config
from tests.devices.support import Running


def scanner(**fields: Any) -> ScannerConfig:
    return ScannerConfig(**fields)


def thermal(**fields: Any) -> ThermalConfig:
    return ThermalConfig(**fields)


def test_each_scanner_kind_becomes_its_device() -> None:
    camera = scanner_from_config(
        0,
        scanner(kind="camera", device="/dev/video0", decoder="pyzbar", roi=[0.25, 0, 0.5, 1]),
    )
    assert isinstance(camera, CameraScanner)
    assert camera.name == "scanner-1"
    serial = scanner_from_config(1, scanner(kind="serial", device="/dev/ttyACM0", lane="2"))
    assert isinstance(serial, SerialScanner)
    assert (serial.name, serial.lane, serial.baudrate) == ("scanner-2", "2", 9600)
    keyboard = scanner_from_config(
        2, scanner(kind="keyboard", device="/dev/input/by-id/usb-kbd", direction="out")
    )
    assert isinstance(keyboard, KeyboardScanner)
    assert keyboard.direction is Direction.OUT


def test_a_simulated_scanner_plays_the_payloads_of_its_file(tmp_path: Path) -> None:
    payloads = tmp_path / "payloads.txt"
    payloads.write_bytes(b"CP1:FIRST\n\nhttps://example.cn/x\n")
    source = scanner_from_config(0, scanner(kind="simulated", device=str(payloads)))
    running: Running[Scan] = Running(source)
    try:
        assert running.next().payload == b"CP1:FIRST"
    finally:
        running.end()
    assert not any(t.name == "test-sim-scanner" for t in threading.enumerate())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "serial", "device": "/dev/ttyACM0", "decoder": "pyzbar"}, "decoder applies"),
        ({"kind": "keyboard", "device": "/dev/input/x", "roi": [0, 0, 1, 1]}, "roi applies"),
        ({"kind": "camera", "device": "0", "baudrate": 115200}, "baudrate applies"),
        ({"kind": "camera", "device": "0", "roi": [0.5, 0, 0.8, 1]}, "scanners\\[3\\].roi"),
        ({"kind": "simulated"}, "text file of payloads"),
        ({"kind": "simulated", "device": "/nonexistent/p.txt"}, "cannot read"),
    ],
)
def test_impossible_scanner_combinations_are_clear_errors(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        scanner_from_config(3, scanner(**fields))


def test_each_thermal_kind_becomes_its_source() -> None:
    assert thermal_from_config(thermal()) is None
    assert isinstance(thermal_from_config(thermal(kind="simulated")), SimulatedThermal)
    uvc = thermal_from_config(
        thermal(kind="uvc-y16", device="/dev/video2", reference_box=[136, 88, 8, 8], reference_c=35)
    )
    assert isinstance(uvc, ThermalCamera)
    assert (uvc.name, uvc.kind) == ("thermal", "uvc-y16")
    mlx = thermal_from_config(thermal(kind="mlx90640-serial", device="/dev/ttyUSB0"))
    assert isinstance(mlx, ThermalCamera)
    assert mlx.kind == "mlx90640-serial"
    spot = thermal_from_config(
        thermal(kind="spot-serial", device="/dev/ttyUSB1", protocol="binary", offset_c=0.2)
    )
    assert isinstance(spot, SpotThermometer)
    assert spot.kind == "spot-serial-binary"
    http = thermal_from_config(thermal(kind="http-matrix", url="http://192.0.2.7/matrix"))
    assert isinstance(http, ThermalCamera)
    assert http.kind == "http-matrix"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "spot-serial", "device": "/dev/ttyUSB0"}, "protocol is needed"),
        ({"kind": "uvc-y16"}, "device is needed"),
        ({"kind": "http-matrix"}, "url is needed"),
        ({"kind": "http-matrix", "url": "ftp://camera/x"}, "thermal.url: .*http"),
        ({"kind": "uvc-y16", "device": "0", "protocol": "ascii"}, "protocol applies"),
        ({"kind": "spot-serial", "device": "x", "protocol": "ascii", "emissivity": 0.95}, "emiss"),
        ({"kind": "none", "url": "http://x"}, "url applies"),
        (
            {"kind": "uvc-y16", "device": "0", "reference_box": [0, 0, 0, 4], "reference_c": 35},
            "reference_box",
        ),
    ],
)
def test_impossible_thermal_combinations_are_clear_errors(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        thermal_from_config(thermal(**fields))


def test_a_reference_needs_both_its_box_and_its_temperature() -> None:
    with pytest.raises(ValueError, match="reference_c"):
        thermal(kind="uvc-y16", device="0", reference_box=[1, 1, 4, 4])


def test_the_example_config_wires(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(render_example(), encoding="utf-8")
    settings: Settings = load_settings(path)
    sources = [scanner_from_config(i, c) for i, c in enumerate(settings.scanners)]
    assert [s.name for s in sources] == ["scanner-1"]
    assert thermal_from_config(settings.thermal) is None


def test_options_given_in_a_file_are_checked_against_the_kind(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[thermal]\nkind = "uvc-y16"\ndevice = "0"\nbaudrate = 115200\n')
    with pytest.raises(ValueError, match=r"thermal\.baudrate applies"):
        thermal_from_config(load_settings(path).thermal)
    path.write_text('[thermal]\nkind = "mlx90640-serial"\ndevice = "/dev/ttyUSB0"\n')
    assert isinstance(thermal_from_config(load_settings(path).thermal), ThermalCamera)


def test_every_commented_option_of_the_example_is_valid_and_wires(tmp_path: Path) -> None:
    """Uncomment the example's optional camera, keyboard and thermal-camera keys."""
    lines = []
    for line in render_example().splitlines():
        uncommented = line.removeprefix("# ")
        is_key = uncommented.split(" = ")[0].isidentifier() and " = " in uncommented
        is_spot_key = uncommented.startswith(("protocol", "samples", "baudrate = 115200"))
        if line.startswith("# ") and (is_key or uncommented == "[[scanners]]") and not is_spot_key:
            lines.append(uncommented)
        else:
            lines.append(line)
    text = "\n".join(lines).replace('kind = "none"', 'kind = "http-matrix"', 1)
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path)
    kinds = [type(scanner_from_config(i, c)) for i, c in enumerate(settings.scanners)]
    assert kinds == [SerialScanner, CameraScanner, KeyboardScanner]
    source = thermal_from_config(settings.thermal)
    assert isinstance(source, ThermalCamera)
    assert source.kind == "http-matrix"


_PROBE = """
import sys
from pathlib import Path
from gateway.config import load_settings
from gateway.wiring.devices import devices_from_settings
import gateway.cli.main, gateway.wiring.gateway, gateway.operations.doctor
devices = devices_from_settings(load_settings(Path(sys.argv[1])))
assert devices.scanners and devices.thermals
libraries = {'cv2', 'numpy', 'zxingcpp', 'pyzbar', 'evdev'}
print(sorted({m.split('.')[0] for m in sys.modules} & libraries))
"""


@pytest.mark.parametrize(
    ("scanners", "thermal_kind", "loaded"),
    [
        ('kind = "serial"\ndevice = "/dev/ttyACM0"', "spot-serial", []),
        ('kind = "camera"\ndevice = "/dev/video0"', "spot-serial", ["cv2", "numpy", "zxingcpp"]),
        (
            'kind = "camera"\ndevice = "/dev/video0"\ndecoder = "pyzbar"',
            "spot-serial",
            ["cv2", "numpy", "pyzbar", "zxingcpp"],
        ),
        ('kind = "keyboard"\ndevice = "/dev/input/event0"', "spot-serial", ["evdev"]),
    ],
    ids=["serial-gate", "camera-gate", "pyzbar-camera-gate", "keyboard-gate"],
)
def test_device_libraries_load_only_for_their_devices(
    tmp_path: Path, scanners: str, thermal_kind: str, loaded: list[str]
) -> None:
    """A gate without a camera or thermal camera never imports OpenCV, numpy or zxing-cpp;
    ZBar loads only for the pyzbar decoder and evdev only for a keyboard wedge."""
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[gate]\nid = "g"\nsite = "s"\n[storage]\npath = "{tmp_path / "g.db"}"\n'
        f"[[scanners]]\n{scanners}\n"
        f'[thermal]\nkind = "{thermal_kind}"\ndevice = "/dev/ttyUSB0"\nprotocol = "ascii"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(loaded)
