// The review item's verdict form: checks what the service will check (a disagreement needs the
// correct label and a comment), then posts to the API with the session cookie (same origin).
"use strict";

function wireVerdict() {
  const form = document.getElementById("verdict-form");
  if (!form) return;
  const out = form.querySelector(".result");
  const comment = form.querySelector("[name=comment]");
  form.addEventListener("change", () => {
    const chosen = form.querySelector("[name=verdict]:checked");
    comment.required = Boolean(chosen && chosen.value === "disagree");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.querySelector("[name=verdict]:checked");
    const label = form.querySelector("[name=label]").value.trim();
    const text = comment.value.trim();
    if (!chosen) { out.textContent = "choose agree, disagree or unsure"; out.className = "result bad"; return; }
    if (chosen.value === "disagree" && (!label || !text)) {
      out.textContent = "a disagreement needs the correct label and a comment saying why";
      out.className = "result bad";
      return;
    }
    const body = { verdict: chosen.value, comment: text || null, model: form.dataset.model,
      label: chosen.value === "disagree" ? label : null };
    const response = await fetch(`/api/v1/review/${form.dataset.item}/verdict`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await response.json().catch(() => ({}));
    if (response.ok) {
      out.textContent = `recorded: ${data.verdict} by ${data.reviewer}`;
      out.className = "result done";
      form.querySelectorAll("input, select, textarea, button").forEach((e) => { e.disabled = true; });
    } else {
      out.textContent = (data.error || {}).message || `failed (${response.status})`;
      out.className = "result bad";
    }
  });
}

document.addEventListener("DOMContentLoaded", wireVerdict);
