// The kafka-sync dashboard: polls the API every 2 s with the token the user enters.
// Everything shown comes from the documented endpoints; nothing is loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
const HISTORY_MS = 5 * 60 * 1000;
const state = { token: localStorage.getItem("ksync.token") || "", selected: null, history: {} };

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message = data && data.error ? data.error.message : `${response.status}`;
    throw new Error(`${method} ${path}: ${message}`);
  }
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const status = (text, error) => { $("status").textContent = text; $("status").className = error ? "error" : ""; };

// ---- tasks ------------------------------------------------------------------------------

/// Records/s over the newest samples of a task's copied total.
function rate(id) {
  const samples = state.history[id] || [];
  if (samples.length < 2) return null;
  const [a, b] = [samples[Math.max(0, samples.length - 4)], samples[samples.length - 1]];
  return b.t > a.t ? ((b.copied - a.copied) * 1000) / (b.t - a.t) : 0;
}

function remember(id, copied) {
  const now = Date.now();
  const samples = (state.history[id] = state.history[id] || []);
  samples.push({ t: now, copied });
  while (samples.length && samples[0].t < now - HISTORY_MS) samples.shift();
}

function onErrorControl(task) {
  if (task.kind !== "topic") return "–";
  const current = typeof task.on_error === "string" ? task.on_error : "dead_letter";
  const select = el("select", { "data-task": task.id, class: "on-error", onchange: (e) => changeOnError(task, e.target) });
  for (const value of ["retain", "discard", "dead_letter"]) {
    const option = el("option", { value }, value === "dead_letter" ? "dead-letter topic…" : value);
    if (value === current) option.selected = true;
    select.append(option);
  }
  return select;
}

async function changeOnError(task, select) {
  let on_error = select.value;
  if (on_error === "dead_letter") {
    const topic = prompt("Dead-letter topic on the target cluster:", `${task.name}-dlq`);
    if (!topic) return refresh();
    on_error = { dead_letter_topic: topic };
  }
  try {
    await api("PATCH", `/v1/tasks/${task.id}`, { on_error });
    status(`on_error of ${task.name} is now ${select.value}`);
  } catch (e) { status(e.message, true); }
  refresh();
}

async function act(task, action) {
  try {
    await api("POST", `/v1/tasks/${task.id}/${action}`);
    status(`${action}d ${task.name}`);
  } catch (e) { status(e.message, true); }
  refresh();
}

function taskRow(task, progress) {
  const totals = progress ? progress.totals : {};
  const r = rate(task.id);
  const action = task.state === "running" ? "pause" : "resume";
  const row = el("tr", { class: `task${state.selected === task.id ? " selected" : ""}`, "data-task": task.id },
    el("td", {}, task.name), el("td", {}, task.kind),
    el("td", { class: `state state-${task.state}` }, task.state),
    el("td", { class: "num copied" }, number(totals.messages)),
    el("td", { class: "num lag" }, number(totals.lag)),
    el("td", { class: "num" }, r === null ? "–" : r.toFixed(1)),
    el("td", {}, onErrorControl(task)),
    el("td", {}, el("button", { class: `quiet ${action}`, onclick: (e) => { e.stopPropagation(); act(task, action); } }, action)));
  row.addEventListener("click", (e) => {
    if (e.target.closest("select, button")) return;
    state.selected = task.id;
    refresh();
  });
  return row;
}

