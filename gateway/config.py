"""The gateway's configuration: one strict TOML file, overridable by environment variables.

`CHECKPOINT_<SECTION>__<KEY>` overrides a key, e.g. `CHECKPOINT_MQTT__PORT=8883`.
Unknown keys and bad values are errors naming the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.core.errors import ConfigError
from gateway.core.policy import NoThermal, Policy
from gateway.core.values import Decision, Direction

DEFAULT_CONFIG_PATH = Path("/etc/checkpoint/gateway.toml")
CONFIG_ENV = "CHECKPOINT_CONFIG"

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GateConfig(Section):
    id: Slug = Field("gate-1", description="unique within the site: lowercase letters, digits, '-'")
    site: Slug = Field("site", description="the community this gate belongs to")
    name: str = Field("", description="display name shown on screens")


class StorageConfig(Section):
    path: Path = Field(Path("/var/lib/checkpoint/gateway.db"), description="SQLite database file")
    retention_days: int = Field(28, ge=1, le=3650, description="purge synced entries after this")
    trust_list: Path | None = Field(
        None, description="local copy of the trust list; default: beside the database"
    )

    def trust_list_path(self) -> Path:
        return self.trust_list or self.path.with_name("trust.json")

    def status_list_path(self) -> Path:
        return self.path.with_name("status.json")

    def policy_path(self) -> Path:
        """The remote policy in force, kept for a restart without network."""
        return self.path.with_name("policy.json")


class ScannerConfig(Section):
    kind: Literal["camera", "serial", "keyboard", "simulated"]
    device: str = Field(
        "",
        description="serial: the port; camera: index, /dev/videoN, stream URL or video file; "
        "keyboard: /dev/input/...; simulated: a text file of payloads, one per line",
    )
    lane: str = Field("1", min_length=1, max_length=16)
    direction: Direction = Direction.IN
    baudrate: int = Field(9600, gt=0, description="serial: the port's speed")
    decoder: Literal["zxing", "pyzbar"] = Field(
        "zxing", description="camera: QR decoder; zxing reads more codes, faster"
    )
    fps: float = Field(15.0, gt=0, le=60, description="camera: frames decoded per second at most")
    roi: tuple[float, float, float, float] | None = Field(
        None,
        description="camera: the part of the frame to decode, [left, top, width, height] "
        "as fractions of the frame; default the whole frame",
    )
    dedupe_s: float = Field(
        3.0,
        ge=0,
        le=60,
        description="camera: a code seen again within this many seconds of its last "
        "sighting is the same presentation",
    )

    @model_validator(mode="after")
    def _device_given(self) -> ScannerConfig:
        if self.kind != "simulated" and not self.device:
            raise ValueError(f"a {self.kind} scanner needs 'device'")
        return self


class ThermalConfig(Section):
    kind: Literal[
        "uvc-y16", "mlx90640-serial", "spot-serial", "http-matrix", "simulated", "none"
    ] = "none"
    device: str = Field(
        "",
        description="uvc-y16: camera index, /dev/videoN or a Y16 recording; "
        "mlx90640-serial and spot-serial: the serial port",
    )
    fever_threshold_c: float = Field(37.3, ge=35.0, le=40.0)
    offset_c: float = Field(
        0.0, ge=-3.0, le=3.0, description="site calibration offset added to every reading"
    )
    baudrate: int | None = Field(
        None, gt=0, description="serial kinds: the port's speed; default 115200 (mlx90640), 9600"
    )
    protocol: Literal["ascii", "binary"] | None = Field(
        None,
        description="spot-serial: 'ascii' (one value per line) or 'binary' "
        "(GY-906-style 9-byte frames)",
    )
    samples: int | None = Field(
        None,
        ge=1,
        le=50,
        description="spot-serial: consecutive skin-range values that make one reading; "
        "default 1 (ascii), 4 (binary)",
    )
    url: str = Field(
        "", description="http-matrix: the camera's temperature matrix URL (http:// or https://)"
    )
    username: str | None = Field(None, description="http-matrix: login, if the camera asks")
    password: str | None = Field(None, description="http-matrix: password, if the camera asks")
    emissivity: float = Field(
        0.98, ge=0.5, le=1.0, description="camera kinds: emissivity of skin for the correction"
    )
    reference_box: tuple[int, int, int, int] | None = Field(
        None,
        description="camera kinds: the blackbody reference in the thermal frame, "
        "[x, y, width, height] in pixels, inside the blackbody's image",
    )
    reference_c: float | None = Field(
        None, ge=20.0, le=50.0, description="camera kinds: the blackbody's set temperature"
    )
    frames_per_reading: int = Field(
        5, ge=1, le=50, description="camera kinds: frames whose median makes one reading"
    )
    warmup_s: float = Field(
        0.0,
        ge=0,
        le=3600,
        description="camera kinds: readings this soon after (re)connecting are marked poor",
    )

    @model_validator(mode="after")
    def _reference_complete(self) -> ThermalConfig:
        if (self.reference_box is None) != (self.reference_c is None):
            raise ValueError("a blackbody reference needs both 'reference_box' and 'reference_c'")
        return self


class PolicyConfig(Section):
    """Decision rules; the same shape is accepted from the retained MQTT `policy` topic."""

    require_temperature: bool = True
    remeasure_before_deny: bool = True
    remeasure_wait_s: float = Field(8.0, ge=0, le=60)
    no_thermal: NoThermal = NoThermal.REFER
    yellow: Decision = Decision.REFER
    red: Decision = Decision.DENY
    unverifiable: Decision = Decision.REFER
    unknown_issuer: Decision = Decision.REFER
    no_code: Decision = Decision.REFER
    min_plausible_c: float = Field(34.0, ge=25.0, le=36.0)
    max_plausible_c: float = Field(43.0, ge=39.0, le=50.0)
    pairing_window_s: float = Field(5.0, gt=0, le=60)
    dedupe_window_s: float = Field(3.0, ge=0, le=60)
    list_max_age_h: float = Field(
        48.0, gt=0, description="verified codes are referred when the lists are older"
    )
    passback_window_s: float = Field(
        300.0, ge=0, le=86400, description="the same pass again in the same direction: refer"
    )

    def to_policy(self, fever_threshold_c: float) -> Policy:
        return Policy(
            fever_threshold_c=fever_threshold_c,
            min_plausible_c=self.min_plausible_c,
            max_plausible_c=self.max_plausible_c,
            remeasure_before_deny=self.remeasure_before_deny,
            require_temperature=self.require_temperature,
            no_thermal=self.no_thermal,
            yellow=self.yellow,
            red=self.red,
            unverifiable=self.unverifiable,
            unknown_issuer=self.unknown_issuer,
            no_code=self.no_code,
            pairing_window_s=self.pairing_window_s,
            dedupe_window_s=self.dedupe_window_s,
            list_max_age_h=self.list_max_age_h,
            passback_window_s=self.passback_window_s,
        )


class MqttConfig(Section):
    host: str = Field("", description="broker host; empty: offline only")
    port: int = Field(8883, ge=1, le=65535)
    topic_prefix: str = Field("checkpoint/v1", pattern=r"^[A-Za-z0-9_/-]+$")
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    batch_size: int = Field(100, ge=1, le=5000)
    window: int = Field(64, ge=1, le=100, description="batches in flight at once")
    ack_timeout_s: float = Field(10.0, gt=0, le=600)
    keepalive_s: int = Field(30, ge=5, le=600)

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def tls_enabled(self) -> bool:
        """Port 8883, or any TLS file, turns TLS on."""
        return bool(self.tls_ca or self.tls_cert or self.port == 8883)


Colour = Literal["green", "yellow", "red"]


class CodeColoursConfig(Section):
    """The colour a *valid* health code (EU DCC, SMART Health Card) gives, by what it certifies."""

    vaccination: Colour = "green"
    test: Colour = "green"
    recovery: Colour = "green"
    other: Colour = "green"


class CodesConfig(Section):
    site_secret_file: Path | None = Field(
        None,
        description="site secret for health-code pseudonyms; default: the systemd credential "
        "'checkpoint.site-secret'",
    )
    colours: CodeColoursConfig = CodeColoursConfig()


class WebConfig(Section):
    listen: str = Field("127.0.0.1:8080", pattern=r"^[^:\s]+:\d{1,5}$")
    kiosk_localhost: bool = Field(
        True, description="the guard's verdict view opens without a PIN on this computer"
    )

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class CollectorConfig(Section):
    database: str = Field(
        "sqlite:////var/lib/checkpoint/collector.db",
        pattern=r"^(sqlite|postgresql)(\+\w+)?://",
        description="sqlite:///path or postgresql://...",
    )


class BundleConfig(Section):
    """Sync by hand (`checkpoint bundle ...`): the gate's [mqtt] certificate signs."""

    collector_cert: Path | None = Field(
        None, description="the collector's certificate that entries bundles are sealed to"
    )
    media: list[Path] = Field(
        [Path("/media"), Path("/run/media")],
        description="where USB sticks are mounted (the technician page looks two levels deep)",
    )


