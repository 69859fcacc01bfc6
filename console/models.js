// Models: each model's versions (format, size, digest, files) and which deployments use
// each version, with their rollout counts.

import { api } from "./api.js";
import { debounce, h, notice, number, show, statusBadge, time } from "./format.js";

export async function render(view, _parts, _params, { stream }) {
  const message = h("div", { "aria-live": "polite" });
  const list = h("div", { class: "models" });
  view.append(h("div", { class: "view-head" }, h("h1", {}, "Models")), message, list);

  async function load() {
    const { models } = await api("GET", "/api/v1/models");
    if (!models.length) {
      show(list, h("p", { class: "empty" }, "No models yet. Add one with POST /api/v1/models or `devreg model add`."));
      return;
    }
    const cards = [];
    for (const model of models) {
      let deployments = [];
      try {
        ({ deployments } = await api("GET", `/api/v1/models/${encodeURIComponent(model.model_id)}/deployments`));
      } catch (error) {
        show(message, notice(`Could not read the deployments of ${model.model_id}: ${error.message}`, "error"));
      }
      cards.push(modelCard(model, deployments));
    }
    show(list, cards);
  }

  await load();
  const reload = debounce(load, 250);
  return stream.subscribe((event) => {
    const type = String(event.type);
    if (type.startsWith("model.") || type.startsWith("deployment.") || type === "device.observed_state_changed") reload();
  });
}

function modelCard(model, deployments) {
  const versions = [...model.versions].reverse();
  const title = model.name && model.name !== model.model_id
    ? [model.name, " ", h("code", { class: "muted" }, model.model_id)]
    : h("code", {}, model.model_id);
  return h("section", { class: "card model", "data-model": model.model_id },
    h("h2", {}, title),
    h("p", { class: "muted" }, `${number(versions.length)} ${versions.length === 1 ? "version" : "versions"} · added `, time(model.created_at)),
    versions.length ? h("div", { class: "table-wrap" }, h("table", { class: "versions" },
      h("thead", {}, h("tr", {}, ["Version", "Format", "Size", "SHA-256", "Files", "Deployments", "Added"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, versions.map((v) => h("tr", { "data-version": v.version },
        h("td", {}, h("code", {}, v.version)),
        h("td", {}, v.format),
        h("td", { title: `${number(v.total_bytes)} bytes` }, bytes(v.total_bytes)),
        h("td", {}, h("code", { title: v.sha256 }, `${v.sha256.slice(0, 12)}…`)),
        h("td", {}, files(v.files)),
        h("td", {}, uses(deployments.filter((d) => d.version === v.version))),
        h("td", {}, time(v.created_at)))))))
      : h("p", { class: "empty" }, "No versions yet."));
}

/** A version's files, path and size each; "—" for a manifest without a files list. */
function files(list) {
  if (!list?.length) return h("span", { class: "muted" }, "—");
  return h("ul", { class: "files" }, list.map((f) => h("li", {},
    h("code", { title: f.sha256 }, f.path), ` ${bytes(f.size)}`)));
}

/** The deployments of one version: status and rollout counts. */
function uses(list) {
  if (!list.length) return h("span", { class: "muted" }, "none");
  return h("ul", { class: "deployments" }, list.map((d) => h("li", { "data-deployment": d.id },
    statusBadge(d.status), " ", h("code", { title: d.id }, d.id.slice(0, 8)),
    ` targeted ${number(d.targeted)} · synced ${number(d.synced)} · active ${number(d.active)} · failed ${number(d.failed)}`)));
}

/** Bytes in the largest unit that keeps the number at least 1. */
export function bytes(n) {
  if (typeof n !== "number") return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
