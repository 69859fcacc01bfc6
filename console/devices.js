// The devices view: search, filters, total, per-connectivity counts, keyset paging,
// sorting of the page shown, live updates.

import { api, orgUrl } from "./api.js";
import { connectivityBadge, debounce, h, labelChips, labelFilters, notice, number, show, statusBadge } from "./format.js";

const PAGE = 25;
const FILTERS = ["q", "platform", "status", "connectivity", "label"];
const CONNECTIVITY = ["online", "stale", "offline"];
/** The columns the table sorts by. The API lists in registration order (keyset pages) and
 * has no sort parameter, so a sort orders the rows of the page shown, not the whole fleet. */
const SORTS = {
  device: { label: "Device", key: (d) => d.device_identifier ?? "" },
  platform: { label: "Platform", key: (d) => d.platform ?? "" },
  status: { label: "Status", key: (d) => d.status ?? "" },
  last_seen: { label: "Connectivity · last seen", key: (d) => (d.last_seen_at ? Date.parse(d.last_seen_at) : -Infinity) },
};
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

export async function render(view, _parts, params, { stream, refreshClock }) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ""]));
  let after = params.get("after") ?? "";
  // `sort=device` (ascending) or `sort=-device` (descending); unknown columns are ignored.
  let sort = parseSort(params.get("sort"));
  let shownDevices = [];
  let total = 0;
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
  function go(cursor, reload = true) {
    after = cursor;
    const next = new URLSearchParams();
    for (const name of FILTERS) if (filters[name]) next.set(name, filters[name]);
    if (after) next.set("after", after);
    if (sort) next.set("sort", `${sort.descending ? "-" : ""}${sort.column}`);
    history.replaceState(null, "", `#/devices${next.toString() ? `?${next}` : ""}`);
    if (reload) load();
  }
  for (const control of form.querySelectorAll("select")) control.addEventListener("change", apply);
  const typed = debounce(apply, 500);
  for (const control of form.querySelectorAll("input")) control.addEventListener("input", typed);

  const summary = h("p", { class: "summary", "aria-live": "polite" });
  const counts = h("div", { class: "counts", role: "group", "aria-label": "Devices by connectivity" });
  const table = h("div", { class: "table-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const message = h("div");
  const refresh = h("button", { type: "button", class: "quiet", onclick: () => load() }, "Refresh");
  view.append(h("div", { class: "view-head" }, h("h1", {}, "Devices"), refresh), form, message, counts, summary, table, pager);

  async function load() {
    // "3 min ago" by the server's clock, which a test may have moved.
    await refreshClock();
    const query = {
      q: filters.q, platform: filters.platform, status: filters.status, connectivity: filters.connectivity,
      label: labelFilters(filters.label), after, limit: PAGE,
    };
    // The counts take every filter but connectivity: how the devices matching the rest
    // split, each a button that filters by it.
    const counted = Promise.all(CONNECTIVITY.map((c) =>
      api("GET", orgUrl("/api/v1/devices", { ...query, connectivity: c, after: "", limit: 1 })).then((p) => p.total)))
      .catch(() => null);
    let page;
    try {
      page = await api("GET", orgUrl("/api/v1/devices", query));
    } catch (error) {
      show(message, notice(error.message, "error"));
      return;
    }
    show(message);
    showCounts(await counted);
    const shown = page.devices.length;
    total = page.total;
    shownDevices = page.devices;
    showTable();
    const last = page.devices.at(-1)?.id;
    show(pager,
      after ? h("button", { type: "button", class: "quiet", onclick: () => go(previous.pop() ?? "") }, "← Previous") : null,
      shown === PAGE ? h("button", { type: "button", class: "quiet", onclick: () => { previous.push(after); go(last); } }, "Next →") : null);
  }

  function showCounts(totals) {
    if (!totals) { show(counts); return; }
    show(counts, CONNECTIVITY.map((c, i) => {
      const pressed = filters.connectivity === c;
      return h("button", { type: "button", class: `count ${c}`, "aria-pressed": String(pressed), dataset: { connectivity: c },
        title: pressed ? "Show every connectivity" : `Show only the ${c} devices`,
        onclick: () => { form.elements.connectivity.value = pressed ? "" : c; apply(); } },
      h("span", { class: `badge ${c}` }, c), " ", h("strong", {}, number(totals[i])));
    }));
  }

  function showTable() {
    const shown = shownDevices.length;
    show(summary, `${number(total)} ${total === 1 ? "device" : "devices"}`,
      shown && total > shown ? ` · showing ${number(shown)}` : "",
      FILTERS.some((f) => filters[f]) ? " matching the filters" : "",
      sort && total > shown ? ` · sorted by ${SORTS[sort.column].label.toLowerCase()} within this page` : "");
    if (!shownDevices.length) { show(table, h("p", { class: "empty" }, "No devices match.")); return; }
    show(table, deviceTable(sorted(shownDevices, sort), sort, (column) => {
      sort = sort?.column === column && !sort.descending ? { column, descending: true }
        : sort?.column === column ? null : { column, descending: false };
      go(after, false);
      showTable();
      table.querySelector(`th[data-sort="${column}"] button`)?.focus();
    }));
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

function parseSort(text) {
  const column = String(text ?? "").replace(/^-/, "");
  return SORTS[column] ? { column, descending: String(text).startsWith("-") } : null;
}

/** The page's devices in `sort`'s order (registration order without one, and for ties). */
function sorted(devices, sort) {
  if (!sort) return devices;
  const { key } = SORTS[sort.column];
  const sign = sort.descending ? -1 : 1;
  const compare = (a, b) => (typeof a === "number" ? (a > b) - (a < b) : collator.compare(a, b));
  return devices.map((d, i) => [d, i])
    .sort(([a, i], [b, j]) => sign * compare(key(a), key(b)) || i - j)
    .map(([d]) => d);
}

function deviceTable(devices, sort, onSort) {
  const heading = (column) => {
    const active = sort?.column === column;
    const direction = active ? (sort.descending ? "descending" : "ascending") : "none";
    return h("th", { scope: "col", "aria-sort": direction, dataset: { sort: column } },
      h("button", { type: "button", class: "sort", title: `Sort this page by ${SORTS[column].label.toLowerCase()}`,
        onclick: () => onSort(column) },
      SORTS[column].label, h("span", { class: "arrow", "aria-hidden": "true" }, active ? (sort.descending ? " ▼" : " ▲") : "")));
  };
  return h("table", { class: "devices" },
    h("thead", {}, h("tr", {}, Object.keys(SORTS).map(heading), h("th", { scope: "col" }, "Labels"))),
    h("tbody", {}, devices.map((d) => h("tr", { dataset: { device: d.device_identifier } },
      h("td", {}, h("a", { href: `#/devices/${encodeURIComponent(d.id)}` }, d.device_identifier)),
      h("td", {}, d.platform),
      h("td", {}, statusBadge(d.status)),
      h("td", {}, connectivityBadge(d.connectivity, d.last_seen_at)),
      h("td", {}, labelChips(d.labels))))));
}
