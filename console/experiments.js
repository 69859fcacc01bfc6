// Experiments (A/B tests): the list, and an experiment's variants with their results
// per variant and its lifecycle buttons. Experiments are created through the API (the
// Python SDK's ExperimentsAPI, or POST /api/v1/experiments).

import { api, ApiError, orgUrl } from "./api.js";
import { confirm, debounce, h, notice, number, show, statusBadge, time } from "./format.js";

export async function render(view, parts, _params, context) {
  return parts.length === 2 ? renderExperiment(view, parts[1], context) : renderList(view, context);
}

/** "control 50% (1.0.0) · treatment 50% (2.0.0)" */
function shares(experiment) {
  return experiment.variants.map((v) => `${v.name} ${v.traffic_percentage}% (${v.model_version})`).join(" · ");
}

async function renderList(view, { stream }) {
  const table = h("div", { class: "table-wrap" });
  view.append(h("div", { class: "view-head" }, h("h1", {}, "Experiments")), table);
  async function load() {
    const list = await api("GET", orgUrl("/api/v1/experiments", { limit: 1000 }));
    const items = Array.isArray(list) ? list : list.experiments;
    show(table, items.length ? h("table", { class: "experiments" },
      h("thead", {}, h("tr", {}, ["Experiment", "Model", "Status", "Variants", "Created"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, [...items].reverse().map((e) => h("tr", {},
        h("td", {}, h("a", { href: `#/experiments/${encodeURIComponent(e.id)}` }, e.name)),
        h("td", {}, e.model_id),
        h("td", {}, statusBadge(e.status)),
        h("td", {}, shares(e)),
        h("td", {}, time(e.created_at))))))
      : h("p", { class: "empty" }, "No experiments yet. Create one with POST /api/v1/experiments (docs/api.md, \"Experiments\")."));
  }
  await load();
  const reload = debounce(load, 250);
  return stream.subscribe((event) => { if (String(event.type).startsWith("experiment.")) reload(); });
}

const STEPS = {
  draft: [["start", "Start"], ["cancel", "Cancel experiment"]],
  active: [["pause", "Pause"], ["complete", "Complete"], ["cancel", "Cancel experiment"]],
  paused: [["resume", "Resume"], ["complete", "Complete"], ["cancel", "Cancel experiment"]],
};

async function renderExperiment(view, reference, { stream }) {
  const head = h("div", { class: "view-head" });
  const message = h("div", { "aria-live": "polite" });
  const body = h("div");
  view.append(h("p", {}, h("a", { href: "#/experiments" }, "← Experiments")), head, message, body);

  let experiment;
  async function load() {
    let results;
    try {
      results = await api("GET", `/api/v1/experiments/${encodeURIComponent(reference)}/results`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        show(head, h("h1", {}, "No such experiment"));
        return;
      }
      throw error;
    }
    experiment = results.experiment;
    const steps = STEPS[experiment.status] ?? [];
    show(head, h("h1", {}, experiment.name),
      steps.length ? h("div", { class: "actions" }, steps.map(([action, label]) =>
        h("button", { type: "button", class: action === "cancel" ? "danger" : null, onclick: () => step(action, label) }, label))) : null);
    const rows = [
      ["Status", statusBadge(experiment.status)],
      ["Model", experiment.model_id],
      ["Primary metric", experiment.primary_metric ?? "—"],
      ["Created", time(experiment.created_at)],
      ["Changed", time(experiment.updated_at)],
    ];
    const metricNames = [...new Set(results.variants.flatMap((v) => Object.keys(v.metrics)))].sort();
    show(body,
      h("section", { class: "card" }, h("dl", { class: "fields" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      h("section", { class: "card" }, h("h2", {}, "Results per variant"),
        h("div", { class: "table-wrap" }, h("table", { class: "experiment-results" },
          h("thead", {}, h("tr", {}, ["Variant", "Version", "Share", "Assigned devices", "Reporting devices", "Reports",
            ...metricNames.map((m) => `Mean ${m}`)].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, results.variants.map((v) => h("tr", {},
            h("td", {}, v.name ?? h("span", { class: "muted" }, "in no variant")),
            h("td", {}, v.model_version ?? "—"),
            h("td", {}, v.traffic_percentage === null ? "—" : `${v.traffic_percentage}%`),
            h("td", {}, number(v.assigned_devices)),
            h("td", {}, number(v.devices)),
            h("td", {}, number(v.events)),
            metricNames.map((m) => h("td", {}, v.metrics[m]
              ? `${v.metrics[m].mean.toPrecision(4)} (n=${number(v.metrics[m].count)})` : "—")))))))));
  }

  async function step(action, label) {
    const ok = await confirm(`${label}?`, `The experiment "${experiment.name}" will ${action}.`, label);
    if (!ok) return;
    try {
      await api("POST", `/api/v1/experiments/${encodeURIComponent(experiment.id)}/${action}`, {});
      await load();
    } catch (error) {
      show(message, notice(error.message, "error"));
    }
  }

  await load();
  const reload = debounce(load, 250);
  return stream.subscribe((event) => {
    if (String(event.type).startsWith("experiment.") && (!experiment || event.data?.experiment_id === experiment.id)) reload();
  });
}
