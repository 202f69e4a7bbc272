"use strict";
// The technician's pages: device status and previews (live), gateway health, doctor, config,
// log tail.
const DEVICE_REFRESH_MS = 1500;
const LOG_REFRESH_MS = 3000;
const PREVIEW_REFRESH_MS = 400;
const PREVIEW_RETRY_MS = 2000;
const previews = new Map(); // device name -> its preview tile

async function loadStatus() {
  const result = await api("GET", "/api/status");
  if (!result.ok) return handle(result);
  const s = result.data;
  $("devices").replaceChildren(...s.devices.map((d) => el("tr", { dataset: { device: d.name, state: d.state } },
    el("td", {}, d.name),
    el("td", {}, t("devices.role_" + d.role)),
    el("td", {}, d.kind),
    el("td", {}, el("span", { class: "pill " + d.state }, t("devices.state_" + d.state))),
    el("td", {}, d.reason),
  )));
  showPreviews(s.devices.filter((d) => d.preview));
  const rows = [
    ["health.gate", `${s.site} / ${s.gate} ${s.gate_name}`],
    ["health.broker", s.mqtt_enabled ? t(s.mqtt_connected ? "health.connected" : "health.disconnected") : t("health.offline_only")],
    ["health.backlog", s.backlog],
    ["health.oldest", s.oldest_unsynced ? fmtDateTime(s.oldest_unsynced) : t("common.none")],
    ["health.unrecorded", s.unrecorded],
    ["health.clock", t(s.clock_synced ? "health.clock_synced" : "health.clock_unsynced")],
    ["health.disk", t("health.disk_value", { free: (s.disk_free_bytes / 1e9).toFixed(1), level: t("health.disk_" + s.disk_level) })],
    ["health.database", s.database_problem || t("health.fine")],
    ["health.policy", s.policy_problem || t("health.fine")],
  ];
  $("health").replaceChildren(...rows.map(([key, value]) => el("tr", {}, el("th", {}, t(key)), el("td", {}, value))));
}

// One tile per device that can show what it sees, refreshed as periodic JPEG while visible.
function showPreviews(devices) {
  for (const d of devices) if (!previews.has(d.name)) previews.set(d.name, previewTile(d));
  $("previews").replaceChildren(...devices.map((d) => previews.get(d.name)));
  $("no-previews").hidden = devices.length > 0;
}

function previewTile(device) {
  const image = el("img", { alt: t("technician.preview_of", { name: device.name }), hidden: "" });
  const note = el("p", { class: "help" }, t("technician.preview_waiting"));
  const tile = el("figure", { class: "preview", dataset: { device: device.name, live: "false" } },
    image, note, el("figcaption", {}, `${device.name} · ${t("technician.preview_" + device.role)}`));
  const url = `/api/devices/${encodeURIComponent(device.name)}/preview`;
  async function refresh() {
    if (document.hidden || !tile.isConnected) return setTimeout(refresh, PREVIEW_REFRESH_MS);
    let response = null;
    try {
      response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    } catch (e) {
      response = null;
    }
    if (response && response.status === 401) return handle(response);
    if (response && response.ok) {
      const previous = image.src;
      image.src = URL.createObjectURL(await response.blob());
      if (previous) URL.revokeObjectURL(previous);
      image.hidden = false;
      note.hidden = true;
      tile.dataset.live = "true";
      return setTimeout(refresh, PREVIEW_REFRESH_MS);
    }
    image.hidden = true;
    note.hidden = false;
    note.textContent = t(response ? "technician.preview_waiting" : "technician.preview_unreachable");
    tile.dataset.live = "false";
    setTimeout(refresh, PREVIEW_RETRY_MS);
  }
  refresh();
  return tile;
}

async function runDoctor() {
  $("run-doctor").disabled = true;
  const result = await api("GET", "/api/doctor");
  $("run-doctor").disabled = false;
  if (!result.ok) return handle(result);
  $("doctor-missing").hidden = result.data.available;
  $("doctor").replaceChildren(...result.data.checks.map((c) => el("tr", { dataset: { status: c.status } },
    el("td", {}, c.name),
    el("td", {}, el("span", { class: "pill " + c.status }, t("doctor." + c.status))),
    el("td", {}, c.detail, c.advice && c.status !== "pass" ? el("div", { class: "help" }, c.advice) : ""),
  )));
}

async function loadConfig() {
  const result = await api("GET", "/api/config");
  if (!result.ok) return handle(result);
  $("config").textContent = JSON.stringify(result.data.settings, null, 2);
}

async function loadLogs() {
  const result = await api("GET", "/api/logs?limit=200");
  if (!result.ok) return handle(result);
  const stick = $("logs").scrollTop + $("logs").clientHeight >= $("logs").scrollHeight - 8;
  $("logs").replaceChildren(...result.data.map((l) => el("div", { class: l.level },
    `${fmtDateTime(l.at)} ${l.level} ${l.logger}: ${l.message}`)));
  if (stick) $("logs").scrollTop = $("logs").scrollHeight;
}

// Sync by hand: write a bundle onto a USB stick, take back its receipt and the lists.
async function loadSticks() {
  const result = await api("GET", "/api/bundles");
  if (!result.ok) return handle(result);
  const { sticks, files } = result.data;
  $("no-sticks").hidden = sticks.length > 0;
  $("sticks").replaceChildren(...sticks.map((stick) => el("tr", { dataset: { stick } },
    el("td", {}, stick),
    el("td", {}, button("technician.write_bundle", () => bundleAction("/api/bundles/export", { stick }))),
  )));
  $("stick-files").replaceChildren(...files.map((f) => el("tr", { dataset: { file: f.path, kind: f.kind } },
    el("td", {}, f.path),
    el("td", {}, f.kind === "receipt"
      ? button("technician.take_receipt", () => bundleAction("/api/bundles/receipt", { file: f.path }))
      : button("technician.take_lists", () => bundleAction("/api/bundles/lists", { file: f.path }))),
  )));
}

function button(key, onClick) {
  const b = el("button", { type: "button", class: "primary" }, t(key));
  b.addEventListener("click", onClick);
  return b;
}

async function bundleAction(path, body) {
  const out = $("bundle-result");
  out.dataset.outcome = "busy";
  out.textContent = t("technician.bundle_busy");
  const result = await api("POST", path, body);
  if (result.status === 401) return handle(result);
  out.dataset.outcome = result.ok ? "done" : "refused";
  if (!result.ok) out.textContent = t("technician.bundle_refused", { why: result.data.message || result.data.detail });
  else if ("entries" in result.data) out.textContent = t("technician.bundle_written", result.data);
  else if ("settled" in result.data) out.textContent = t("technician.receipt_taken", result.data);
  else out.textContent = result.data.lines.join("; ");
  loadSticks();
}

function handle(result) {
  if (result.status === 401) location.href = "/login?next=/technician";
}

async function main() {
  await loadMessages();
  const me = await api("GET", "/api/auth/me");
  if (me.ok && me.data.name) $("who").textContent = t("common.signed_in_as", { name: me.data.name });
  $("sign-out").addEventListener("click", () => signOut());
  $("run-doctor").addEventListener("click", runDoctor);
  $("find-sticks").addEventListener("click", loadSticks);
  await Promise.all([loadStatus(), loadConfig(), loadLogs(), loadSticks()]);
  setInterval(loadStatus, DEVICE_REFRESH_MS);
  setInterval(loadLogs, LOG_REFRESH_MS);
  runDoctor();
}

main();
