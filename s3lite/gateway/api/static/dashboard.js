// The s3lite dashboard: reads the cluster API's GET endpoints every few seconds and draws them.
// Signing in sets an HttpOnly session cookie (POST /_cluster/session); this script never sees
// the token again, and puts nothing in a URL. Data is only ever set as text, never as HTML.
"use strict";

const POLL_MS = 2000;
const API = "/_cluster";

const $ = (selector, root = document) => root.querySelector(selector);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function ago(isoTime) {
  return agoSeconds(Date.parse(isoTime) / 1000);
}

function agoSeconds(unixTime) {
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - unixTime));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

// A bar of a stated limit turns orange when nearly full; a bar that only compares nodes never.
function setFill(bar, fraction, ofLimit) {
  const fill = $(".fill", bar);
  const clamped = Math.min(Math.max(fraction, 0), 1);
  fill.style.width = `${(clamped * 100).toFixed(1)}%`;
  fill.classList.toggle("high", ofLimit && clamped > 0.9);
}

const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

class Unauthorized extends Error {}

async function getJson(path) {
  const response = await fetch(API + path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) throw new Unauthorized();
  if (response.status === 404) return null; // an endpoint this gateway does not have (yet)
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// Nodes: a card each, with a fill bar against the stated capacity, or against the fullest
// node where none is stated.
function drawNodes(nodes) {
  const list = $("#nodes");
  const fullest = Math.max(1, ...nodes.map((node) => node.bytes_stored));
  list.replaceChildren(
    ...nodes.map((node) => {
      const card = element("li", node.status);
      card.dataset.nodeId = node.node_id;
      card.dataset.status = node.status;
      card.dataset.bytesStored = String(node.bytes_stored);
      const head = element("div", "node-head");
      head.append(element("span", "node-id", node.node_id), element("span", `status ${node.status}`, node.status));
      const bar = element("div", "bar");
      bar.append(element("div", "fill"));
      const limited = node.capacity_bytes > 0;
      setFill(bar, node.bytes_stored / (limited ? node.capacity_bytes : fullest), limited);
      const capacity = limited
        ? ` of ${formatBytes(node.capacity_bytes)} (${Math.round((100 * node.bytes_stored) / node.capacity_bytes)}%)`
        : " (no stated limit)";
      card.append(
        head,
        bar,
        element("div", "node-bytes", `${formatBytes(node.bytes_stored)}${capacity}, ${plural(node.parts_stored, "shard")}`),
        element("div", "node-url", node.url),
        element("div", "node-seen", `last seen ${ago(node.last_seen)}`),
      );
      return card;
    }),
  );
  const up = nodes.filter((node) => node.status === "up").length;
  const total = nodes.reduce((sum, node) => sum + node.bytes_stored, 0);
  $("#node-summary").textContent = `${up} up, ${nodes.length - up} down, ${formatBytes(total)} stored`;
}

function drawBuckets(buckets) {
  const rows = buckets.map((bucket) => {
    const row = element("tr");
    row.dataset.bucket = bucket.name;
    row.append(
      element("td", "", bucket.name),
      element("td", "number", String(bucket.objects)),
      element("td", "number", formatBytes(bucket.bytes)),
    );
    return row;
  });
  if (rows.length === 0) {
    const row = element("tr");
    const cell = element("td", "muted", "no buckets yet");
    cell.colSpan = 3;
    row.append(cell);
    rows.push(row);
  }
  $("#buckets tbody").replaceChildren(...rows);
  const objects = buckets.reduce((sum, bucket) => sum + bucket.objects, 0);
  $("#bucket-summary").textContent = `${plural(buckets.length, "bucket")}, ${plural(objects, "object")}`;
}

// /_cluster/repair and /_cluster/rebalance answer their round's Progress document (state,
// items_*, bytes_*) under "progress", beside what only that job says (the rebalancer's spread).
function drawJob(card, answer) {
  const text = $(".job-text", card);
  if (answer === null) {
    card.dataset.state = "absent";
    setFill($(".bar", card), 0, false);
    text.textContent = "not running";
    return;
  }
  const doc = answer.progress ?? answer;
  const running = doc.state === "running";
  const done = doc.bytes_done ?? 0;
  const total = doc.bytes_total ?? 0;
  const items = doc.items_total ? doc.items_done / doc.items_total : null;
  card.dataset.state = doc.state ?? "idle";
  const finished = doc.state === "done" ? 1 : 0; // nothing counted: full once a round ended
  setFill($(".bar", card), items ?? (total > 0 ? done / total : finished), false);
  const parts = [doc.state ?? "idle"];
  if (total > 0) parts.push(`${formatBytes(done)} of ${formatBytes(total)}`);
  if (doc.items_total) parts.push(`${doc.items_done} of ${doc.items_total} items`);
  if (doc.bytes_per_second) parts.push(`${formatBytes(doc.bytes_per_second)}/s`);
  if (doc.problems) parts.push(plural(doc.problems, "problem"));
  if (answer.spread !== undefined) parts.push(`spread ${(100 * answer.spread).toFixed(1)}%`);
  if (!running && doc.finished) parts.push(`last round ended ${agoSeconds(doc.finished)}`);
  text.textContent = parts.join(", ");
}

const SVG = "http://www.w3.org/2000/svg";

// Bars, one per slot, scaled to the window's largest value; each series takes a share of a slot.
function drawBars(svg, slots, series) {
  const width = 300;
  const height = 80;
  const peak = Math.max(1, ...slots.flatMap((slot) => series.map((s) => s.value(slot))));
  const slotWidth = width / slots.length;
  const barWidth = (slotWidth * 0.8) / series.length;
  const bars = [];
  slots.forEach((slot, index) => {
    series.forEach((s, which) => {
      const barHeight = (s.value(slot) / peak) * height;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("class", s.name);
      rect.setAttribute("x", String(index * slotWidth + which * barWidth));
      rect.setAttribute("y", String(height - barHeight));
      rect.setAttribute("width", String(barWidth));
      rect.setAttribute("height", String(barHeight));
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${new Date(slot.start * 1000).toLocaleTimeString()}: ${s.label(slot)}`;
      rect.append(title);
      bars.push(rect);
    });
  });
  svg.replaceChildren(...bars);
}

function drawTraffic(traffic) {
  const seconds = traffic.slot_seconds;
  const slots = traffic.slots;
  const perSecond = (value) => value / seconds;
  drawBars($("#rate-chart"), slots, [
    { name: "requests", value: (s) => perSecond(s.requests), label: (s) => `${perSecond(s.requests).toFixed(1)} req/s` },
  ]);
  drawBars($("#throughput-chart"), slots, [
    { name: "in", value: (s) => perSecond(s.bytes_in), label: (s) => `in ${formatBytes(perSecond(s.bytes_in))}/s` },
    { name: "out", value: (s) => perSecond(s.bytes_out), label: (s) => `out ${formatBytes(perSecond(s.bytes_out))}/s` },
  ]);
  // The newest slot is still filling: the figures beside the titles are of the one before it.
  const last = slots[slots.length - 2] ?? slots[slots.length - 1];
  $("#rate-now").textContent = `(last ${seconds} s: ${perSecond(last.requests).toFixed(1)}/s)`;
  $("#throughput-now").textContent = `(last ${seconds} s: ${formatBytes(perSecond(last.bytes_in))}/s in, ${formatBytes(perSecond(last.bytes_out))}/s out)`;
}

let timer = null;

function show(signedIn) {
  $("#sign-in").hidden = signedIn;
  $("#dashboard").hidden = !signedIn;
  $("#sign-out").hidden = !signedIn;
  if (!signedIn) {
    clearTimeout(timer);
    $("#token").focus();
  }
}

async function refresh() {
  try {
    const [nodes, buckets, traffic, repair, rebalance] = await Promise.all([
      getJson("/nodes"),
      getJson("/buckets"),
      getJson("/traffic"),
      getJson("/repair"),
      getJson("/rebalance"),
    ]);
    drawNodes(nodes.nodes);
    drawBuckets(buckets.buckets);
    drawTraffic(traffic);
    drawJob($("#job-repair"), repair);
    drawJob($("#job-rebalance"), rebalance);
    $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    show(true);
  } catch (error) {
    if (error instanceof Unauthorized) {
      show(false);
      return;
    }
    $("#updated").textContent = `not updated: ${error.message}`;
  }
  clearTimeout(timer);
  timer = setTimeout(refresh, POLL_MS);
}

async function signIn(event) {
  event.preventDefault();
  const input = $("#token");
  const message = $("#sign-in-error");
  const response = await fetch(`${API}/session`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: input.value }),
  });
  input.value = "";
  if (response.status !== 204) {
    message.textContent = "That is not the cluster token.";
    message.hidden = false;
    return;
  }
  message.hidden = true;
  refresh();
}

async function signOut() {
  await fetch(`${API}/session`, { method: "DELETE", credentials: "same-origin" });
  show(false);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  refresh();
});
