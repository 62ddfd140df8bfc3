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

const PAST = { approve: "approved", reject: "rejected", ack: "acknowledged", resolve: "resolved" };

function errorText(result) {
  return (result.data.error || {}).message || `failed (${result.status})`;
}

async function refreshCounts() {
  const holder = document.getElementById("counts");
  if (!holder) return;
  const response = await fetch("/approvals/counts", { credentials: "same-origin" });
  if (!response.ok) return;
  const counts = await response.json();
  holder.querySelectorAll("[data-count]").forEach((cell) => {
    if (cell.dataset.count in counts) cell.textContent = String(counts[cell.dataset.count]);
  });
}

// Approve or reject: the button asks first (what, on which model, with which comment); only
// "Confirm" posts. A rejection needs a comment (the service refuses one without).
function wireQueue() {
  document.querySelectorAll("#queue tr[data-request]").forEach((row) => {
    const confirm = row.querySelector(".confirm");
    const out = row.querySelector(".result");
    if (!confirm || !out) return;
    let verb = null;
    row.querySelectorAll("button.approve, button.reject").forEach((button) => {
      button.addEventListener("click", () => {
        verb = button.classList.contains("approve") ? "approve" : "reject";
        const comment = row.querySelector(".comment").value.trim();
        if (verb === "reject" && !comment) {
          out.textContent = "a rejection needs a comment saying why";
          out.className = "result bad";
          row.querySelector(".comment").focus();
          return;
        }
        out.textContent = "";
        confirm.querySelector(".question").textContent =
          `${verb === "approve" ? "Approve" : "Reject"} ${row.dataset.model}${comment ? ` with “${comment}”` : ""}?`;
        confirm.hidden = false;
      });
    });
    confirm.querySelector(".confirm-no").addEventListener("click", () => { confirm.hidden = true; verb = null; });
    confirm.querySelector(".confirm-yes").addEventListener("click", async () => {
      if (!verb) return;
      const comment = row.querySelector(".comment").value.trim() || null;
      confirm.hidden = true;
      const result = await postJSON(`/api/v1/approvals/${row.dataset.request}/${verb}`, { comment });
      if (result.ok) {
        out.textContent = `${PAST[verb]}: request is ${result.data.status}`;
        out.className = "result done";
        row.querySelectorAll("button, textarea").forEach((b) => { b.disabled = true; });
        const approved = row.querySelector(".approved-count");
        if (approved) approved.textContent = String(result.data.approved);
      } else {
        out.textContent = errorText(result);
        out.className = "result bad";
      }
      verb = null;
      await refreshCounts();
    });
  });
  if (document.getElementById("counts")) window.setInterval(refreshCounts, 30000);
}

// Acknowledge or resolve an alert with a comment, through the API (same origin, session cookie).
function wireAlerts() {
  document.querySelectorAll("#alerts tr[data-alert]").forEach((row) => {
    row.querySelectorAll("button.ack, button.resolve").forEach((button) => {
      button.addEventListener("click", async () => {
        const verb = button.classList.contains("ack") ? "ack" : "resolve";
        const comment = row.querySelector(".comment").value.trim() || null;
        const result = await postJSON(`/api/v1/alerts/${row.dataset.alert}/${verb}`, { comment });
        const out = row.querySelector(".result");
        if (result.ok) {
          out.textContent = `${PAST[verb]} by ${verb === "ack" ? result.data.acknowledged_by : result.data.resolved_by}`;
          out.className = "result done";
          const badge = row.querySelector(".alert-status");
          badge.textContent = result.data.status;
          badge.className = `badge alert-status ${result.data.status === "resolved" ? "ok" : "warning"}`;
          button.remove();
          if (result.data.status === "resolved") row.querySelectorAll("button, input").forEach((b) => { b.disabled = true; });
        } else {
          out.textContent = errorText(result);
          out.className = "result bad";
        }
      });
    });
  });
}

function wireLogout() {
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
  wireAlerts();
  wireLogout();
});
