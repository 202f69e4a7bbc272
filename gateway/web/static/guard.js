"use strict";
// The guard screen: each verdict arrives by server push (EventSource reconnects by itself).
const WORDS = {
  admit: ["通行", "Admit"], deny: ["禁止", "Deny"], refer: ["请核验", "Refer to guard"],
  remeasure: ["请复测体温", "Please measure again"], idle: ["等待扫码", "Waiting for a code"],
};
const COLOURS = { green: "绿码", yellow: "黄码", red: "红码", unknown: "未知" };
const REASONS = {
  "no-code": "未出示码", "code-unreadable": "码无法识别", "code-unverified": "码无法离线核验，请看手机",
  "code-unknown-issuer": "签发方未知", "code-expired": "码已过期", "code-not-yet-valid": "码尚未生效",
  "code-bad-signature": "码是伪造的", "code-revoked": "码已吊销", "code-yellow": "黄码", "code-red": "红码",
  "fever": "体温超标", "fever-remeasure": "体温偏高，请复测", "fever-not-confirmed": "复测体温正常",
  "temperature-implausible": "体温读数异常，请手持测温", "no-temperature": "未测到体温",
  "thermal-unavailable": "测温设备不可用",
};
const $ = (id) => document.getElementById(id);

let shownId = null;

function show(p) {
  shownId = p.id;
  const kind = p.kind === "remeasure" ? "remeasure" : p.decision;
  const [zh, en] = WORDS[kind];
  $("verdict").className = "verdict " + kind;
  $("verdict").dataset.decision = kind;
  $("word").textContent = zh;
  $("word-en").textContent = en;
  $("temp").textContent = p.temperature_c == null ? "—" : p.temperature_c.toFixed(1) + " °C";
  $("colour").textContent = COLOURS[p.code_status] || p.code_status;
  $("label").textContent = p.label || "—";
  $("time").textContent = new Date(p.occurred_at).toLocaleTimeString("zh-CN", { hour12: false });
  $("reasons").textContent = p.reasons.map((r) => REASONS[r] || r).join(" · ");
  $("unrecorded").hidden = p.recorded || p.kind === "remeasure";
  if (p.kind !== "remeasure") addToQueue(p);
}

function addToQueue(p) {
  const li = document.createElement("li");
  li.className = p.decision;
  const t = new Date(p.occurred_at).toLocaleTimeString("zh-CN", { hour12: false });
  li.textContent = `${t} ${WORDS[p.decision][0]} ${p.temperature_c == null ? "" : p.temperature_c.toFixed(1) + "°"}`;
  $("queue").prepend(li);
  while ($("queue").children.length > 12) $("queue").lastChild.remove();
}

async function refreshStatus() {
  try {
    const s = await (await fetch("/api/status")).json();
    const problems = [];
    for (const d of s.devices) if (d.state !== "up") problems.push(`${d.name} 未连接 (${d.reason || d.state})`);
    if (s.mqtt_enabled && !s.mqtt_connected) problems.push(`网络中断：${s.backlog} 条记录待同步`);
    if (s.unrecorded > 0) problems.push(`${s.unrecorded} 条记录未写入，正在重试`);
    $("banner").textContent = problems.join("　|　");
    $("banner").hidden = problems.length === 0;
  } catch (e) {
    $("banner").textContent = "网关无响应 Gateway not responding";
    $("banner").hidden = false;
  }
}

// After a (re)connection, catch up on what was decided while the stream was down.
async function catchUp() {
  try {
    const recent = await (await fetch("/api/passages?limit=12")).json();
    $("queue").replaceChildren();
    for (const p of recent.slice().reverse()) addToQueue(p);
    const newest = recent[0];
    if (newest && newest.id !== shownId && Date.now() - Date.parse(newest.occurred_at) < 30000) {
      show({ ...newest, kind: "verdict" });
      $("queue").firstChild.remove();
    }
  } catch (e) {
    /* the status banner reports an unreachable gateway */
  }
}

const source = new EventSource("/api/events");
source.addEventListener("open", catchUp);
source.addEventListener("passage", (e) => show(JSON.parse(e.data)));
refreshStatus();
setInterval(refreshStatus, 3000);
