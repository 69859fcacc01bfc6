// Building the page safely (text is always text, never HTML) and formatting numbers and
// times for people: "3 min ago", with the exact time on hover.

/** An element: `h("a", {href: "#/x", class: "c"}, "text", child, ...)`. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `node` shows. */
export function show(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

// How far the server's clock runs ahead of this browser's (a test clock moves it).
let skewMs = 0;
export function setServerSkew(seconds) { skewMs = (Number(seconds) || 0) * 1000; }
export function serverNow() { return Date.now() + skewMs; }

const numberFormat = new Intl.NumberFormat();
export function number(n) { return typeof n === "number" ? numberFormat.format(n) : String(n ?? "—"); }

/** "just now", "3 min ago", "2 h ago", "5 days ago" (or "in 3 min"). */
export function ago(iso) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "—";
  const seconds = Math.round((serverNow() - then) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  let text;
  if (s < 45) return future ? "in a moment" : "just now";
  if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 86400) text = `${Math.round(s / 3600)} h`;
  else if (s < 86400 * 60) text = `${Math.round(s / 86400)} days`;
  else return exact(iso);
  return future ? `in ${text}` : `${text} ago`;
}

export function exact(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString(undefined, {
    dateStyle: "medium", timeStyle: "medium",
  }) + ` (${iso})`;
}

/** A <time> that says how long ago, with the exact time on hover; kept current. */
export function time(iso, never = "never") {
  if (!iso) return h("span", { class: "muted" }, never);
  return h("time", { datetime: iso, title: exact(iso), dataset: { ago: "" } }, ago(iso));
}

setInterval(() => {
  for (const node of document.querySelectorAll("time[data-ago]")) node.textContent = ago(node.dateTime);
}, 15000);

/** The connectivity badge: online, stale, offline (or unknown before the server says). */
export function connectivityBadge(connectivity, lastSeen) {
  const state = connectivity ?? "unknown";
  return h("span", { class: "connectivity" },
    h("span", { class: `badge ${state}` }, state),
    " ", time(lastSeen, "never seen"));
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status ?? "—");
}

/** A label as the device list's filter takes it: `key:value` (the key alone when empty). */
export function labelText(key, value) { return value === "" ? key : `${key}:${value}`; }

/** The label filter's text as the API's `label` values: space-separated, each `key:value`,
 * `key=value` (as labels are often written) or a key alone. */
export function labelFilters(text) {
  return String(text ?? "").split(/\s+/).filter(Boolean).map((t) => t.replace("=", ":"));
}

/** A duration in milliseconds for people: 3 significant digits at most, never a raw
 * float (`118.99370200000001` shows as `119 ms`). */
export function milliseconds(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "? ms";
  const digits = ms >= 100 ? 0 : ms >= 10 ? 1 : 2;
  return `${ms.toFixed(digits)} ms`;
}

/** Label chips, `key:value`, as the label filter takes them. */
export function labelChips(labels) {
  const entries = Object.entries(labels ?? {});
  if (!entries.length) return h("span", { class: "muted" }, "—");
  return h("span", { class: "chips" },
    entries.map(([k, v]) => h("span", { class: "chip" }, labelText(k, v))));
}

/** A JSON value as a readable block, or "none". */
export function jsonBlock(value) {
  if (value === undefined || value === null) return h("p", { class: "muted" }, "none");
  if (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0) {
    return h("p", { class: "muted" }, "empty");
  }
  return h("pre", { class: "json", tabindex: "0" }, JSON.stringify(value, null, 2));
}

/** A flat object as a two-column table, nested values as JSON. */
export function keyValues(value) {
  if (!value || typeof value !== "object" || Array.isArray(value)) return jsonBlock(value);
  const entries = Object.entries(value);
  if (!entries.length) return h("p", { class: "muted" }, "empty");
  return h("table", { class: "kv" }, h("tbody", {}, entries.map(([k, v]) => h("tr", {},
    h("th", { scope: "row" }, k),
    h("td", {}, typeof v === "object" && v !== null ? h("code", {}, JSON.stringify(v)) : String(v))))));
}

/** A message for the person, in the view's message area. */
export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Runs `fn` at most once per `ms`, after the calls stop. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

const confirmDialog = () => document.getElementById("confirm");
/** Asks before anything destructive; resolves true only on the confirm button. */
export function confirm(title, text, action) {
  const dialog = confirmDialog();
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-text").textContent = text;
  dialog.querySelector("#confirm-ok").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}
