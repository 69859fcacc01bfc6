// One device: its fields, capabilities, metadata, latest metrics, labels (editable),
// the desired and observed version of each model, recent events, and the actions
// re-key and delete.

import { api, ApiError, orgUrl } from "./api.js";
import { confirm, connectivityBadge, debounce, h, keyValues, notice, show, statusBadge, time } from "./format.js";

export async function render(view, parts, _params, context) {
  const reference = parts[1];
  const head = h("div", { class: "view-head" });
  const message = h("div", { "aria-live": "polite" });
  const body = h("div", { class: "device" });
  view.append(h("p", {}, h("a", { href: "#/devices" }, "← Devices")), head, message, body);

  let device;
  async function load() {
    try {
      device = await api("GET", `/api/v1/devices/${encodeURIComponent(reference)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        show(head, h("h1", {}, "No such device"));
        show(body, h("p", {}, "It was deleted, or it belongs to another org."));
        return false;
      }
      throw error;
    }
    draw();
    return true;
  }

  function draw() {
    show(head,
      h("h1", {}, device.device_identifier ?? device.device_id),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "rekey", onclick: rekey }, "Re-key"),
        h("button", { type: "button", id: "delete", class: "danger", onclick: remove }, "Delete")));
    const sections = [
      section("Device", fields(device)),
      section("Labels", labelsEditor()),
      section("Latest metrics", keyValues(device.metrics)),
      section("Capabilities", keyValues(device.capabilities)),
      section("Metadata", keyValues(device.metadata)),
    ];
    sections.push(section("Models", modelsBox));
    sections.push(section("Recent events", eventsBox));
    show(body, sections);
  }

  function fields(d) {
    const rows = [
      ["Identifier", h("code", {}, d.device_identifier)],
      ["id", h("code", {}, d.id)],
      ["Platform", d.platform],
      ["Status", statusBadge(d.status)],
      ["Connectivity", connectivityBadge(d.connectivity, d.last_heartbeat)],
      ["Registered", time(d.created_at)],
      ["Updated", time(d.updated_at)],
      ["Org", d.org_id],
    ];
    if (d.desired_state_version !== undefined) rows.push(["Desired state version", String(d.desired_state_version)]);
    return h("dl", { class: "fields" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  function labelsEditor() {
    const rows = h("tbody");
    const addRow = (key = "", value = "") => {
      const row = h("tr", {},
        h("td", {}, h("input", { class: "label-key", value: key, "aria-label": "Label key", placeholder: "key", spellcheck: "false" })),
        h("td", {}, h("input", { class: "label-value", value, "aria-label": "Label value", placeholder: "value", spellcheck: "false" })),
        h("td", {}, h("button", { type: "button", class: "quiet", "aria-label": `Remove label ${key}`, onclick: () => row.remove() }, "Remove")));
      rows.append(row);
      return row;
    };
    for (const [k, v] of Object.entries(device.labels ?? {})) addRow(k, v);
    const status = h("span", { class: "muted", "aria-live": "polite" });
    const form = h("form", { class: "labels", onsubmit: async (event) => {
      event.preventDefault();
      const labels = {};
      for (const row of rows.children) {
        const key = row.querySelector(".label-key").value.trim();
        if (key) labels[key] = row.querySelector(".label-value").value;
      }
      try {
        await api("PATCH", `/api/v1/devices/${encodeURIComponent(device.id)}`, { labels });
        show(message, notice("Labels saved.", "ok"));
        await load();
      } catch (error) {
        show(status, notice(error.message, "error"));
      }
    } },
      h("table", { class: "kv" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Value"), h("th"))), rows),
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "quiet", id: "add-label", onclick: () => addRow().querySelector("input").focus() }, "Add label"),
        h("button", { type: "submit", id: "save-labels" }, "Save labels"), status));
    return form;
  }

  async function rekey() {
    const ok = await confirm("Issue a new key?",
      `A new device key for ${device.device_identifier}. Its current key stops working at once: the device must be given the new one.`,
      "Issue new key");
    if (!ok) return;
    try {
      const issued = await api("POST", `/api/v1/devices/${encodeURIComponent(device.id)}/keys`, {});
      const key = issued.api_key ?? issued.access_token;
      const copied = h("span", { class: "muted", "aria-live": "polite" });
      const field = h("input", { id: "new-key", readonly: true, value: key, "aria-label": "The new device key", spellcheck: "false" });
      show(message, h("div", { class: "notice ok new-key", role: "status" },
        h("p", {}, h("strong", {}, "New device key. "), "It is shown this once: copy it now."),
        h("div", { class: "copy" }, field,
          h("button", { type: "button", id: "copy-key", onclick: async () => {
            try { await navigator.clipboard.writeText(key); copied.textContent = "Copied."; } catch {
              field.select(); copied.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
            }
          } }, "Copy"), copied)));
      field.focus();
      field.select();
    } catch (error) {
      show(message, notice(error.message, "error"));
    }
  }

  async function remove() {
    const ok = await confirm("Delete this device?",
      `${device.device_identifier} and everything of it (keys, labels, telemetry, state) are removed. This cannot be undone.`,
      "Delete device");
    if (!ok) return;
    try {
      await api("DELETE", `/api/v1/devices/${encodeURIComponent(device.id)}`);
      context.flash = { text: `Deleted ${device.device_identifier}.`, kind: "ok" };
      location.hash = "#/devices";
    } catch (error) {
      show(message, notice(error.message, "error"));
    }
  }

  // Desired and observed versions per model. The device's detail carries only what it
  // reported (observed_state), never a desired state, so the page used to show "Desired:
  // none" whatever was deployed. The desired version comes from the registry's per-model
  // resolve, a read: fetching the desired-state route would count as the device's sync.
  const modelsBox = h("div", { class: "table-wrap" });
  async function loadModels() {
    try {
      const { models } = await api("GET", "/api/v1/models");
      const desired = new Map();
      for (const m of models) {
        if (!m.versions.length) continue;
        const resolved = await api("GET",
          `/api/v1/devices/${encodeURIComponent(device.id)}/models/${encodeURIComponent(m.model_id)}/version`);
        if (resolved.source === "deployment") desired.set(m.model_id, resolved);
      }
      const observed = new Map((device.observed_state?.models ?? []).map((o) => [o.model_id, o]));
      const ids = [...new Set([...desired.keys(), ...observed.keys()])].sort();
      show(modelsBox, ids.length ? h("table", { class: "device-models" },
        h("thead", {}, h("tr", {}, ["Model", "Desired", "Installed", "Active", "Status"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, ids.map((id) => {
          const want = desired.get(id);
          const have = observed.get(id);
          return h("tr", { "data-model": id },
            h("td", {}, h("code", {}, id)),
            h("td", { class: "desired" }, want
              ? [h("code", {}, want.version), " ", h("span", { class: "muted", title: want.deployment_id }, "deployed")]
              : h("span", { class: "muted" }, "none")),
            h("td", { class: "installed" }, have?.installed_version ?? h("span", { class: "muted" }, "—")),
            h("td", { class: "active" }, have?.active_version ?? h("span", { class: "muted" }, "—")),
            h("td", {}, have ? statusBadge(have.status) : h("span", { class: "muted" }, "not reported")));
        })))
        : h("p", { class: "muted" }, "No model is deployed to this device, and it has reported none."));
    } catch (error) {
      show(modelsBox, h("p", { class: "muted" }, `Models could not be read: ${error.message}`));
    }
  }

  const eventsBox = h("div", { class: "table-wrap" });
  const seen = new Map();
  function drawEvents() {
    const list = [...seen.values()].sort((a, b) => b.seq - a.seq).slice(0, 50);
    show(eventsBox, list.length ? h("table", { class: "events" },
      h("thead", {}, h("tr", {}, ["#", "Type", "When", "Data"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, list.map((e) => h("tr", {}, h("td", {}, String(e.seq)), h("td", {}, h("code", {}, e.type)),
        h("td", {}, time(e.at)), h("td", {}, h("code", { class: "data" }, JSON.stringify(e.data ?? {})))))))
      : h("p", { class: "muted" }, "No events."));
  }
  async function loadEvents() {
    try {
      let after = 0;
      for (let i = 0; i < 10; i++) {
        const page = await api("GET", orgUrl("/api/v1/events", { device_id: device.id, after, limit: 500 }));
        const events = page.events ?? [];
        for (const e of events) seen.set(e.seq, e);
        if (events.length < 500) break;
        after = events.at(-1).seq;
      }
      drawEvents();
    } catch (error) {
      show(eventsBox, h("p", { class: "muted" }, error instanceof ApiError && error.status === 404
        ? "This devreg keeps no event log." : `Events could not be read: ${error.message}`));
    }
  }

  if (!(await load())) return null;
  await loadModels();
  await loadEvents();
  context.refreshClock();
  const reload = debounce(async () => { if (await load()) { drawEvents(); await loadModels(); } }, 250);
  const unsubscribe = context.stream.subscribe((event) => {
    if (String(event.type).startsWith("deployment.") || String(event.type).startsWith("model.")) { reload(); return; }
    if (event.device_id !== device.id) return;
    seen.set(event.seq, event);
    if (event.type === "device.deleted") {
      show(message, notice("This device was deleted.", "error"));
      drawEvents();
      return;
    }
    reload();
  });
  return unsubscribe;
}

function section(title, content) {
  return h("section", { class: "card" }, h("h2", {}, title), content);
}
