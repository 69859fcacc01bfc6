import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { once } from "node:events";

const DEVREG = process.env.DEVREG_BIN ?? "devreg";
let server;
let devreg; // { url, org_id, secret_key, publishable_key }

before(async () => {
  // stdin stays a pipe: if this process dies, devreg sees it close and exits.
  // Its stderr is the test's: devreg's warnings and errors show with the test output,
  // its line per request does not (RUST_LOG=info, or DEVREG_LOG_LEVEL, shows them too).
  server = spawn(DEVREG, ["serve", "--ephemeral", "--exit-on-stdin-close"], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  const [line] = await once(createInterface({ input: server.stdout }), "line");
  devreg = JSON.parse(line);
});

after(async () => {
  server.stdin.end();
  await once(server, "exit");
});

test("a device registers and heartbeats", async () => {
  const registered = await fetch(`${devreg.url}/api/v1/devices/register`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${devreg.publishable_key}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ device_identifier: "node-device", platform: "browser" }),
  });
  assert.equal(registered.status, 201);
  const device = await registered.json();

  const beat = await fetch(`${devreg.url}/api/v1/devices/${device.id}/heartbeat`, {
    method: "PUT",
    headers: { authorization: `Bearer ${device.api_key}` },
    body: JSON.stringify({ metrics: { battery_pct: 90 } }),
  });
  assert.equal(beat.status, 200);
  assert.equal((await beat.json()).acknowledged, true);
});

test("reset empties the org again", async () => {
  const reset = await fetch(`${devreg.url}/_devreg/reset?org_id=${devreg.org_id}`, {
    method: "POST",
  });
  assert.equal(reset.status, 200);
  const list = await fetch(`${devreg.url}/api/v1/devices?org_id=${devreg.org_id}`, {
    headers: { authorization: `Bearer ${devreg.secret_key}` },
  });
  assert.equal((await list.json()).total, 0);
});
