// The request journal of an ephemeral devreg: every API request with what it sent and
// what it got back, newest first, followed live.

import { api, ApiError, url } from "./api.js";
import { confirm, h, milliseconds, notice, show, time } from "./format.js";

export async function render(view, _parts, _params, context) {
  if (!context.ephemeral) {
    view.append(h("h1", {}, "Requests"), notice("The request journal is kept only by an ephemeral devreg (devreg serve --ephemeral).", "info"));
    return null;
  }
  const entries = new Map();
  let after = 0;
  let paused = false;
  const table = h("div", { class: "journal" });
  const status = h("p", { class: "summary", "aria-live": "polite" });
  const path = h("input", { id: "journal-path", placeholder: "/api/v1/devices", spellcheck: "false" });
  const pause = h("button", { type: "button", class: "quiet", "aria-pressed": "false", onclick: () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
  } }, "Pause");
  view.append(h("div", { class: "view-head" }, h("h1", {}, "Requests"),
    h("div", { class: "actions" }, pause, h("button", { type: "button", class: "danger", onclick: clear }, "Clear journal"))),
    h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); draw(); } },
      h("div", { class: "field" }, h("label", { for: "journal-path" }, "Path contains"), path)),
    status, table);
  path.addEventListener("input", () => draw());

  async function clear() {
    if (!(await confirm("Clear the journal?", "Every request recorded so far is forgotten.", "Clear"))) return;
    await api("DELETE", "/_devreg/requests");
    entries.clear();
    drawn.clear();
    draw();
  }

  function draw() {
    const filter = path.value.trim();
    const list = [...entries.values()].filter((e) => !filter || String(e.path).includes(filter))
      .sort((a, b) => b.seq - a.seq).slice(0, 200);
    show(status, `${entries.size} requests`, list.length < entries.size ? ` · showing ${list.length}` : "");
    show(table, list.length ? list.map(entry) : h("p", { class: "empty" }, "No requests yet."));
  }

  // One element per entry, kept across redraws, so an opened entry stays open.
  const drawn = new Map();
  function entry(e) {
    if (!drawn.has(e.seq)) drawn.set(e.seq, draft(e));
    return drawn.get(e.seq);
  }

  function draft(e) {
    const ok = e.status < 400;
    return h("details", { class: `request ${ok ? "ok" : "failed"}`, dataset: { seq: e.seq } },
      h("summary", {},
        h("span", { class: "method" }, e.method),
        " ", h("code", { class: "path" }, e.path + (e.query ? `?${e.query}` : "")),
        " ", h("span", { class: `badge ${ok ? "online" : "offline"}` }, String(e.status)),
        " ", h("span", { class: "muted" }, milliseconds(e.duration_ms)),
        " ", time(e.at)),
      h("div", { class: "pair" },
        h("div", {}, h("h3", {}, "Request body"), body(e.request_body)),
        h("div", {}, h("h3", {}, "Response body"), body(e.response_body))));
  }

  function body(value) {
    if (value === undefined || value === null || value === "") return h("p", { class: "muted" }, "empty");
    let text = value;
    if (typeof value === "string") {
      try { text = JSON.stringify(JSON.parse(value), null, 2); } catch { text = value; }
    } else {
      text = JSON.stringify(value, null, 2);
    }
    return h("pre", { class: "json", tabindex: "0" }, text);
  }

  async function poll() {
    if (paused) return;
    const page = await api("GET", url("/_devreg/requests", { after, limit: 500 }));
    const list = page.requests ?? page.entries ?? [];
    for (const e of list) entries.set(e.seq, e);
    if (list.length) {
      after = list.at(-1).seq;
      draw();
    }
  }

  try {
    await poll();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      view.append(notice("This devreg has no request journal.", "info"));
      return null;
    }
    throw error;
  }
  draw();
  // The journal has no stream: a short poll is live enough and costs one small request.
  const timer = setInterval(() => poll().catch(() => {}), 1000);
  return () => clearInterval(timer);
}
