// Training rounds: the list, a form to start one, and a round's progress and result.

import { api, ApiError, orgUrl } from "./api.js";
import { confirm, debounce, h, jsonBlock, notice, number, show, statusBadge, time } from "./format.js";

export async function render(view, parts, _params, context) {
  return parts.length === 2 ? renderRound(view, parts[1], context) : renderList(view, context);
}

async function renderList(view, { stream }) {
  const message = h("div", { "aria-live": "polite" });
  const table = h("div", { class: "table-wrap" });
  const model = h("input", { id: "round-model", name: "model_id", placeholder: "keyboard-next-word-v3", spellcheck: "false" });
  const platforms = h("input", { id: "round-platforms", name: "platforms", placeholder: "ios android (empty: all)", spellcheck: "false" });
  const minDevices = h("input", { id: "round-min", name: "min_devices", type: "number", min: "1", placeholder: "10" });
  const form = h("form", { class: "filters start-round", onsubmit: async (event) => {
    event.preventDefault();
    const body = {};
    if (model.value.trim()) body.model_id = model.value.trim();
    const list = platforms.value.split(/[\s,]+/).filter(Boolean);
    if (list.length) body.platforms = list;
    if (minDevices.value) body.min_devices = Number(minDevices.value);
    try {
      const round = await api("POST", "/api/v1/training/rounds", body);
      show(message, notice(`Started round ${round.number}.`, "ok"));
      form.reset();
      await load();
    } catch (error) {
      show(message, notice(error.message, "error"));
    }
  } },
    h("div", { class: "field" }, h("label", { for: "round-model" }, "Model"), model),
    h("div", { class: "field" }, h("label", { for: "round-platforms" }, "Platforms"), platforms),
    h("div", { class: "field" }, h("label", { for: "round-min" }, "Min devices"), minDevices),
    h("div", { class: "field buttons" }, h("button", { type: "submit" }, "Start round")));
  view.append(h("div", { class: "view-head" }, h("h1", {}, "Training rounds")),
    h("section", { class: "card" }, h("h2", {}, "Start a round"), form), message, table);

  async function load() {
    const { rounds } = await api("GET", orgUrl("/api/v1/training/rounds", { limit: 100 }));
    show(table, rounds.length ? h("table", { class: "rounds" },
      h("thead", {}, h("tr", {}, ["Round", "Model", "Platforms", "Status", "Participants", "Started"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, [...rounds].reverse().map((r) => h("tr", {},
        h("td", {}, h("a", { href: `#/rounds/${encodeURIComponent(r.id)}` }, `#${r.number}`)),
        h("td", {}, r.model_id ?? h("span", { class: "muted" }, "—")),
        h("td", {}, r.platforms?.length ? r.platforms.join(", ") : "all"),
        h("td", {}, statusBadge(r.status)),
        h("td", {}, progress(r)),
        h("td", {}, time(r.created_at))))))
      : h("p", { class: "empty" }, "No rounds yet."));
  }
  await load();
  const reload = debounce(load, 250);
  return stream.subscribe((event) => { if (String(event.type).startsWith("round.")) reload(); });
}

/** "3 of 10" participants, with updates received where the server counts them. */
function progress(round) {
  const joined = round.participant_count ?? 0;
  const parts = [round.min_devices ? `${number(joined)} of ${number(round.min_devices)}` : number(joined)];
  const updates = round.updates_received ?? round.update_count;
  if (updates !== undefined) parts.push(` · ${number(updates)} updates`);
  return parts.join("");
}

async function renderRound(view, reference, { stream }) {
  const head = h("div", { class: "view-head" });
  const message = h("div", { "aria-live": "polite" });
  const body = h("div");
  view.append(h("p", {}, h("a", { href: "#/rounds" }, "← Rounds")), head, message, body);

  let round;
  async function load() {
    try {
      round = await api("GET", `/api/v1/training/rounds/${encodeURIComponent(reference)}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        show(head, h("h1", {}, "No such round"));
        return;
      }
      throw error;
    }
    const active = round.status === "active";
    show(head, h("h1", {}, `Round #${round.number}`),
      active ? h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => end("complete") }, "Complete"),
        h("button", { type: "button", class: "danger", onclick: () => end("cancel") }, "Cancel round")) : null);
    const joined = round.participant_count ?? 0;
    const meter = round.min_devices
      ? h("progress", { max: String(round.min_devices), value: String(Math.min(joined, round.min_devices)), "aria-label": "Participants of the minimum" })
      : null;
    const rows = [
      ["Status", statusBadge(round.status)],
      ["Model", round.model_id ?? "—"],
      ["Platforms", round.platforms?.length ? round.platforms.join(", ") : "all"],
      ["Participants", [progress(round), " ", meter]],
      ["Started", time(round.created_at)],
      ["Ended", time(round.ended_at, "still running")],
    ];
    show(body, h("section", { class: "card" }, h("dl", { class: "fields" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      round.status === "completed" ? await result() : null);
  }

  async function result() {
    try {
      const r = await api("GET", `/api/v1/training/rounds/${encodeURIComponent(round.id)}/result`);
      return h("section", { class: "card" }, h("h2", {}, "Result"),
        h("dl", { class: "fields" },
          h("dt", {}, "Algorithm"), h("dd", {}, r.algorithm ?? "—"),
          h("dt", {}, "Participants"), h("dd", {}, number(r.participants)),
          h("dt", {}, "Samples"), h("dd", {}, number(r.sample_count))),
        h("h3", {}, "Aggregate"), jsonBlock(r.aggregate));
    } catch (error) {
      const why = error instanceof ApiError && error.status === 404
        ? "No aggregated result for this round (no updates were aggregated, or this devreg does not aggregate)."
        : `The result could not be read: ${error.message}`;
      return h("section", { class: "card" }, h("h2", {}, "Result"), h("p", { class: "muted" }, why));
    }
  }

  async function end(action) {
    const ok = await confirm(action === "cancel" ? "Cancel this round?" : "Complete this round?",
      action === "cancel" ? "The round ends without a result." : "The round ends now with the updates it has.",
      action === "cancel" ? "Cancel round" : "Complete round");
    if (!ok) return;
    try {
      await api("POST", `/api/v1/training/rounds/${encodeURIComponent(round.id)}/${action}`, {});
      await load();
    } catch (error) {
      show(message, notice(error.message, "error"));
    }
  }

  await load();
  const reload = debounce(load, 250);
  return stream.subscribe((event) => {
    if (String(event.type).startsWith("round.") && (!round || event.data?.round_id === round.id || event.data?.id === round.id || !event.data)) reload();
  });
}
