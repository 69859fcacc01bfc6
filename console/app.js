// The console's shell: sign-in, navigation between views (in the URL's #fragment, so
// reload and the back button work), the live-stream indicator, sign-out.

import { api, ApiError, EventStream, onUnauthorized, session, url } from "./api.js";
import { h, notice, setServerSkew, show } from "./format.js";
import * as devices from "./devices.js";
import * as device from "./device.js";
import * as rounds from "./rounds.js";
import * as experiments from "./experiments.js";
import * as events from "./events.js";
import * as journal from "./journal.js";
import * as models from "./models.js";

const view = document.getElementById("view");
const stream = new EventStream();
const context = { stream, ephemeral: false, flash: null, refreshClock };
let cleanup = null;
let signInMessage = null;
let rendered = false;

/** Which view a #fragment shows: `#/devices/abc?x=1` → devices/abc with its params. */
function route() {
  const fragment = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = fragment.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

const VIEWS = [
  { section: "devices", match: (p) => p.length === 1 && p[0] === "devices", view: devices },
  { section: "devices", match: (p) => p.length === 2 && p[0] === "devices", view: device },
  { section: "rounds", match: (p) => p[0] === "rounds" && p.length <= 2, view: rounds },
  { section: "experiments", match: (p) => p[0] === "experiments" && p.length <= 2, view: experiments },
  { section: "events", match: (p) => p.length === 1 && p[0] === "events", view: events },
  { section: "requests", match: (p) => p.length === 1 && p[0] === "requests", view: journal },
  { section: "models", match: (p) => p.length === 1 && p[0] === "models", view: models },
];

async function render() {
  cleanup?.();
  cleanup = null;
  if (!session.key) return renderSignIn();
  const { parts, params } = route();
  const found = VIEWS.find((v) => v.match(parts));
  if (!found) { location.replace("#/devices"); return; }
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.section === found.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  show(view);
  const flash = context.flash;
  context.flash = null;
  if (flash) view.append(notice(flash.text, flash.kind));
  // A new view takes the focus, so the keyboard starts from its content (not on first
  // load, where the page's top is the start).
  if (rendered) view.focus({ preventScroll: true });
  rendered = true;
  try {
    cleanup = (await found.view.render(view, parts, params, context)) ?? null;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      view.append(notice(`Could not show this page: ${error.message}`, "error"));
    }
  }
}

function chrome(signedIn) {
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  document.getElementById("live").hidden = !signedIn;
  const who = document.getElementById("who");
  who.hidden = !signedIn;
  who.textContent = signedIn ? session.org : "";
  document.getElementById("nav-requests").hidden = !(signedIn && context.ephemeral);
}

function renderSignIn() {
  chrome(false);
  const message = h("div", { id: "sign-in-message", "aria-live": "polite" },
    signInMessage ? notice(signInMessage, "error") : null);
  signInMessage = null;
  const key = h("input", { id: "key", name: "key", type: "password", required: true,
    autocomplete: "off", spellcheck: "false", placeholder: "edg_live_…" });
  const org = h("input", { id: "org", name: "org", required: true, value: "org_demo",
    autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "sign-in card", onsubmit: async (event) => {
    event.preventDefault();
    show(message);
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await signIn(key.value.trim(), org.value.trim());
    } catch (error) {
      show(message, notice(signInError(error, key.value.trim()), "error"));
      key.focus();
    } finally {
      button.disabled = false;
    }
  } },
    h("h1", {}, "Sign in to the devreg console"),
    h("p", {}, "With your org's secret key. It stays in this tab only (session storage) and is forgotten when you sign out or close the tab."),
    h("label", { for: "key" }, "Secret key"), key,
    h("label", { for: "org" }, "Org"), org,
    message,
    h("button", { type: "submit" }, "Sign in"));
  show(view, form);
  key.focus();
}

function signInError(error, key) {
  if (!(error instanceof ApiError)) return `devreg could not be reached: ${error.message}`;
  if (error.status === 401) return "That key was not accepted: devreg does not know it, or it was revoked. Check it and try again.";
  if (error.status === 403 && key.startsWith("oct_pub_")) return "That is a publishable key. The console needs the org's secret key (edg_live_…).";
  if (error.status === 403 && key.startsWith("edg_dev_")) return "That is a device key. The console needs the org's secret key (edg_live_…).";
  return error.message;
}

async function signIn(key, org) {
  // Any call that needs the secret key tells whether this one is: 401 unknown, 403 not
  // a secret key or another org.
  await api("GET", url("/api/v1/devices", { org_id: org, limit: 1 }), undefined, { key });
  session.signIn(key, org);
  startSession();
  if (!route().parts.length) location.hash = "#/devices";
  else render();
}

let probe = null;
/**
 * Whether the server is ephemeral, as `/healthz` says (asked once per load), and, only on
 * an ephemeral server, how far its test clock is ahead: a server without test control is
 * never asked for `/_devreg/clock`.
 */
async function refreshClock() {
  probe ??= api("GET", "/healthz", undefined, { key: null })
    .then((health) => health?.ephemeral === true, () => false);
  context.ephemeral = await probe;
  if (context.ephemeral) {
    try {
      const clock = await api("GET", "/_devreg/clock", undefined, { key: null });
      setServerSkew(clock.offset_seconds);
    } catch {
      // The skew stays what it was; the next page load asks again.
    }
  }
  chrome(Boolean(session.key));
}

function startSession() {
  chrome(true);
  stream.start();
  refreshClock();
}

function signOut(message) {
  stream.stop();
  session.signOut();
  signInMessage = message ?? null;
  location.hash = "";
  render();
}

stream.onStatus((status) => {
  const live = document.getElementById("live");
  live.className = `live ${status}`;
  live.textContent = { live: "Live", connecting: "Reconnecting…", unavailable: "No live updates" }[status];
  live.title = {
    live: "Following the event stream: changes appear as they happen.",
    connecting: "The event stream dropped; reconnecting, resuming where it left off.",
    unavailable: "This devreg has no event stream; pages refresh on a timer.",
  }[status];
});

onUnauthorized(() => signOut("devreg no longer accepts this key (revoked?). Sign in again."));
document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", render);

if (session.key) startSession();
else refreshClock();
render();
