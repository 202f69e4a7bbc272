"use strict";
// The guard screen: each verdict arrives by server push (EventSource reconnects by itself);
// actions on a passage need the guard PIN.
const TEMPERATURE_REASONS = new Set([
  "no-temperature", "thermal-unavailable", "temperature-implausible", "fever-remeasure", "fever",
]);
// Tone patterns per verdict: [frequency Hz, start s, length s]. Distinct by pitch and rhythm.
const TONES = {
  admit: { wave: "sine", notes: [[880, 0, 0.16]] },
  refer: { wave: "triangle", notes: [[660, 0, 0.14], [660, 0.22, 0.14]] },
  deny: { wave: "square", notes: [[330, 0, 0.7]] },
  remeasure: { wave: "sine", notes: [[523, 0, 0.15], [784, 0.2, 0.25]] },
};
const QUEUE_LENGTH = 12;

let me = { signed_in: false, role: null, name: null, needs_setup: false };
let shown = null;
let audio = null;
let soundOn = localStorage.getItem("sound") !== "off";
let afterPin = null;
const queued = new Map();

const kindOf = (p) => (p.kind === "remeasure" ? "remeasure" : p.decision);

function show(p, announce) {
  shown = p;
  const kind = kindOf(p);
  $("verdict").className = "verdict " + kind;
  $("verdict").dataset.decision = kind;
  $("verdict").dataset.id = p.id;
  $("word").textContent = t("verdict." + kind);
  $("hint").textContent = t("hint." + kind);
  $("temp").textContent = fmtTemp(p.temperature_c);
  $("colour").textContent = tOr("colour." + p.code_status, p.code_status);
  $("label").textContent = p.label || t("common.none");
  $("time").textContent = fmtTime(p.occurred_at);
  $("reasons").textContent = p.reasons.map(reasonText).join(" · ");
  const note = p.override_by
    ? t("guard.overridden_by", { name: p.override_by, reason: p.override_reason || "" })
    : p.confirmed_by ? t("guard.confirmed_by", { name: p.confirmed_by }) : "";
  $("amended").textContent = note;
  $("amended").hidden = !note;
  $("unrecorded").hidden = p.recorded || p.kind === "remeasure";
  $("act").hidden = !p.recorded || !actionable(p);
  if (p.kind !== "remeasure") upsertQueue(p);
  markSelected();
  if (announce) tone(kind);
}

function actionable(p) {
  return !p.override_by && (p.decision !== "admit" || (p.code_check === "unverifiable" && !p.confirmed_by));
}

// The queue holds the newest passages by id; a later revision replaces an earlier one, so
// a catch-up answer that crossed a pushed event in flight cannot undo it.
function upsertQueue(p) {
  const known = queued.get(p.id);
  if (known && known.revision > p.revision) return;
  queued.set(p.id, p);
  const newest = [...queued.values()].sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at));
  for (const old of newest.slice(QUEUE_LENGTH)) queued.delete(old.id);
  $("queue").replaceChildren(...newest.slice(0, QUEUE_LENGTH).map((q) => {
    const item = el("li", { class: q.decision, dataset: { id: q.id } },
      `${fmtTime(q.occurred_at)} ${t("verdict." + q.decision)} ${q.temperature_c == null ? "" : fmtTemp(q.temperature_c)}`);
    item.addEventListener("click", () => show(queued.get(q.id) || q, false));
    return item;
  }));
  markSelected();
}

function markSelected() {
  for (const li of $("queue").children) li.classList.toggle("selected", shown !== null && li.dataset.id === shown.id);
}

function tone(kind) {
  if (!soundOn || !TONES[kind]) return;
  try {
    audio = audio || new AudioContext();
  } catch (e) {
    return;
  }
  if (audio.state === "suspended") audio.resume();
  const start = audio.currentTime + 0.02;
  for (const [frequency, at, length] of TONES[kind].notes) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = TONES[kind].wave;
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + at);
    gain.gain.exponentialRampToValueAtTime(0.3, start + at + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + at + length);
    osc.connect(gain).connect(audio.destination);
    osc.start(start + at);
    osc.stop(start + at + length + 0.02);
  }
  document.body.dataset.lastTone = kind; // which tone played, for a technician's check
}

