"use strict";
// The page a password-reset mail links to: `?token=…` plus a new password.
(function () {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(window.location.search).get("token") || "";

  function show(step) {
    for (const id of ["reset-step", "success-step", "expired-step"]) {
      $(id).hidden = id !== step;
    }
    $("error").textContent = "";
  }

  function fail(message) {
    $("error").textContent = message;
  }

  // Keep the token out of the address bar (and so out of history and logs).
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname);
  }
  if (!/^[0-9a-f]{16,256}$/i.test(token)) {
    show("expired-step");
    return;
  }

  $("reset-step").addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = $("password").value;
    const again = $("password-again").value;
    const length = Array.from(password).length;
    if (length < 8) return fail("The password must be at least 8 characters.");
    if (length > 128) return fail("The password must be at most 128 characters.");
    if (password !== again) return fail("The two passwords do not match.");
    $("save").disabled = true;
    try {
      let response;
      try {
        response = await fetch("/auth/reset-password", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ token, new_password: password }),
        });
      } catch (_) {
        return fail("The server cannot be reached. Check your connection and try again.");
      }
      if (response.ok) return show("success-step");
      let data = {};
      try { data = await response.json(); } catch (_) { /* not JSON */ }
      if (response.status === 400 && /token/i.test(data.message || "")) return show("expired-step");
      fail(data.message || "Something went wrong. Please try again.");
    } finally {
      $("save").disabled = false;
    }
  });
})();
