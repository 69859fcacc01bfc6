// Talking to devreg: the session (the org's secret key, in this tab's sessionStorage
// only), JSON calls that carry it, and the event stream read with fetch() because
// EventSource cannot send an Authorization header.

const KEY = "devreg.console.key";
const ORG = "devreg.console.org";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get org() { return sessionStorage.getItem(ORG); },
  signIn(key, org) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ORG, org); },
  signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ORG); },
};

/** A refused call: its status and devreg's error body (`error`, `message`, ...). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `devreg answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

const unauthorizedListeners = new Set();
/** Calls `listener` whenever devreg refuses the session's key (401). */
export function onUnauthorized(listener) { unauthorizedListeners.add(listener); }

/** A JSON call with the session's key (or `key`). */
export async function api(method, path, body, { key = session.key } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let data = null;
  try { data = await response.json(); } catch { /* no JSON body */ }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && key === session.key) unauthorizedListeners.forEach((l) => l(error));
    throw error;
  }
  return data;
}

/** `path` with a query string of the params that are set; arrays repeat their name. */
export function url(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== "") query.append(name, v);
    }
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** `path` with the session's org, which every list needs. */
export function orgUrl(path, params = {}) {
  return url(path, { org_id: session.org, ...params });
}

/** Parses Server-Sent Events out of a byte stream: calls `onEvent({id, event, data})`. */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = { id: null, event: "message", data: [] };
      for (const line of block.split("\n")) {
        if (line === "" || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "id") message.id = text;
        else if (field === "event") message.event = text;
        else if (field === "data") message.data.push(text);
      }
      if (message.data.length || message.id !== null) onEvent({ ...message, data: message.data.join("\n") });
    }
  }
}

/**
 * The org's event stream, followed for as long as the tab is signed in: reconnects
 * after a drop, resuming from the last seq seen (Last-Event-ID), so nothing is skipped or
 * repeated. Listeners get each event (`{seq, type, device_id, at, data, ...}`);
 * status listeners get "live", "connecting" or "unavailable".
 */
export class EventStream {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.lastId = null;
    this.controller = null;
    this.status = "connecting";
  }

  subscribe(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }
  onStatus(listener) { this.statusListeners.add(listener); listener(this.status); }

  setStatus(status) {
    this.status = status;
    this.statusListeners.forEach((l) => l(status));
  }

  start() {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    this.run(controller.signal);
  }

  stop() {
    this.controller?.abort();
    this.controller = null;
  }

  async run(signal) {
    let wait = 1000;
    while (!signal.aborted) {
      try {
        const headers = { Accept: "text/event-stream", Authorization: `Bearer ${session.key}` };
        if (this.lastId !== null) headers["Last-Event-ID"] = this.lastId;
        const response = await fetch(orgUrl("/api/v1/events/stream"), { headers, signal });
        if (response.status === 404 || response.status === 405) {
          this.setStatus("unavailable");
          wait = 30000;
        } else if (response.ok && response.body) {
          this.setStatus("live");
          wait = 1000;
          await readEvents(response.body, (message) => {
            if (message.id !== null) this.lastId = message.id;
            let event;
            try { event = JSON.parse(message.data); } catch { return; }
            if (typeof event !== "object" || event === null) return;
            event.type ??= message.event;
            this.listeners.forEach((l) => l(event));
          });
          this.setStatus("connecting");
        } else if (response.status === 410) {
          // The resume point fell out of the retained log: start again from what is kept.
          this.lastId = null;
          wait = 0;
        } else {
          if (response.status === 401) {
            unauthorizedListeners.forEach((l) => l(new ApiError(401, null)));
            return;
          }
          this.setStatus("connecting");
        }
      } catch (error) {
        if (signal.aborted) return;
        this.setStatus("connecting");
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 30000);
    }
  }
}