function renderSound() {
  $("sound").textContent = t(soundOn ? "guard.sound_on" : "guard.sound_off");
}

function renderWho() {
  $("who").textContent = me.role === "guard" ? t("guard.on_duty", { name: me.name }) : t("guard.sign_in");
}

// -- status banner -----------------------------------------------------------------------

async function refreshStatus() {
  const result = await api("GET", "/api/status");
  if (result.status === 401) {
    location.href = "/login?next=/";
    return;
  }
  if (!result.ok) {
    setBanner([t("banner.unreachable")], false);
    return;
  }
  const s = result.data;
  $("gate-name").textContent = s.gate_name || s.gate;
  const problems = [];
  for (const d of s.devices) {
    if (d.state === "down") problems.push(t(d.role === "thermal" ? "banner.thermal_down" : "banner.scanner_down", { name: d.name }));
    else if (d.state === "degraded") problems.push(t("banner.device_degraded", { name: d.name }));
  }
  if (s.mqtt_enabled && !s.mqtt_connected) problems.push(t("banner.offline", { count: s.backlog }));
  if (s.unrecorded > 0) problems.push(t("banner.unrecorded", { count: s.unrecorded }));
  if (s.disk_level !== "ok") problems.push(t("banner.disk_" + s.disk_level));
  if (!s.clock_synced) problems.push(t("banner.clock"));
  if (s.database_problem) problems.push(t("banner.database"));
  if (s.policy_problem) problems.push(t("banner.policy"));
  if (s.lists_outdated) problems.push(t("banner.lists_outdated", { hours: Math.round(s.lists_age_h) }));
  if (problems.length === 0 && me.needs_setup) {
    setBanner([t("banner.needs_setup")], true);
    return;
  }
  setBanner(problems, false);
}

function setBanner(lines, notice) {
  $("banner").textContent = lines.join("　|　");
  $("banner").classList.toggle("notice", notice);
  $("banner").hidden = lines.length === 0;
}

// -- guard PIN and actions -----------------------------------------------------------------

function asGuard(then) {
  if (me.role === "guard") {
    then();
    return;
  }
  afterPin = then;
  $("pin-error").textContent = me.needs_setup ? t("errors.needs-setup") : "";
  $("pin-pin").value = "";
  $("pin-dialog").showModal();
  $("pin-pin").focus();
}

async function submitPin(event) {
  event.preventDefault();
  const result = await api("POST", "/api/auth/pin", { pin: $("pin-pin").value, name: $("pin-name").value });
  if (!result.ok) {
    $("pin-error").textContent = errorText(result);
    return;
  }
  me = result.data;
  renderWho();
  $("pin-dialog").close();
  const then = afterPin;
  afterPin = null;
  if (then) then();
}

function openActions() {
  const p = shown;
  if (!p) return;
  $("action-subject").textContent = [fmtTime(p.occurred_at), t("verdict." + p.decision), p.label || "",
    p.temperature_c == null ? "" : fmtTemp(p.temperature_c)].filter(Boolean).join(" · ");
  const open = !p.override_by;
  const canConfirm = open && p.code_check === "unverifiable" && !p.confirmed_by;
  const canMeasure = open && p.decision !== "admit" && p.reasons.some((r) => TEMPERATURE_REASONS.has(r));
  const canOverride = open && p.decision !== "admit";
  $("confirm-section").hidden = !canConfirm;
  $("temperature-section").hidden = !canMeasure;
  $("override-section").hidden = !canOverride;
  $("override-deny").hidden = p.decision === "deny";
  $("nothing-to-do").hidden = canConfirm || canMeasure || canOverride;
  $("action-error").textContent = "";
  $("override-reason").value = "";
  $("handheld").value = "";
  $("action-dialog").showModal();
}

