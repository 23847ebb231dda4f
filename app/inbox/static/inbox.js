// Stitch inbox: forms post JSON to the API with the CSRF token; pages follow Server-Sent Events.
"use strict";

const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

async function post(url, body) {
  const r = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await r.json(); } catch (_) { /* empty answer */ }
  if (!r.ok) {
    const fields = data.errors ? Object.entries(data.errors).map(([k, v]) => `${k}: ${v}`).join("; ") : "";
    throw new Error(fields || data.error || `HTTP ${r.status}`);
  }
  return data;
}

function fieldsOf(form) {
  const body = {};
  for (const [k, v] of new FormData(form).entries()) body[k] = typeof v === "string" ? v : "";
  return body;
}

async function refreshTimeline() {
  const box = document.getElementById("timeline");
  if (!box) return;
  const r = await fetch(box.dataset.src, { credentials: "same-origin" });
  if (r.ok) {
    box.innerHTML = await r.text();
    localTimes(box);  // the fragment comes as the server writes dates: word them like the rest of the page
    box.scrollTop = box.scrollHeight;
  }
}

function showError(form, err) {
  const out = form.querySelector(".error");
  if (out) out.textContent = err.message;
  form.classList.add("failed");
}

document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (!form.dataset || !form.dataset.api) return;
  ev.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  const button = form.querySelector('button[type="submit"], button:not([type])');
  if (button) button.disabled = true;
  try {
    const answer = await post(form.dataset.api, fieldsOf(form));
    if (form.dataset.after === "reveal") {
      // Shown on request only (and audited): nothing unmasked is in the page until then.
      form.querySelector(".revealed").textContent = answer.identifiers.map((i) => i.value).join(", ") || "none";
    } else if (form.dataset.after === "timeline") {
      // Clear the text only: the channel stays where the manager put it for the next reply.
      form.querySelector("textarea").value = "";
      await refreshTimeline();
    } else {
      window.location.reload();
    }
  } catch (err) {
    showError(form, err);
  } finally {
    if (button) button.disabled = false;
  }
});

document.addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-post]");
  if (!button) return;
  ev.preventDefault();
  const form = button.closest("form");
  try {
    await post(button.dataset.post, {});
    window.location.reload();
  } catch (err) {
    if (form) showError(form, err);
  }
});

function follow(url, onEvent) {
  const source = new EventSource(url, { withCredentials: true });
  for (const kind of ["message", "outbox", "identity", "lead"]) source.addEventListener(kind, onEvent);
  window.addEventListener("beforeunload", () => source.close());
}

function tickTimers() {
  const now = Date.now();
  for (const el of document.querySelectorAll(".timer[data-due]")) {
    const left = Math.round((Date.parse(el.dataset.due) - now) / 60000);
    el.classList.toggle("overdue", left < 0);
    el.textContent = left < 0 ? `overdue ${-left} min` : `${left} min left`;
  }
  localTimes(document);
}

// Every <time> in the browser's locale and time zone, wherever it came from (page, fragment, live update).
function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (isNaN(d)) continue;
    // data-short: a day and an hour ("5 Dec 14:02") where the date helps name something, as a lead.
    el.textContent = "short" in el.dataset
      ? `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${d.toLocaleTimeString([], { timeStyle: "short" })}`
      : d.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  tickTimers();
  setInterval(tickTimers, 30000);
  const timeline = document.getElementById("timeline");
  if (timeline) {
    timeline.scrollTop = timeline.scrollHeight;
    follow(timeline.dataset.live, (ev) => {
      if (ev.type === "identity" || ev.type === "lead") window.location.reload();
      else refreshTimeline();
    });
  }
  const list = document.querySelector("table.persons[data-live]");
  if (list) {
    let pending = null;
    follow(list.dataset.live, () => {
      // Many messages at once: one reload.
      if (!pending) pending = setTimeout(() => window.location.reload(), 1500);
    });
  }
});
