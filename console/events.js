// The org's events, newest first, following the stream.

import { api, ApiError, orgUrl } from "./api.js";
import { h, show, time } from "./format.js";

const SHOWN = 200;

export async function render(view, _parts, _params, { stream }) {
  const seen = new Map();
  const table = h("div", { class: "table-wrap" });
  const status = h("p", { class: "summary", "aria-live": "polite" });
  const type = h("input", { id: "event-type", placeholder: "device.registered", spellcheck: "false", "aria-label": "Only events of type" });
  view.append(h("div", { class: "view-head" }, h("h1", {}, "Events")),
    h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); draw(); } },
      h("div", { class: "field" }, h("label", { for: "event-type" }, "Type starts with"), type)),
    status, table);
  type.addEventListener("input", () => draw());

  function draw() {
    const prefix = type.value.trim();
    const list = [...seen.values()].filter((e) => !prefix || String(e.type).startsWith(prefix))
      .sort((a, b) => b.seq - a.seq).slice(0, SHOWN);
    show(status, `${seen.size} events`, list.length < seen.size ? ` · showing ${list.length}` : "");
    show(table, list.length ? h("table", { class: "events" },
      h("thead", {}, h("tr", {}, ["#", "Type", "Device", "When", "Data"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, list.map((e) => h("tr", { dataset: { seq: e.seq } },
        h("td", {}, String(e.seq)),
        h("td", {}, h("code", {}, e.type)),
        h("td", {}, e.device_id ? h("a", { href: `#/devices/${encodeURIComponent(e.device_id)}` }, e.data?.device_id ?? e.device_id.slice(0, 8)) : "—"),
        h("td", {}, time(e.at)),
        h("td", {}, h("code", { class: "data" }, JSON.stringify(e.data ?? {})))))))
      : h("p", { class: "empty" }, "No events yet."));
  }

  try {
    let after = 0;
    for (let i = 0; i < 20; i++) {
      const page = await api("GET", orgUrl("/api/v1/events", { after, limit: 1000 }));
      const events = page.events ?? [];
      for (const e of events) seen.set(e.seq, e);
      if (events.length < 1000) break;
      after = events.at(-1).seq;
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      show(table, h("p", { class: "muted" }, "This devreg keeps no event log."));
      return null;
    }
    throw error;
  }
  draw();
  return stream.subscribe((event) => { seen.set(event.seq, event); draw(); });
}
