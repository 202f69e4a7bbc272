"use strict";
// A page this account's role may not open: offer to sign in as someone else.
async function main() {
  await loadMessages();
  $("other-account").addEventListener("click", () => signOut(`/login?next=${encodeURIComponent(location.pathname)}`));
}

main();