class Settings(BaseSettings):
    """The whole configuration tree."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix="CHECKPOINT_",
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
    )

    gate: GateConfig = GateConfig()
    storage: StorageConfig = StorageConfig()
    scanners: list[ScannerConfig] = []
    thermal: ThermalConfig = ThermalConfig()
    policy: PolicyConfig = PolicyConfig()
    codes: CodesConfig = CodesConfig()
    mqtt: MqttConfig = MqttConfig()
    web: WebConfig = WebConfig()
    collector: CollectorConfig = CollectorConfig()
    bundle: BundleConfig = BundleConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init values; the environment overrides them.
        return (env_settings, init_settings)

    @property
    def policy_rules(self) -> Policy:
        return self.policy.to_policy(self.thermal.fever_threshold_c)


def config_path(explicit: Path | None) -> Path:
    """The config file to read: `--config`, else `$CHECKPOINT_CONFIG`, else the default."""
    if explicit is not None:
        return explicit
    return Path(os.environ.get(CONFIG_ENV, str(DEFAULT_CONFIG_PATH)))


def load_settings(path: Path) -> Settings:
    """Read and validate the config file; raise `ConfigError` naming file, key and allowed."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (create one with 'checkpoint init --config {path}')"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return validate_settings(data, source=str(path))


