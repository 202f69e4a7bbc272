"use strict";
// The manager dashboard: one-click statistics for a day or range, the record list, exports.
const PAGE = 50;
const REFRESH_MS = 5000;
let offset = 0;
let total = 0;

function days() {
  return { first: $("first").value || todayLocal(), last: $("last").value || $("first").value || todayLocal() };
}

function query(extra) {
  const { first, last } = days();
  return new URLSearchParams({ first, last, tz: localOffsetMinutes(), ...(extra || {}) }).toString();
}

function setDays(first, last) {
  $("first").value = first;
  $("last").value = last;
  offset = 0;
  refresh();
}

function shift(dayString, delta) {
  const d = new Date(dayString + "T12:00:00");
  d.setDate(d.getDate() + delta);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

async function loadStats() {
  const result = await api("GET", `/api/stats?${query()}`);
  if (!result.ok) return handle(result);
  const s = result.data;
  for (const name of ["total", "entering", "leaving", "admit", "refer", "deny", "fever", "red", "yellow", "overrides", "visitors"]) {
    $("stat-" + name).textContent = s[name];
  }
  drawChart(s.hourly_in, s.hourly_out);
}

// Entries in and out by hour as grouped bars, drawn as inline SVG.
function drawChart(entering, leaving) {
  const svg = $("chart");
  const ns = "http://www.w3.org/2000/svg";
  const left = 36, bottom = 205, top = 12, width = 956;
  const most = Math.max(1, ...entering, ...leaving);
  const step = width / 24;
  const bar = step * 0.38;
  const y = (n) => bottom - ((bottom - top) * n) / most;
  const shape = (tag, attrs) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  svg.replaceChildren();
  for (const n of [0, Math.ceil(most / 2), most]) {
    svg.append(shape("line", { x1: left, x2: left + width, y1: y(n), y2: y(n) }));
    const label = shape("text", { x: left - 6, y: y(n) + 4, "text-anchor": "end" });
    label.textContent = n;
    svg.append(label);
  }
  for (let hour = 0; hour < 24; hour++) {
    const x = left + hour * step + step * 0.1;
    for (const [series, values, dx] of [["in", entering, 0], ["out", leaving, bar]]) {
      const n = values[hour];
      const rect = shape("rect", { class: series, x: x + dx, y: y(n), width: bar, height: bottom - y(n), "data-hour": hour, "data-count": n });
      const tip = shape("title", {});
      tip.textContent = t("manager.chart_tip", { hour, count: n, direction: t("direction." + series) });
      rect.append(tip);
      svg.append(rect);
    }
    if (hour % 3 === 0) {
      const label = shape("text", { x: x + bar, y: bottom + 16, "text-anchor": "middle" });
      label.textContent = t("manager.hour", { hour });
      svg.append(label);
    }
  }
}

async function loadRecords() {
  const extra = { q: $("search").value, limit: PAGE, offset };
  if ($("decision").value) extra.decision = $("decision").value;
  const result = await api("GET", `/api/records?${query(extra)}`);
  if (!result.ok) return handle(result);
  total = result.data.total;
  $("record-count").textContent = t("manager.record_count", {
    total, from: total ? offset + 1 : 0, to: offset + result.data.items.length,
  });
  $("records").replaceChildren(...result.data.items.map((r) => el("tr", { dataset: { id: r.id } },
    el("td", {}, fmtDateTime(r.occurred_at)),
    el("td", {}, r.gate),
    el("td", {}, t("direction." + r.direction)),
    el("td", {}, el("span", { class: "pill " + r.decision }, t("verdict." + r.decision))),
    el("td", {}, r.temperature_c == null ? t("common.none") : fmtTemp(r.temperature_c)),
    el("td", {}, tOr("colour." + r.code_status, r.code_status)),
    el("td", {}, r.label || t("common.none")),
    el("td", {}, r.reasons.map(reasonText).join(" · ")),
    el("td", {}, r.override_by ? t("records.override_by", { name: r.override_by, reason: r.override_reason || "" }) : ""),
    el("td", {}, r.label ? pickButton(r.id, r.label) : ""),
  )));
  $("prev").disabled = offset === 0;
  $("more").disabled = offset + PAGE >= total;
}

async function loadSync() {
  const result = await api("GET", "/api/sync");
  if (!result.ok) return handle(result);
  $("sync").replaceChildren(...result.data.map((g) => el("tr", {},
    el("td", {}, `${g.site} / ${g.gate}`),
    el("td", {}, el("span", { class: "pill " + g.state }, tOr("sync." + g.state, g.state))),
    el("td", {}, g.backlog == null ? t("common.none") : g.backlog),
    el("td", {}, g.oldest_unsynced ? fmtDateTime(g.oldest_unsynced) : t("common.none")),
    el("td", {}, g.last_seen ? fmtDateTime(g.last_seen) : t("common.none")),
  )));
}

async function loadAudit() {
  const result = await api("GET", "/api/audit?limit=20");
  if (!result.ok) return handle(result);
  $("audit").replaceChildren(...result.data.map((a) => el("tr", {},
    el("td", {}, fmtDateTime(a.at)),
    el("td", {}, a.actor),
    el("td", {}, tOr("audit." + a.action, a.action)),
    el("td", {}, a.detail),
  )));
}

// Who went in and out. The person is a code typed or scanned into the field, or a picked
// record (its entry id); the server turns either into the pseudonym and never sends it back.
const lookup = { entry: null, last: null, asked: 0 };
const COLUMNS = {
  trace: [["occurred_at", "lookup.col_time"], ["gate", "lookup.col_gate"], ["direction", "lookup.col_direction"],
    ["decision", "lookup.col_decision"], ["temperature_c", "lookup.col_temperature"]],
  contacts: [["label", "lookup.col_person"], ["shared", "lookup.col_shared"], ["closest_s", "lookup.col_closest"],
    ["fever", "lookup.col_fever"]],
  absent: [["label", "lookup.col_person"], ["last_at", "lookup.col_last"], ["gate", "lookup.col_gate"],
    ["direction", "lookup.col_direction"], ["why", "lookup.col_why"]],
};

function pickButton(entryId, label) {
  const button = el("button", { type: "button", class: "small", dataset: { pick: entryId } }, t("lookup.pick"));
  button.addEventListener("click", () => pick(entryId, label));
  return button;
}

function pick(entryId, label) {
  lookup.entry = entryId;
  $("lookup-code").value = "";
  $("lookup-picked").textContent = t("lookup.picked", { label });
  $("lookups").scrollIntoView({ behavior: "smooth" });
}

function cell(kind, name, item) {
  const value = item[name];
  if (name === "occurred_at" || name === "last_at") return fmtDateTime(value);
  if (name === "direction") return t("direction." + value);
  if (name === "decision") return el("span", { class: "pill " + value }, t("verdict." + value));
  if (name === "temperature_c") return fmtTemp(value);
  if (name === "closest_s") return t("lookup.minutes", { minutes: (value / 60).toFixed(1) });
  if (name === "fever") return value ? t("reason.fever") : "";
  if (name === "why") return t(value === "out" ? "lookup.why_out" : "lookup.why_not_seen");
  if (name === "gate") return `${item.site} / ${value}`;
  if (name === "label" && kind === "contacts") {
    return el("span", {}, value || t("common.none"), " ", pickButton(item.entry_id, value || ""));
  }
  return value == null ? t("common.none") : String(value);
}

function lookupBody(kind, format) {
  if (kind === "absent") {
    return { days: Number($("absent-days").value), out_hours: Number($("absent-hours").value), reason: $("lookup-reason").value, format };
  }
  const { first, last } = days();
  const body = { reason: $("lookup-reason").value, first, last, tz: localOffsetMinutes(), window_min: Number($("lookup-window").value), format };
  const code = $("lookup-code").value.trim();
  if (code) body.code = code; else body.entry_id = lookup.entry;
  return body;
}

async function runLookup(kind) {
  $("lookup-error").textContent = "";
  if (kind !== "absent" && !$("lookup-code").value.trim() && !lookup.entry) {
    $("lookup-error").textContent = t("lookup.nobody");
    return;
  }
  const asked = ++lookup.asked;
  const result = await api("POST", `/api/lookups/${kind}`, lookupBody(kind, "json"));
  if (asked !== lookup.asked) return; // a newer lookup was asked for meanwhile: its answer wins
  if (!result.ok) {
    handle(result);
    $("lookup-error").textContent = errorText(result);
    return;
  }
  lookup.last = kind;
  const heading = kind === "absent" ? t("lookup.absent_heading", { count: result.data.items.length })
    : t(kind === "trace" ? "lookup.trace_heading" : "lookup.contacts_heading",
      { label: result.data.label || t("common.none"), count: result.data.items.length });
  $("lookup-heading").textContent = heading;
  $("lookup-head").replaceChildren(...COLUMNS[kind].map(([, key]) => el("th", {}, t(key))));
  $("lookup-rows").replaceChildren(...result.data.items.map((item) => el("tr", { class: item.fever ? "fever" : "" },
    ...COLUMNS[kind].map(([name]) => el("td", {}, cell(kind, name, item))))));
  $("lookup-result").hidden = false;
  loadAudit();
}

// Exports are POSTed too (no code in a URL), then saved from the answer.
async function exportLookup(format) {
  const kind = lookup.last;
  if (!kind) return;
  const response = await fetch(`/api/lookups/${kind}`, {
    method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
    body: JSON.stringify(lookupBody(kind, format)),
  });
  if (!response.ok) {
    $("lookup-error").textContent = t("errors.generic");
    return;
  }
  const name = (response.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name ? name[1] : `${kind}.${format}` });
  document.body.append(link);
  link.click();
  link.remove();
  loadAudit();
}