async function refresh() {
  if (!state.token) return;
  try {
    const { tasks } = await api("GET", "/v1/tasks");
    const progress = await Promise.all(tasks.map((t) =>
      api("GET", `/v1/tasks/${t.id}/progress`).catch(() => null)));
    tasks.forEach((t, i) => { if (progress[i]) remember(t.id, progress[i].totals.messages); });
    $("tasks").tBodies[0].replaceChildren(...tasks.map((t, i) => taskRow(t, progress[i])));
    if (!tasks.some((t) => t.id === state.selected)) state.selected = tasks.length ? tasks[0].id : null;
    const index = tasks.findIndex((t) => t.id === state.selected);
    if (index >= 0) await detail(tasks[index], progress[index]);
    status(`Connected: ${tasks.length} task(s), updated ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    status(e.message, true);
  }
}

// ---- one task ---------------------------------------------------------------------------

async function detail(task, progress) {
  $("detail").hidden = false;
  $("detail-title").textContent = `${task.name} (${task.state})`;
  const rows = [];
  for (const topic of progress ? progress.topics : []) {
    for (const p of topic.partitions) {
      rows.push(el("tr", {},
        el("td", {}, topic.topic), el("td", { class: "num" }, p.partition),
        el("td", { class: `state-${p.state}` }, p.state + (p.error ? `: ${p.error.code}` : "")),
        el("td", { class: "num partition-lag" }, number(p.lag)), el("td", { class: "num" }, number(p.next_offset)),
        el("td", { class: "num" }, number(p.source_end_offset)), el("td", { class: "num" }, number(p.lost))));
    }
  }
  $("partitions").tBodies[0].replaceChildren(...rows);
  const { events } = await api("GET", `/v1/tasks/${task.id}/events?limit=20`);
  $("events").replaceChildren(...events.map((e) => el("li", { class: `level-${e.level}` },
    `${new Date(e.last_at || e.at).toLocaleTimeString()} ${e.kind}: ${e.message}${e.count > 1 ? ` (×${e.count})` : ""}`)));
  chart(state.history[task.id] || []);
}

/// Records/s between consecutive samples, as a line over the last five minutes.
function chart(samples) {
  const canvas = $("chart");
  const g = canvas.getContext("2d");
  const [w, h, pad] = [canvas.width, canvas.height, 28];
  g.clearRect(0, 0, w, h);
  const points = samples.slice(1).map((s, i) => ({
    t: s.t, r: Math.max(0, ((s.copied - samples[i].copied) * 1000) / Math.max(1, s.t - samples[i].t)) }));
  const top = Math.max(1, ...points.map((p) => p.r));
  const now = Date.now();
  g.strokeStyle = "#d9dee7"; g.fillStyle = "#667085"; g.font = "11px system-ui";
  g.beginPath(); g.moveTo(pad, 4); g.lineTo(pad, h - pad); g.lineTo(w - 4, h - pad); g.stroke();
  g.fillText(top.toFixed(0), 2, 12); g.fillText("0", 2, h - pad); g.fillText("−5 min", pad, h - 8);
  g.fillText("now", w - 30, h - 8);
  if (!points.length) return;
  const x = (t) => pad + ((t - (now - HISTORY_MS)) / HISTORY_MS) * (w - pad - 4);
  const y = (r) => h - pad - (r / top) * (h - pad - 8);
  g.strokeStyle = "#2457c5"; g.lineWidth = 2; g.beginPath();
  points.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p.r)) : g.moveTo(x(p.t), y(p.r))));
  g.stroke();
}

// ---- processing workbench -----------------------------------------------------------------

function processingConfig() {
  const mode = $("mode").value;
  const parse = { mode };
  const arg = $("mode-arg").value;
  if (mode === "separator") parse.separator = arg;
  if (mode === "regex") parse.pattern = arg;
  const config = { parse };
  if ($("fields").value.trim()) config.fields = JSON.parse($("fields").value);
  const format = $("format").value;
  config.output = { format };
  if (format === "value") config.output.separator = ",";
  if (format === "key_value") Object.assign(config.output, { kv_separator: "=", separator: "&" });
  return config;
}

async function runWorkbench() {
  const lines = $("samples").value.split("\n").filter((l) => l.length);
  try {
    const messages = lines.map((value) => ({ value }));
    const { results } = await api("POST", "/v1/processing/test", { processing: processingConfig(), messages });
    $("results").replaceChildren(...results.map((r) => r.ok
      ? el("li", { class: "result-ok" }, r.outputs.map((o) => o.value).join("  |  ") || "(no output)")
      : el("li", { class: "result-error" }, r.error)));
  } catch (e) {
    $("results").replaceChildren(el("li", { class: "result-error" }, e.message));
  }
}

const parts = [];

function addPart() {
  const input = $("regex-sample");
  const text = input.value.slice(input.selectionStart, input.selectionEnd);
  const name = $("part-name").value.trim();
  if (!text || !name) return status("Select part of the sample and name it first", true);
  parts.push({ name, text });
  $("part-name").value = "";
  showParts();
}

function showParts() {
  $("parts").replaceChildren(...parts.map((p, i) => el("li", {}, el("code", {}, p.name), ` = ${JSON.stringify(p.text)} `,
    el("button", { class: "quiet", onclick: () => { parts.splice(i, 1); showParts(); } }, "×"))));
}

async function generate() {
  try {
    const { pattern } = await api("POST", "/v1/processing/regex", { sample: $("regex-sample").value, extract: parts });
    $("pattern").textContent = pattern;
    $("use-pattern").hidden = false;
  } catch (e) {
    $("pattern").textContent = e.message;
  }
}

function usePattern() {
  $("mode").value = "regex";
  $("mode-arg").value = $("pattern").textContent;
  if (!$("samples").value.trim()) $("samples").value = $("regex-sample").value;
  runWorkbench();
}

// ---- start ------------------------------------------------------------------------------

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value.trim();
  localStorage.setItem("ksync.token", state.token);
  refresh();
});
$("run").addEventListener("click", runWorkbench);
$("add-part").addEventListener("click", addPart);
$("generate").addEventListener("click", generate);
$("use-pattern").addEventListener("click", usePattern);
$("token").value = state.token;
setInterval(refresh, POLL_MS);
refresh();
