"use strict";
// First run: the manager's and technician's accounts and the guard PIN, on this computer only.
async function main() {
  await loadMessages();
  const me = await api("GET", "/api/auth/me");
  const local = me.ok && me.data.local;
  $("setup-remote").hidden = local;
  $("setup-form").hidden = !local;
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
}

main();
