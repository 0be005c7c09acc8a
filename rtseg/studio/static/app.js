// rtseg studio: one page, no build step. The server does the work; this draws and sends clicks.
"use strict";
const $ = (id) => document.getElementById(id);
const PALETTE = [[0,0,0],[128,0,0],[0,128,0],[128,128,0],[0,0,128],[128,0,128],[0,128,128],[128,128,128]];
const state = { session: null, info: null, frame: 0, object: 1, objects: [1], drag: null, clicks: [], events: null, last: 0,
                propagated: false, dirty: new Set() };

function showError(message) { const e = $("error"); e.textContent = message; e.hidden = !message; }
function status(text) { $("status").textContent = text; }

// The server's secret comes in the URL `rtseg studio` printed (?token=...). It is kept in this tab's
// sessionStorage (not a cookie: a cookie for 127.0.0.1 would go to every local port) and taken out of
// the address bar, so it is not in the history, a bookmark or a screenshot.
const TOKEN = (() => {
  const params = new URLSearchParams(location.search);
  const given = params.get("token");
  if (given) {
    sessionStorage.setItem("rtseg-studio-token", given);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  return sessionStorage.getItem("rtseg-studio-token") || "";
})();
const NO_TOKEN = "This page needs its token: open the URL `rtseg studio` printed, with its token " +
                 "(http://127.0.0.1:PORT/?token=...).";

// <img>, EventSource and sendBeacon cannot set headers: the token goes in their URL.
function withToken(url) { return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN); }