function handle(result) {
  if (result.status === 401) location.href = "/login?next=/manager";
}

function updateExports() {
  $("export-csv").href = `/api/export.csv?${query()}`;
  $("export-xlsx").href = `/api/export.xlsx?${query()}`;
}

async function refresh() {
  updateExports();
  await Promise.all([loadStats(), loadRecords(), loadSync(), loadAudit()]);
}

async function main() {
  await loadMessages();
  const me = await api("GET", "/api/auth/me");
  if (me.ok && me.data.name) $("who").textContent = t("common.signed_in_as", { name: me.data.name });
  const today = todayLocal();
  $("first").value = today;
  $("last").value = today;
  $("today").addEventListener("click", () => setDays(todayLocal(), todayLocal()));
  $("yesterday").addEventListener("click", () => setDays(shift(todayLocal(), -1), shift(todayLocal(), -1)));
  $("week").addEventListener("click", () => setDays(shift(todayLocal(), -6), todayLocal()));
  $("first").addEventListener("change", () => { offset = 0; refresh(); });
  $("last").addEventListener("change", () => { offset = 0; refresh(); });
  $("search").addEventListener("input", () => { offset = 0; loadRecords(); });
  $("decision").addEventListener("change", () => { offset = 0; loadRecords(); });
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadRecords(); });
  $("more").addEventListener("click", () => { offset += PAGE; loadRecords(); });
  $("export-csv").addEventListener("click", () => setTimeout(loadAudit, 500));
  $("export-xlsx").addEventListener("click", () => setTimeout(loadAudit, 500));
  $("sign-out").addEventListener("click", () => signOut());
  $("lookup-code").addEventListener("input", () => { lookup.entry = null; $("lookup-picked").textContent = ""; });
  $("lookup-trace").addEventListener("click", () => runLookup("trace"));
  $("lookup-contacts").addEventListener("click", () => runLookup("contacts"));
  $("lookup-absent").addEventListener("click", () => runLookup("absent"));
  $("lookup-csv").addEventListener("click", () => exportLookup("csv"));
  $("lookup-xlsx").addEventListener("click", () => exportLookup("xlsx"));
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

main();
