// Dashboards: charts (Chart.js, served from /static/vendor), login, and the approval queue's buttons.
"use strict";

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, data };
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
window.governCharts = [];

function drawCharts() {
  const holder = document.getElementById("chart-data");
  if (!holder || typeof Chart === "undefined") return;
  const data = JSON.parse(holder.textContent);
  document.querySelectorAll("canvas.drift-chart").forEach((canvas) => {
    const series = data.drift[Number(canvas.dataset.index)];
    // Each metric on its own axis: a share (0..1) and a count would flatten each other on one.
    const scales = {};
    const datasets = Object.entries(series.series).map(([name, values], i) => {
      const colour = PALETTE[i % PALETTE.length];
      scales[`y${i}`] = { position: i % 2 ? "right" : "left", grid: { display: i === 0 },
        title: { display: true, text: name, color: colour }, ticks: { color: colour } };
      return { label: name, data: values, borderColor: colour, tension: 0.2, spanGaps: true, yAxisID: `y${i}` };
    });
    window.governCharts.push(new Chart(canvas, {
      type: "line",
      data: { labels: series.labels, datasets },
      options: { animation: false, maintainAspectRatio: false, scales,
        plugins: { title: { display: true, text: `${series.monitor} (${series.kind})` } } },
    }));
  });
  const robust = document.getElementById("robustness-chart");
  if (robust && data.robustness) {
    const r = data.robustness;
    window.governCharts.push(new Chart(robust, {
      type: "scatter",
      data: { datasets: [{ label: "worst-case accuracy", showLine: true, borderColor: "#b03a2e",
        data: r.epsilons.map((e, i) => ({ x: e, y: r.worst_case[i] })) }] },
      options: { animation: false, maintainAspectRatio: false,
        scales: { y: { min: 0, max: 1, title: { display: true, text: "accuracy" } },
                  x: { type: "linear", title: { display: true, text: "perturbation budget ε" } } },
        plugins: { title: { display: true, text: `Robustness (${r.monitor}, window ending ${r.window_end.slice(0, 16)})` } } },
    }));
  }
}

function wireLogin() {
  const form = document.getElementById("login-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await postJSON("/login", { key: document.getElementById("key").value });
    if (result.ok) {
      // The server checked `next` (a path on this site only; see views.safe_next).
      const next = form.dataset.next || "/";
      window.location.assign(next.startsWith("/") && !next.startsWith("//") && !next.includes("\\") ? next : "/");
    } else {
      document.getElementById("login-error").textContent = (result.data.error || {}).message || "login failed";
    }
  });
}

function wireQueue() {
  document.querySelectorAll("button.approve, button.reject").forEach((button) => {
    button.addEventListener("click", async () => {
      const row = button.closest("tr");
      const verb = button.classList.contains("approve") ? "approve" : "reject";
      const comment = row.querySelector("input.comment").value || null;
      const result = await postJSON(`/api/v1/approvals/${button.dataset.request}/${verb}`, { comment });
      const out = row.querySelector(".result");
      if (result.ok) {
        out.textContent = `${verb}d: request is ${result.data.status}`;
        out.className = "result done";
        row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      } else {
        out.textContent = (result.data.error || {}).message || `failed (${result.status})`;
        out.className = "result bad";
      }
    });
  });
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await postJSON("/logout", {});
      window.location.assign("/login");
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  wireLogin();
  wireQueue();
});
