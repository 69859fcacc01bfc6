// The devices view: search, filters, total, keyset paging, live updates.

import { api, orgUrl } from "./api.js";
import { connectivityBadge, debounce, h, labelChips, labelFilters, notice, number, show, statusBadge } from "./format.js";

const PAGE = 25;
const FILTERS = ["q", "platform", "status", "connectivity", "label"];

export async function render(view, _parts, params, { stream, refreshClock }) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ""]));
  let after = params.get("after") ?? "";
  // The cursors of the pages before this one, for "Previous".
  const previous = [];

  const field = (name, label, control) => h("div", { class: "field" }, h("label", { for: `filter-${name}` }, label), control);
  const input = (name, placeholder) => h("input", { id: `filter-${name}`, name, value: filters[name], placeholder,
    type: name === "q" ? "search" : "text", autocomplete: "off", spellcheck: "false" });
  const select = (name, options) => h("select", { id: `filter-${name}`, name },
    options.map((o) => h("option", { value: o, selected: o === filters[name] }, o || "any")));

  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); apply(); } },
    field("q", "Search", input("q", "identifier starts with…")),
    field("platform", "Platform", input("platform", "ios, android, python…")),
    field("status", "Status", select("status", ["", "active", "inactive"])),
    field("connectivity", "Connectivity", select("connectivity", ["", "online", "stale", "offline"])),
    field("label", "Label", input("label", "key:value or key=value (space for more)")),
    h("div", { class: "field buttons" },
      h("button", { type: "submit" }, "Apply"),
      h("button", { type: "button", class: "quiet", onclick: () => { form.reset(); for (const c of form.elements) if (c.name) c.value = ""; apply(); } }, "Clear")));

  // Filters and pages change the table in place (the form keeps the focus) and the URL
  // with it, so a reload or a shared link shows the same.
  function apply() {
    for (const name of FILTERS) filters[name] = form.elements[name].value.trim();
    previous.length = 0;
    go("");
  }
  function go(cursor) {
    after = cursor;
    const next = new URLSearchParams();
    for (const name of FILTERS) if (filters[name]) next.set(name, filters[name]);
    if (after) next.set("after", after);
    history.replaceState(null, "", `#/devices${next.toString() ? `?${next}` : ""}`);
    load();
  }
  for (const control of form.querySelectorAll("select")) control.addEventListener("change", apply);
  const typed = debounce(apply, 500);
  for (const control of form.querySelectorAll("input")) control.addEventListener("input", typed);

  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const table = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const message = h("div");
  const refresh = h("button", { type: "button", class: "quiet", onclick: () => load() }, "Refresh");
  view.append(h("div", { class: "view-head" }, h("h1", {}, "Devices"), refresh), form, message, summary, table, pager);

  async function load() {
    // "3 min ago" by the server's clock, which a test may have moved.
    await refreshClock();
    const query = {
      q: filters.q, platform: filters.platform, status: filters.status, connectivity: filters.connectivity,
      label: labelFilters(filters.label), after, limit: PAGE,
    };
    let page;
    try {
      page = await api("GET", orgUrl("/api/v1/devices", query));
    } catch (error) {
      show(message, notice(error.message, "error"));
      return;
    }
    show(message);
    const shown = page.devices.length;
    show(summary, `${number(page.total)} ${page.total === 1 ? "device" : "devices"}`,
      shown && page.total > shown ? ` · showing ${number(shown)}` : "",
      FILTERS.some((f) => filters[f]) ? " matching the filters" : "");
    show(table, page.devices.length ? deviceTable(page.devices) : h("p", { class: "empty" }, "No devices match."));
    const last = page.devices.at(-1)?.id;
    show(pager,
      after ? h("button", { type: "button", class: "quiet", onclick: () => go(previous.pop() ?? "") }, "← Previous") : null,
      shown === PAGE ? h("button", { type: "button", class: "quiet", onclick: () => { previous.push(after); go(last); } }, "Next →") : null);
  }

  await load();
  const reload = debounce(load, 250);
  const unsubscribe = stream.subscribe((event) => {
    if (String(event.type).startsWith("device.")) reload();
  });
  // Connectivity follows time as well as heartbeats.
  const timer = setInterval(load, 20000);
  return () => { unsubscribe(); clearInterval(timer); };
}

function deviceTable(devices) {
  return h("table", { class: "devices" },
    h("thead", {}, h("tr", {},
      ["Device", "Platform", "Status", "Connectivity · last seen", "Labels"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, devices.map((d) => h("tr", { dataset: { device: d.device_identifier } },
      h("td", {}, h("a", { href: `#/devices/${encodeURIComponent(d.id)}` }, d.device_identifier)),
      h("td", {}, d.platform),
      h("td", {}, statusBadge(d.status)),
      h("td", {}, connectivityBadge(d.connectivity, d.last_seen_at)),
      h("td", {}, labelChips(d.labels))))));
}