async function act(path, body) {
  const result = await api("POST", `/api/passages/${encodeURIComponent(shown.id)}/${path}`, body);
  if (!result.ok) {
    if (result.status === 401) {
      me = { ...me, signed_in: false, role: null };
      renderWho();
    }
    $("action-error").textContent = errorText(result);
    return null;
  }
  $("action-dialog").close();
  show(result.data, false);
  return result.data;
}

function override(decision) {
  const reason = $("override-reason").value.trim();
  if (!reason) {
    $("action-error").textContent = t("errors.reason-needed");
    return;
  }
  act("override", { decision, reason });
}

function recordReading() {
  const celsius = parseFloat($("handheld").value);
  if (Number.isNaN(celsius)) {
    $("action-error").textContent = t("errors.reading-needed");
    return;
  }
  act("handheld", { celsius });
}

async function submitVisitor(event) {
  event.preventDefault();
  const temp = $("visitor-temp").value.trim();
  const result = await api("POST", "/api/visitors", {
    name: $("visitor-name").value,
    phone: $("visitor-phone").value,
    unit: $("visitor-unit").value,
    reason: $("visitor-reason").value,
    direction: $("visitor-direction").value,
    celsius: temp === "" ? null : parseFloat(temp),
  });
  if (!result.ok) {
    $("visitor-error").textContent = errorText(result);
    return;
  }
  $("visitor-form").reset();
  $("visitor-dialog").close();
  show(result.data, true);
}

// -- server push ---------------------------------------------------------------------------

// After a (re)connection, catch up on what was decided while the stream was down.
async function catchUp() {
  const result = await api("GET", `/api/passages?limit=${QUEUE_LENGTH}`);
  if (!result.ok) return;
  const recent = result.data;
  for (const p of recent) upsertQueue(p);
  const newest = recent[0];
  const newer = newest && (!shown || Date.parse(newest.occurred_at) > Date.parse(shown.occurred_at));
  if (newer && Date.now() - Date.parse(newest.occurred_at) < 30000) {
    show({ ...newest, kind: "verdict" }, false);
  }
  markSelected();
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("open", catchUp);
  source.addEventListener("passage", (e) => show(JSON.parse(e.data), true));
  source.addEventListener("error", () => {
    // EventSource retries by itself, except after an HTTP error: then start a new one.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
}

async function main() {
  await loadMessages();
  const result = await api("GET", "/api/auth/me");
  if (result.ok) me = result.data;
  renderWho();
  renderSound();
  $("sound").addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem("sound", soundOn ? "on" : "off");
    renderSound();
    if (soundOn) tone("admit");
  });
  $("who").addEventListener("click", () => (me.role === "guard" ? signOut("/") : asGuard(() => {})));
  $("act").addEventListener("click", () => asGuard(openActions));
  $("visitor-button").addEventListener("click", () => asGuard(() => {
    $("visitor-error").textContent = "";
    $("visitor-dialog").showModal();
  }));
  $("pin-form").addEventListener("submit", submitPin);
  $("pin-cancel").addEventListener("click", () => $("pin-dialog").close());
  $("action-close").addEventListener("click", () => $("action-dialog").close());
  for (const button of $("confirm-section").querySelectorAll("button[data-colour]")) {
    button.addEventListener("click", () => act("confirm", { colour: button.dataset.colour }));
  }
  $("remeasure").addEventListener("click", () => act("remeasure"));
  $("handheld-ok").addEventListener("click", recordReading);
  $("override-admit").addEventListener("click", () => override("admit"));
  $("override-deny").addEventListener("click", () => override("deny"));
  $("visitor-form").addEventListener("submit", submitVisitor);
  $("visitor-cancel").addEventListener("click", () => $("visitor-dialog").close());
  connect();
  refreshStatus();
  setInterval(refreshStatus, 3000);
}

main();
