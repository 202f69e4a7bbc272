"use strict";
// Sign-in: managers and technicians with name and password, guards with the guard PIN.
const HOME = { manager: "/manager", technician: "/technician", guard: "/" };

function next(role) {
  const wanted = new URLSearchParams(location.search).get("next");
  // Only paths of this site: never send a signed-in user elsewhere.
  return wanted && wanted.startsWith("/") && !wanted.startsWith("//") ? wanted : HOME[role];
}

function choose(tab) {
  $("tab-staff").classList.toggle("active", tab === "staff");
  $("tab-guard").classList.toggle("active", tab === "guard");
  $("staff-form").hidden = tab !== "staff";
  $("guard-form").hidden = tab !== "guard";
  $("login-error").textContent = "";
}

async function signIn(event, url, body) {
  event.preventDefault();
  if (!I18N.messages["login.title"]) return; // still loading: messages are needed to answer
  const result = await api("POST", url, body());
  if (!result.ok) {
    $("login-error").textContent = errorText(result);
    return;
  }
  location.href = next(result.data.role);
}

async function main() {
  // Handlers first: a form sent before the messages arrive must not be sent by the browser.
  $("tab-staff").addEventListener("click", () => choose("staff"));
  $("tab-guard").addEventListener("click", () => choose("guard"));
  if (new URLSearchParams(location.search).get("next") === "/") choose("guard");
  $("staff-form").addEventListener("submit", (e) =>
    signIn(e, "/api/auth/sign-in", () => ({ username: $("username").value, password: $("password").value })));
  $("guard-form").addEventListener("submit", (e) =>
    signIn(e, "/api/auth/pin", () => ({ pin: $("guard-pin").value, name: $("guard-name").value })));
  await loadMessages();
}

main();