async function api(method, url, body, { allow = [] } = {}) {
  const headers = { "Authorization": `token ${TOKEN}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                               credentials: "omit", cache: "no-store" });
  const data = await r.json().catch(() => ({}));
  if (allow.includes(r.status)) return { status: r.status, ...data };
  if (!r.ok) {
    const message = r.status === 403 && !TOKEN ? NO_TOKEN : (data.error || `${r.status} ${r.statusText}`);
    showError(message); throw new Error(message);
  }
  showError("");
  return data;
}

function colour(id) { const c = PALETTE[id % PALETTE.length]; return `rgb(${c[0]},${c[1]},${c[2]})`; }

function drawObjects() {
  const box = $("objects"); box.innerHTML = "";
  for (const id of state.objects) {
    const b = document.createElement("span");
    b.className = "object" + (id === state.object ? " active" : "");
    b.style.background = colour(id); b.textContent = `object ${id}`;
    b.onclick = () => { state.object = id; drawObjects(); };
    box.appendChild(b);
  }
}

function refreshOverlay() {
  if (!state.session) return;
  $("overlay").src = withToken(`/api/sessions/${state.session}/overlay/${state.frame}.png?t=${Date.now()}`);
}

function showFrame(i) {
  state.frame = i; $("index").textContent = i; $("slider").value = i;
  $("frame").src = withToken(`/api/sessions/${state.session}/frame/${i}.jpg`);
  refreshOverlay(); drawMarks();
}

function drawMarks() {
  const c = $("marks"), img = $("frame");
  c.width = img.clientWidth; c.height = img.clientHeight;
  const g = c.getContext("2d"); g.clearRect(0, 0, c.width, c.height);
  if (!state.info) return;
  const sx = c.width / state.info.width, sy = c.height / state.info.height;
  for (const k of state.clicks.filter((k) => k.frame === state.frame)) {
    g.fillStyle = k.label ? "#0f0" : "#f00"; g.beginPath(); g.arc(k.x * sx, k.y * sy, 5, 0, 7); g.fill();
  }
  if (state.drag && state.drag.moved) {
    const d = state.drag; g.strokeStyle = "#ff0"; g.strokeRect(d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
  }
}

function videoXY(ev) {
  const r = $("marks").getBoundingClientRect();
  return { px: ev.clientX - r.left, py: ev.clientY - r.top,
           x: (ev.clientX - r.left) * state.info.width / r.width, y: (ev.clientY - r.top) * state.info.height / r.height };
}

async function open(path) {
  if (state.session) navigator.sendBeacon(withToken(`/api/sessions/${state.session}/close`));
  const info = await api("POST", "/api/open", { path });
  state.session = info.session; state.info = info; state.clicks = []; state.last = 0;
  state.propagated = false; state.dirty = new Set();
  state.objects = info.objects.length ? info.objects : [1]; state.object = state.objects[0];
  $("model").textContent = `${info.model} · ${info.width}x${info.height} · ${info.frames} frames`;
  $("slider").max = info.frames - 1; $("count").textContent = info.frames - 1;
  $("objects-box").hidden = info.model !== "sam2";
  drawObjects(); showFrame(0); listen();
  document.body.dataset.session = info.session;
}

function listen() {
  if (state.events) state.events.close();
  state.events = new EventSource(withToken(`/api/sessions/${state.session}/events?after=${state.last}`));
  state.events.onmessage = (m) => {
    state.last = Number(m.lastEventId) || state.last;
    const e = JSON.parse(m.data);
    const bar = e.task === "export" ? $("export-progress") : $("progress");
    if (e.type === "progress") {
      bar.max = e.total; bar.value = e.done; status(`${e.task}: ${e.done} / ${e.total}`);
      if (e.task === "propagate" && e.frame === state.frame) refreshOverlay();
    } else if (e.type === "done") {
      bar.value = bar.max; status(`${e.task} done` + (e.path ? `: ${e.path}` : ""));
      document.body.dataset[e.task] = "done"; refreshOverlay();
    } else if (e.type === "cancelled") { status(`${e.task} cancelled`); document.body.dataset[e.task] = "cancelled"; }
    else if (e.type === "error") { showError(e.message); document.body.dataset[e.task] = "error"; }
  };
}

async function click(x, y, label) {
  const r = await api("POST", `/api/sessions/${state.session}/click`, { frame: state.frame, object: state.object, x, y, label });
  state.clicks.push({ frame: state.frame, object: state.object, x, y, label }); state.dirty.add(state.frame);
  status(`mask in ${r.ms} ms`); refreshOverlay(); drawMarks();
}

$("marks").addEventListener("contextmenu", (ev) => ev.preventDefault());
$("marks").addEventListener("mousedown", (ev) => {
  if (!state.session || state.info.model !== "sam2") return;
  const p = videoXY(ev);
  state.drag = { ...p, x0: p.px, y0: p.py, x1: p.px, y1: p.py, moved: false, negative: ev.button === 2 || ev.shiftKey };
});
$("marks").addEventListener("mousemove", (ev) => {
  if (!state.drag) return; const p = videoXY(ev);
  state.drag.x1 = p.px; state.drag.y1 = p.py;
  state.drag.moved = Math.abs(p.px - state.drag.x0) + Math.abs(p.py - state.drag.y0) > 8; drawMarks();
});
$("marks").addEventListener("mouseup", async (ev) => {
  const d = state.drag; state.drag = null; if (!d) return;
  const p = videoXY(ev);
  if (d.moved) {
    const box = [Math.min(d.x, p.x), Math.min(d.y, p.y), Math.max(d.x, p.x), Math.max(d.y, p.y)];
    const r = await api("POST", `/api/sessions/${state.session}/box`, { frame: state.frame, object: state.object, box });
    status(`mask in ${r.ms} ms`); state.dirty.add(state.frame); refreshOverlay(); drawMarks();
  } else {
    await click(d.x, d.y, d.negative ? 0 : 1);
  }
});

$("open").onclick = () => open($("path").value);
$("slider").oninput = (ev) => showFrame(Number(ev.target.value));
$("add-object").onclick = () => { const id = Math.max(0, ...state.objects) + 1; state.objects.push(id); state.object = id; drawObjects(); };
$("undo").onclick = async () => {
  const r = await api("POST", `/api/sessions/${state.session}/undo`, { object: state.object });
  const i = state.clicks.map((k) => k.object).lastIndexOf(state.object); if (i >= 0) state.clicks.splice(i, 1);
  showFrame(r.frame);
};
$("clear").onclick = async () => {
  await api("POST", `/api/sessions/${state.session}/clear`, { object: state.object });
  state.clicks = state.clicks.filter((k) => k.object !== state.object); refreshOverlay(); drawMarks();
};
$("propagate").onclick = async () => {
  // the first time from the first clicked frame; after corrections, from the earliest corrected frame
  const start = state.propagated && state.dirty.size ? Math.min(...state.dirty) : null;
  document.body.dataset.propagate = "running";
  await api("POST", `/api/sessions/${state.session}/propagate`, { start });
  state.propagated = true; state.dirty.clear();
};
$("cancel").onclick = () => api("POST", `/api/sessions/${state.session}/cancel`);
$("export").onclick = async () => {
  const url = `/api/sessions/${state.session}/export`;
  const body = { kind: $("export-kind").value, path: $("export-path").value };
  document.body.dataset.export = "running";  // before the request: its "done" event may come before its answer
  try {
    const r = await api("POST", url, body, { allow: [409] });
    if (r.status === 409) {  // it exists: replace it only if the user says so
      if (!confirm(`${r.error}. Replace it?`)) { status("export not started"); delete document.body.dataset.export; return; }
      await api("POST", url, { ...body, overwrite: true });
    }
  } catch (e) { document.body.dataset.export = "error"; throw e; }
};
$("frame").onload = drawMarks;
window.addEventListener("resize", drawMarks);
// When the page goes (tab closed, reload, navigation) its session is closed on the server.
function closeSession() {
  if (state.session) { navigator.sendBeacon(withToken(`/api/sessions/${state.session}/close`)); state.session = null; }
}
window.addEventListener("pagehide", closeSession);
window.addEventListener("beforeunload", closeSession);

(async () => {
  if (!TOKEN) { showError(NO_TOKEN); document.body.dataset.token = "missing"; return; }
  const cfg = await api("GET", "/api/config");
  $("model").textContent = cfg.model;
  $("roots").textContent = cfg.roots.join(", ");
  $("exports").textContent = cfg.exports; $("exports-head").textContent = cfg.exports;
  if (cfg.initial) { $("path").value = cfg.initial; await open(cfg.initial); }
})();
