"use strict";
// First run: the manager's and technician's accounts and the guard PIN, on this computer only.
async function main() {
  $("setup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await api("POST", "/api/auth/setup", {
      manager: $("manager").value.trim(),
      manager_password: $("manager-password").value,
      technician: $("technician").value.trim(),
      technician_password: $("technician-password").value,
      guard_pin: $("guard-pin").value,
    });
    if (!result.ok) {
      $("setup-error").textContent = errorText(result);
      return;
    }
    location.href = "/login";
  });
  await loadMessages();
  const me = await api("GET", "/api/auth/me");
  const local = me.ok && me.data.local;
  $("setup-remote").hidden = local;
  $("setup-form").hidden = !local;
  // A collector has managers only: leave out the fields of roles it has no pages for.
  const roles = me.ok ? me.data.roles : [];
  for (const label of document.querySelectorAll("label[data-role]")) {
    const used = roles.includes(label.dataset.role);
    label.hidden = !used;
    label.querySelector("input").required = used;
  }
}

main();
