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

// Every chart: one y-axis, straight segments between the windows (no smoothing that overshoots
// the points), the threshold as a dashed line and breached windows as red crosses.
const BREACH = "#c0392b";

function markers(statuses, colour) {
  return {
    pointStyle: statuses.map((s) => (s === "breach" ? "crossRot" : "circle")),
    pointRadius: statuses.map((s) => (s === "breach" ? 8 : 3)),
    pointBorderWidth: statuses.map((s) => (s === "breach" ? 3 : 1)),
    pointBorderColor: statuses.map((s) => (s === "breach" ? BREACH : colour)),
    pointBackgroundColor: statuses.map((s) => (s === "breach" ? BREACH : colour)),
  };
}

function thresholdLine(label, value, count) {
  return { label, data: Array(count).fill(value), borderColor: BREACH, borderDash: [6, 4],
    borderWidth: 1.5, pointRadius: 0, pointHitRadius: 0, tension: 0, fill: false };
}

function driftDatasets(c) {
  const datasets = [];
  Object.entries(c.series).forEach(([name, values], i) => {
    const colour = PALETTE[i % PALETTE.length];
    datasets.push({ label: name, data: values, borderColor: colour, tension: 0, spanGaps: true,
      ...markers(c.statuses, colour) });
    if (name in c.thresholds) datasets.push(thresholdLine(`${name} threshold`, c.thresholds[name], values.length));
  });
  return { datasets, title: `${c.monitor} (${c.monitor_kind})`, y: "drift score" };
}

function performanceDatasets(c) {
  const colour = PALETTE[0];
  const n = c.values.length;
  const estimated = c.estimated.some(Boolean);
  const datasets = [
    { label: `${c.metric} (interval low)`, data: c.low, borderColor: "rgba(31,119,180,0)", pointRadius: 0, tension: 0, fill: false },
    { label: `${c.metric} interval`, data: c.high, borderColor: "rgba(31,119,180,0)", backgroundColor: "rgba(31,119,180,0.15)",
      pointRadius: 0, tension: 0, fill: "-1" },
    { label: estimated ? `${c.metric} (estimated where labels lag)` : `${c.metric} (realized)`, data: c.values,
      borderColor: colour, tension: 0, spanGaps: true, ...markers(c.statuses, colour) },
  ];
  if (c.realized && c.realized.some((v) => v !== null && v !== undefined)) datasets.push({
    label: `${c.metric} (realized, once labels arrived)`, data: c.realized, borderColor: PALETTE[1], tension: 0,
    spanGaps: true, pointStyle: "rectRot", pointRadius: 5, fill: false });
  if (c.baseline !== null) datasets.push({ label: "baseline", data: Array(n).fill(c.baseline), borderColor: "#7f8c8d",
    borderDash: [2, 3], pointRadius: 0, tension: 0, fill: false });
  if (c.threshold !== null) datasets.push(thresholdLine("breach below", c.threshold, n));
  return { datasets, title: `${c.monitor}: ${c.metric} over time`, y: c.metric };
}

function drawCharts() {
  const holder = document.getElementById("chart-data");
  if (!holder || typeof Chart === "undefined") return;
  const data = JSON.parse(holder.textContent);
  document.querySelectorAll("canvas.monitor-chart").forEach((canvas) => {
    const c = data.charts[Number(canvas.dataset.index)];
    const drawn = c.kind === "performance" ? performanceDatasets(c) : driftDatasets(c);
    window.governCharts.push(new Chart(canvas, {
      type: "line",
      data: { labels: c.labels, datasets: drawn.datasets },
      options: { animation: false, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, suggestedMax: c.kind === "performance" ? 1 : undefined,
                       title: { display: true, text: drawn.y } },
                  x: { title: { display: true, text: "window end (UTC)" } } },
        plugins: { title: { display: true, text: drawn.title },
                   legend: { labels: { filter: (item) => !item.text.endsWith("(interval low)") } } } },
    }));
  });
  const robust = document.getElementById("robustness-chart");
  if (robust && data.robustness) {
    const r = data.robustness.latest;
    const curve = (values) => r.epsilons.map((e, i) => ({ x: e, y: values[i] }));
    const datasets = Object.entries(r.attacks || {}).map(([name, values], i) => ({
      label: name, data: curve(values), showLine: true, tension: 0, borderColor: PALETTE[(i + 2) % PALETTE.length],
      borderWidth: 1.5, pointRadius: 2 }));
    datasets.push({ label: "worst case over attacks", data: curve(r.worst_case), showLine: true, tension: 0,
      borderColor: BREACH, borderWidth: 3, pointRadius: 4 });
    const unit = r.space === "image" ? "ε (input units)" : "ε (share of each feature's range)";
    window.governCharts.push(new Chart(robust, {
      type: "scatter",
      data: { datasets },
      options: { animation: false, maintainAspectRatio: false,
        scales: { y: { min: 0, max: 1, title: { display: true, text: "accuracy under attack" } },
                  x: { type: "linear", title: { display: true, text: unit } } },
        plugins: { title: { display: true, text: `Robustness (${data.robustness.monitor}, window ending ${r.window_end})` } } },
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
