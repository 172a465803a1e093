// The rollout page: polls the tracker's /v1 JSON about once a second and renders either the
// torrent list (#) or one torrent (#t=HASH). A bearer token, when reads are protected, comes
// from the address (#token=...) and stays in this tab's sessionStorage. ?polls=N stops after N
// answers (for tests and screenshots).
"use strict";

const params = new URLSearchParams(location.search);
const maxPolls = Number(params.get("polls") || 0);
let polls = 0;
let timer = 0;

function hashParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

function token() {
  const t = hashParams().get("token");
  if (t) sessionStorage.setItem("minibit-token", t);
  return sessionStorage.getItem("minibit-token");
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + Math.round(s % 60) + "s";
  return Math.floor(m / 60) + "h " + (m % 60) + "m";
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function progressBar(t) {
  const bar = el("div", { class: "bar" });
  const goal = t.expected === null ? Math.max(t.completed + t.leechers, 1) : Math.max(t.expected, 1);
  const fill = el("span");
  fill.style.width = Math.min(100, (100 * t.completed) / goal).toFixed(1) + "%";
  bar.append(fill, el("em", {}, t.completed + " / " + (t.expected === null ? "?" : t.expected)));
  return bar;
}

function status(text, bad) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = bad ? "status error" : "status";
}

function renderList(data) {
  const body = document.querySelector("#torrents tbody");
  body.replaceChildren();
  for (const t of data.torrents) {
    const tr = el("tr", {
      class: "torrent", "data-hash": t.info_hash, "data-completed": t.completed,
      "data-expected": t.expected === null ? "" : t.expected, "data-seeders": t.seeders,
      "data-leechers": t.leechers, "data-stragglers": t.stragglers,
    });
    const link = el("a", { href: "#t=" + t.info_hash }, t.info_hash.slice(0, 12) + "…");
    const name = el("td", { class: "hash", title: t.info_hash });
    name.append(link);
    const bar = el("td");
    bar.append(progressBar(t));
    const strag = el("td", { class: "num" + (t.stragglers > 0 ? " stragglers-some" : "") },
      String(t.stragglers));
    tr.append(name, bar, el("td", { class: "num" }, String(t.seeders)),
      el("td", { class: "num" }, String(t.leechers)), strag,
      el("td", { class: "num" }, duration(t.time_to_complete_ms.count ? t.time_to_complete_ms.p50 : null)),
      el("td", { class: "num" }, duration(t.time_to_complete_ms.count ? t.time_to_complete_ms.p99 : null)));
    body.append(tr);
  }
  document.getElementById("empty").hidden = data.torrents.length > 0;
  document.body.dataset.torrents = String(data.torrents.length);
}

function figure(list, id, label, value) {
  const d = el("div", { id: id });
  d.append(el("dt", {}, label), el("dd", {}, String(value)));
  list.append(d);
}

function renderChart(t) {
  const svg = document.getElementById("chart");
  const ns = "http://www.w3.org/2000/svg";
  const W = 640, H = 220, L = 40, B = 24, T = 10, R = 10;
  svg.replaceChildren();
  const counts = t.completion_series.counts;
  const step = t.completion_series.bucket_ms;
  const total = Math.max(t.expected || 0, t.completed, 1);
  const span = Math.max(counts.length * step, t.elapsed_ms || 0, step);
  const x = (ms) => L + ((W - L - R) * ms) / span;
  const y = (n) => H - B - ((H - B - T) * n) / total;
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  add("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B });
  add("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B });
  if (t.expected) add("line", { class: "goal", x1: L, y1: y(t.expected), x2: W - R, y2: y(t.expected) });
  add("text", { x: 4, y: y(total) + 4 }, String(total));
  add("text", { x: 4, y: H - B + 4 }, "0");
  add("text", { x: W - R - 60, y: H - 6 }, duration(span));
  let n = 0;
  const pts = [[x(0), y(0)]];
  counts.forEach((c, i) => {
    n += c;
    pts.push([x((i + 1) * step), y(n)]);
  });
  if (t.elapsed_ms !== null && t.elapsed_ms > counts.length * step) pts.push([x(t.elapsed_ms), y(n)]);
  add("polyline", { class: "line", points: pts.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ") });
  svg.dataset.completed = String(n);
}

function renderTorrent(t) {
  document.getElementById("t-hash").textContent = t.info_hash;
  const f = document.getElementById("t-figures");
  f.replaceChildren();
  figure(f, "f-completed", "Completed", t.completed + " / " + (t.expected === null ? "?" : t.expected));
  figure(f, "f-seeders", "Seeders", t.seeders);
  figure(f, "f-leechers", "Leechers", t.leechers);
  figure(f, "f-stragglers", "Stragglers", t.stragglers);
  figure(f, "f-p50", "p50 to complete", duration(t.time_to_complete_ms.count ? t.time_to_complete_ms.p50 : null));
  figure(f, "f-p90", "p90", duration(t.time_to_complete_ms.count ? t.time_to_complete_ms.p90 : null));
  figure(f, "f-p99", "p99", duration(t.time_to_complete_ms.count ? t.time_to_complete_ms.p99 : null));
  figure(f, "f-max", "max", duration(t.time_to_complete_ms.count ? t.time_to_complete_ms.max : null));
  figure(f, "f-elapsed", "Since first announce", duration(t.elapsed_ms));
  document.getElementById("t-straggler-rule").textContent =
    "(downloading, no progress for " + duration(t.straggler_after_ms) + ")";
  renderChart(t);
  const body = document.querySelector("#stragglers tbody");
  body.replaceChildren();
  for (const s of t.straggler_list) {
    const tr = el("tr", { class: "straggler", "data-peer": s.peer });
    tr.append(el("td", { class: "hash" }, s.peer), el("td", { class: "num" }, bytes(s.left)),
      el("td", { class: "num" }, duration(s.since_progress_ms)),
      el("td", { class: "num" }, duration(s.since_first_ms)));
    body.append(tr);
  }
  document.getElementById("no-stragglers").hidden = t.straggler_list.length > 0;
  document.body.dataset.stragglers = String(t.straggler_list.length);
}

async function poll() {
  const one = hashParams().get("t");
  document.getElementById("list-view").hidden = !!one;
  document.getElementById("torrent-view").hidden = !one;
  const headers = {};
  const tok = token();
  if (tok) headers.Authorization = "Bearer " + tok;
  try {
    const r = await fetch(one ? "/v1/torrents/" + encodeURIComponent(one) : "/v1/torrents",
      { headers: headers, cache: "no-store" });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || "HTTP " + r.status);
    if (one) renderTorrent(data); else renderList(data);
    status("updated " + new Date().toLocaleTimeString(), false);
    polls++;
    document.body.dataset.polls = String(polls);
    document.body.dataset.view = one ? "torrent" : "list";
  } catch (e) {
    status("cannot read the tracker: " + e.message, true);
  }
  if (maxPolls === 0 || polls < maxPolls) timer = setTimeout(poll, 1000);
}

window.addEventListener("hashchange", () => { clearTimeout(timer); poll(); });
poll();
