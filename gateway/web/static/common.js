"use strict";
// Shared by every page: message catalogs, language choice, JSON requests, small DOM helpers.
// Every string a page shows comes from /i18n/<lang>.json; HTML marks it with data-i18n*.
const LANGUAGES = ["zh-CN", "en"];
const I18N = { lang: LANGUAGES[0], messages: {} };
const $ = (id) => document.getElementById(id);

function t(key, params) {
  let text = I18N.messages[key];
  if (text === undefined) {
    console.error("missing message", key);
    return key;
  }
  for (const [name, value] of Object.entries(params || {})) text = text.replaceAll(`{${name}}`, String(value));
  return text;
}

// A key of a family (reasons, colours, decisions) that may be unknown to an older catalog.
function tOr(key, fallback, params) {
  return I18N.messages[key] === undefined ? fallback : t(key, params);
}

function applyMessages(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const attr of ["placeholder", "title", "aria-label"]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, t(el.getAttribute(`data-i18n-${attr}`)));
    }
  }
}

async function loadMessages() {
  const wanted = new URLSearchParams(location.search).get("lang") || localStorage.getItem("lang");
  I18N.lang = LANGUAGES.includes(wanted) ? wanted : LANGUAGES[0];
  const response = await fetch(`/i18n/${I18N.lang}.json`);
  I18N.messages = await response.json();
  document.documentElement.lang = I18N.lang;
  applyMessages(document);
  const switcher = $("lang");
  if (switcher) {
    switcher.addEventListener("click", () => {
      const next = LANGUAGES[(LANGUAGES.indexOf(I18N.lang) + 1) % LANGUAGES.length];
      localStorage.setItem("lang", next);
      const url = new URL(location.href);
      url.searchParams.delete("lang");
      location.replace(url);
    });
  }
}

// A JSON request to our own API; the answer is {ok, status, data}.
async function api(method, url, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (e) {
    return { ok: false, status: 0, data: { detail: "unreachable" } };
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
  }
  return { ok: response.ok, status: response.status, data };
}

// What to tell a person about a refused request.
function errorText(result) {
  const detail = result.data && result.data.detail;
  if (result.status === 422 && Array.isArray(detail)) return t("errors.invalid-input");
  if (detail === "too-many-attempts") return t("errors.too-many-attempts", { seconds: result.data.retry_after });
  if (typeof detail === "string") return tOr(`errors.${detail}`, t("errors.generic"));
  return t("errors.generic");
}

function fmtTime(iso) {
  return new Date(iso).toLocaleTimeString(I18N.lang, { hour12: false });
}

function fmtDateTime(iso) {
  return new Date(iso).toLocaleString(I18N.lang, { hour12: false });
}

function fmtTemp(celsius) {
  return celsius == null ? t("common.none") : t("common.celsius", { value: celsius.toFixed(1) });
}

function reasonText(code) {
  return tOr(`reason.${code}`, code);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function localOffsetMinutes() {
  return -new Date().getTimezoneOffset();
}

function todayLocal() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

async function signOut(next) {
  await api("POST", "/api/auth/sign-out");
  location.href = next || "/login";
}
