"use strict";
// Account deletion outside the app: e-mail → code → confirm. The deletion
// token lives only in this page's memory.
(function () {
  const $ = (id) => document.getElementById(id);
  let email = "";
  let token = "";

  function show(step) {
    for (const id of ["email-step", "code-step", "confirm-step", "done-step"]) {
      $(id).hidden = id !== step;
    }
    $("error").textContent = "";
    const field = $(step).querySelector("input");
    if (field) field.focus();
  }

  function fail(message) {
    $("error").textContent = message || "Something went wrong. Please try again.";
  }

  async function call(path, body, bearer) {
    const headers = { "Content-Type": "application/json" };
    if (bearer) headers.Authorization = "Bearer " + bearer;
    let response;
    try {
      response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
    } catch (_) {
      throw new Error("The server cannot be reached. Check your connection and try again.");
    }
    let data = {};
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) throw new Error(data.message || "Request failed (" + response.status + ").");
    return data;
  }

  async function busy(button, work) {
    button.disabled = true;
    try { await work(); } catch (err) { fail(err.message); } finally { button.disabled = false; }
  }

  $("email-step").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("email").value.trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) return fail("Please enter a valid e-mail address.");
    busy($("send-code"), async () => {
      await call("/auth/delete-request", { email: value });
      email = value;
      $("email-shown").textContent = email;
      show("code-step");
    });
  });

  $("code-step").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = $("code").value.trim();
    if (!/^\d{6}$/.test(code)) return fail("The code has 6 digits.");
    busy($("verify-code"), async () => {
      const data = await call("/auth/delete-verify", { email, code });
      token = data.token;
      $("email-confirm").textContent = email;
      show("confirm-step");
    });
  });

  $("confirm-step").addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("confirm-delete"), async () => {
      await call("/auth/delete-confirm", {}, token);
      token = "";
      show("done-step");
    });
  });
})();