def validate_settings(data: dict[str, Any], *, source: str) -> Settings:
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=source)) from None


class RemotePolicyConfig(PolicyConfig):
    """A policy sent over MQTT: the `[policy]` keys, plus the fever threshold."""

    fever_threshold_c: float | None = Field(None, ge=35.0, le=40.0)


def validate_remote_policy(data: object, *, settings: Settings, source: str) -> Policy:
    """Validate a remote policy document exactly like the config file, on top of it.

    Keys not in the document keep the config file's values; any unknown key or bad value
    rejects the whole document.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a policy must be a JSON object of [policy] keys")
    merged = {**settings.policy.model_dump(), **data}
    try:
        remote = RemotePolicyConfig(**merged)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source=source, prefix="policy")) from None
    threshold = remote.fever_threshold_c or settings.thermal.fever_threshold_c
    return remote.to_policy(threshold)


def describe_validation_error(exc: ValidationError, *, source: str, prefix: str = "") -> str:
    """One line per problem: where, which key, what was wrong and what is allowed."""
    lines = []
    for error in exc.errors():
        parts = [str(p) for p in error["loc"]]
        key = ".".join([prefix, *parts] if prefix else parts) or "(top level)"
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(parts, prefix)
            problem = f"unknown key; allowed here: {allowed}"
        else:
            problem = error["msg"]
            if "input" in error and not isinstance(error["input"], dict):
                problem += f" (got {error['input']!r})"
        lines.append(f"{source}: {key}: {problem}")
    return "\n".join(lines)


def _allowed_keys(loc: list[str], prefix: str) -> str:
    model: type[BaseModel] = RemotePolicyConfig if prefix == "policy" else Settings
    for part in loc[:-1]:
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return ", ".join(model.model_fields)
