"""The commented example config that `checkpoint init` writes."""

EXAMPLE_CONFIG = """\
# checkpoint-gateway configuration.
# Every key can be overridden by an environment variable CHECKPOINT_<SECTION>__<KEY>,
# e.g. CHECKPOINT_MQTT__PORT=8883. Unknown keys are errors, so a typo never goes unnoticed.

[gate]
id = "{gate_id}"            # unique within the site: lowercase letters, digits, '-'
site = "{site}"             # the community this gate belongs to (same rules as id)
name = "{name}"             # shown on the screens

[storage]
path = "{db_path}"          # SQLite database (WAL, synchronous=FULL)
retention_days = 28         # synced entries older than this are purged; unsynced never
# trust_list = "/var/lib/checkpoint/trust.json"   # default: beside the database

# One [[scanners]] table per scanner.
[[scanners]]
kind = "serial"             # serial | camera | keyboard | simulated
device = "/dev/ttyACM0"     # the scanner's serial port (a stable udev name is best)
lane = "1"
direction = "in"            # in | out
baudrate = 9600             # serial only

# A camera reading codes off phones and paper:
# [[scanners]]
# kind = "camera"
# device = "/dev/video0"    # or a camera index ("0"), an rtsp:// or http:// URL, a video file
# lane = "2"
# decoder = "zxing"         # zxing | pyzbar (zxing reads more codes and is faster)
# fps = 15                  # frames decoded per second at most
# roi = [0.25, 0.0, 0.5, 1.0]   # [left, top, width, height] of the frame to decode, as fractions
# dedupe_s = 3.0            # a code seen again within this of its last sighting is one scan
#
# A USB scanner in keyboard mode, read exclusively (it types into nothing else):
# [[scanners]]
# kind = "keyboard"
# device = "/dev/input/by-id/usb-Scanner-event-kbd"

[thermal]
kind = "none"               # none | uvc-y16 | mlx90640-serial | spot-serial | http-matrix
                            # | simulated
device = ""                 # uvc-y16: /dev/videoN (or index); serial kinds: the port
fever_threshold_c = 37.3    # at or above: re-measure, then deny
offset_c = 0.0              # site calibration offset added to every reading
# Thermal cameras (uvc-y16, mlx90640-serial, http-matrix):
# emissivity = 0.98         # of skin
# reference_box = [136, 88, 8, 8]   # blackbody in the thermal frame: x, y, width, height (pixels)
# reference_c = 35.0        # the blackbody's set temperature; without one, readings are indicative
# frames_per_reading = 5    # frames whose median makes one reading
# warmup_s = 0              # readings this soon after (re)connecting are marked poor
# baudrate = 115200         # serial kinds (default 115200 for mlx90640-serial, 9600 for spot)
# Spot thermometer modules (spot-serial):
# protocol = "ascii"        # ascii (one value per line) | binary (GY-906-style frames)
# samples = 1               # consecutive skin-range values that make one reading
# Networked thermal camera (http-matrix):
# url = "http://192.0.2.10/ISAPI/Thermal/channels/2/thermometry/jpegPicWithAppendData?format=json"
# username = "admin"
# password = ""

[policy]                    # also settable at run time over MQTT (same rules)
require_temperature = true  # false: a missing temperature does not refer the person
remeasure_before_deny = true
remeasure_wait_s = 8.0      # how long to wait for the second measurement
no_thermal = "refer"        # refer | admit: when the thermal source is down or absent
yellow = "refer"            # admit | refer | deny
red = "deny"
unverifiable = "refer"      # codes that can only be checked online
unknown_issuer = "refer"
no_code = "refer"
min_plausible_c = 34.0      # readings outside [min, max] are implausible: refer
max_plausible_c = 43.0
pairing_window_s = 5.0      # a scan and a reading this close belong to one person
dedupe_window_s = 3.0       # repeated reads of one code within this are one scan
list_max_age_h = 48.0       # trust/status lists older than this: verified codes are referred
passback_window_s = 300.0   # the same pass admitted again in the same direction: refer

[codes]
# site_secret_file = "/etc/checkpoint/site.secret"  # pseudonyms of health-code holders;
#                             default: the systemd credential checkpoint.site-secret
[codes.colours]             # the colour a *valid* EU DCC / SMART Health Card gives
vaccination = "green"       # green | yellow | red
test = "green"
recovery = "green"
other = "green"

[mqtt]                      # empty host: the gateway works offline only
host = "{mqtt_host}"
port = {mqtt_port}
topic_prefix = "checkpoint/v1"
# username = "north-1"
# password = ""
# tls_ca = "/etc/checkpoint/ca.crt"
# tls_cert = "/etc/checkpoint/gate.crt"
# tls_key = "/etc/checkpoint/gate.key"
batch_size = 100            # entries per message
window = 64                 # batches in flight awaiting the collector's ack
ack_timeout_s = 10.0        # resend a batch not acknowledged within this

[web]
listen = "127.0.0.1:8080"

[collector]                 # used by `checkpoint collector` on the community server
database = "sqlite:///{collector_db}"   # or postgresql://user@host/dbname
"""


def render_example(
    *,
    gate_id: str = "north-1",
    site: str = "xiaojiang",
    name: str = "北门",
    db_path: str = "/var/lib/checkpoint/gateway.db",
    mqtt_host: str = "",
    mqtt_port: int = 8883,
    collector_db: str = "/var/lib/checkpoint/collector.db",
) -> str:
    return EXAMPLE_CONFIG.format(
        gate_id=gate_id,
        site=site,
        name=name,
        db_path=db_path,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
        collector_db=collector_db,
    )
