// Browser tests of the devreg console: Debian's chromium driven by playwright-core (no
// browser download), against a `devreg serve --ephemeral` this file starts itself.
//
//   cargo build --bin devreg && cd tests/browser && npm ci && npm test
//   npm run screenshots      # also rewrites docs/images/console-*.png
//
// DEVREG_BIN names the binary (default: target/debug/devreg); CHROMIUM the browser
// (default: /usr/bin/chromium).

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { createInterface } from "node:readline";
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = process.env.DEVREG_BIN ?? path.join(root, "target/debug/devreg");
const screenshots = process.env.DEVREG_SCREENSHOTS === "1";

let server, devreg, browser, page;

/** Starts an ephemeral devreg and reads its ready line (url, org_id, secret_key, ...). */
async function startDevreg() {
  const child = spawn(bin, ["serve", "--ephemeral", "--exit-on-stdin-close"], {
    stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" },
  });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("devreg printed no ready line in 30 s")), 30000);
    child.once("exit", (code) => reject(new Error(`devreg exited with ${code} before it was ready`)));
    lines.once("line", (line) => { clearTimeout(timer); resolve(JSON.parse(line)); });
  });
  return { child, ...ready };
}

/**
 * Starts a devreg that is not ephemeral, over a database file in a new temporary
 * directory: its banner (stdout) gives the key, its log line (stderr) the address.
 */
async function startStoredDevreg() {
  const dir = await mkdtemp(path.join(os.tmpdir(), "devreg-console-"));
  const child = spawn(bin, ["serve", "--db", path.join(dir, "devreg.db"), "--bind", "127.0.0.1:0", "--exit-on-stdin-close"], {
    stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "info" },
  });
  let secret = null, url = null;
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("devreg serve --db printed no key and address in 30 s")), 30000);
    child.once("exit", (code) => reject(new Error(`devreg serve --db exited with ${code} before it was ready`)));
    const check = () => { if (secret && url) { clearTimeout(timer); resolve(); } };
    createInterface({ input: child.stdout }).on("line", (line) => {
      secret ??= line.match(/secret key:\s+(\S+)/)?.[1] ?? null;
      check();
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      url ??= line.match(/listening on (http:\/\/\S+)/)?.[1] ?? null;
      check();
    });
  });
  const stop = async () => {
    child.stdin.end();
    child.kill();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, url, secret_key: secret, stop };
}

/** A call to devreg's API with the org's secret key (or `key`). */
async function call(method, url, body, key = devreg.secret_key) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(devreg.url + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, body: json };
}

async function register(deviceId, extra = {}) {
  const reply = await call("POST", "/api/v1/devices/register", { device_id: deviceId, platform: "android", ...extra });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  return reply.body;
}

async function heartbeat(device, key = device.api_key, metrics = {}) {
  return call("PUT", `/api/v1/devices/${device.id}/heartbeat`, { status: "active", metrics }, key);
}


/** A page signed in as the org (the key put where the console keeps it). */
async function signedInPage() {
  await page.goto(`${devreg.url}/console`);
  await page.evaluate(({ key, org }) => {
    sessionStorage.setItem("devreg.console.key", key);
    sessionStorage.setItem("devreg.console.org", org);
  }, { key: devreg.secret_key, org: devreg.org_id });
  await page.goto(`${devreg.url}/console#/devices`);
  await page.reload();
  await page.getByRole("heading", { name: "Devices" }).waitFor();
}

const row = (identifier) => page.locator(`tr[data-device="${identifier}"]`);

// Started before the tests are declared, once for all of them.
devreg = await startDevreg();
server = devreg.child;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  server?.stdin.end();
  server?.kill();
});

describe("the devreg console", () => {
  const errors = [];
  beforeEach(async () => {
    await page?.context().close();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: devreg.url }).catch(() => {});
    page = await context.newPage();
    page.setDefaultTimeout(10000);
    // A console that breaks its own Content-Security-Policy or throws says so here.
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    page.on("pageerror", (e) => errors.push(String(e)));
  });
  after(() => {
    const real = errors.filter((e) => !/status of (401|403|404)/.test(e));
    assert.deepEqual(real, [], "the console logged errors");
  });

  test("a wrong key is refused with a message, the right one signs in, sign-out forgets it", async () => {
    await page.goto(`${devreg.url}/`);
    assert.match(page.url(), /\/console$/);
    await page.getByLabel("Secret key").fill("edg_live_notarealkeynotarealkey00");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That key was not accepted").waitFor();

    await page.getByLabel("Secret key").fill(devreg.publishable_key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That is a publishable key").waitFor();

    await page.getByLabel("Secret key").fill(devreg.secret_key);
    await page.getByLabel("Secret key").press("Enter");
    await page.getByRole("heading", { name: "Devices" }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("devreg.console.key")), devreg.secret_key);
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("devreg.console.key")), null);
  });

  test("the sign-in page shows no navigation and no Sign out until signed in", async () => {
    await page.goto(`${devreg.url}/console`);
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    for (const chrome of ["#nav", "#sign-out", "#live", "#who"]) {
      assert.equal(await page.locator(chrome).isVisible(), false, `${chrome} is hidden before signing in`);
    }

    await page.getByLabel("Secret key").fill(devreg.secret_key);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Devices" }).waitFor();
    await page.locator("#nav").waitFor({ state: "visible" });
    await page.getByRole("button", { name: "Sign out" }).waitFor({ state: "visible" });

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.locator("#nav").waitFor({ state: "hidden" });
    await page.locator("#sign-out").waitFor({ state: "hidden" });
  });

  test("a server that is not ephemeral is never asked for its test clock; an ephemeral one is", async () => {
    const asked = [];
    page.on("request", (request) => {
      const { origin, pathname } = new URL(request.url());
      if (pathname.startsWith("/_devreg/")) asked.push(`${origin}${pathname}`);
    });
    const stored = await startStoredDevreg();
    try {
      await page.goto(`${stored.url}/console`);
      await page.getByLabel("Secret key").fill(stored.secret_key);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: "Devices" }).waitFor();
      await page.getByText("No devices match.").waitFor();
      await page.reload();
      await page.getByRole("heading", { name: "Devices" }).waitFor();
      await page.getByText("No devices match.").waitFor();
      // Each load of the list reads the clock first where there is one.
      const listed = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/v1/devices");
      await page.getByRole("button", { name: "Refresh" }).click();
      await listed;
      assert.equal(await page.locator("#nav-requests").isVisible(), false, "no Requests page without a journal");
      assert.deepEqual(asked, [], "the console of a server without test control asked for it");
    } finally {
      await stored.stop();
    }

    await signedInPage();
    await page.waitForFunction(() => !document.getElementById("nav-requests").hidden);
    assert.ok(asked.includes(`${devreg.url}/_devreg/clock`), `the ephemeral server's clock was read: ${asked.join(", ")}`);
  });

  test("a device registered through the API is found by searching, and a new one appears live", async () => {
    await register("find-me-001");
    await register("someone-else-001");
    await signedInPage();

    await page.getByLabel("Search").fill("find-me");
    await page.getByLabel("Search").press("Enter");
    await row("find-me-001").waitFor();
    await row("someone-else-001").waitFor({ state: "detached" });
    await page.getByText(/^1 device/).waitFor();
    await page.getByText("Live", { exact: true }).waitFor();
    await register("find-me-002");
    await row("find-me-002").waitFor();
  });

  test("filtering by label shows only the devices that carry it", async () => {
    await register("label-canary-1", { labels: { ring: "canary", site: "lab" } });
    await register("label-stable-1", { labels: { ring: "stable" } });
    await signedInPage();

    await page.getByLabel("Label").fill("ring:canary");
    await page.getByLabel("Label").press("Enter");

    await row("label-canary-1").waitFor();
    await row("label-stable-1").waitFor({ state: "detached" });
    await row("label-canary-1").getByText("ring:canary").waitFor();
  });

  test("a device turns offline once the test clock passes its heartbeat interval", async () => {
    const device = await register("clock-watch-1");
    assert.equal((await heartbeat(device)).status, 200);
    await signedInPage();
    await page.getByLabel("Search").fill("clock-watch");
    await page.getByLabel("Search").press("Enter");
    await row("clock-watch-1").locator(".badge.online").waitFor();

    assert.equal((await call("POST", "/_devreg/clock", { advance_seconds: 3600 })).status, 200);
    // Live: the server announces the change on the stream; no Refresh.
    await row("clock-watch-1").locator(".badge.offline").waitFor({ timeout: 5000 });
    await row("clock-watch-1").getByText("1 h ago").waitFor();
  });

  test("the device list counts the devices by connectivity, and a count filters by it", async () => {
    const stale = await register("split-stale-1");
    const online = await register("split-online-1");
    await register("split-offline-1");
    assert.equal((await heartbeat(stale)).status, 200);
    // Five minutes on: past 2 heartbeat intervals (stale), not yet 10 (offline).
    assert.equal((await call("POST", "/_devreg/clock", { advance_seconds: 300 })).status, 200);
    assert.equal((await heartbeat(online)).status, 200);
    await signedInPage();
    await page.getByLabel("Search").fill("split-");
    await page.getByLabel("Search").press("Enter");
    await row("split-offline-1").waitFor();

    const count = (c) => page.locator(`.counts button[data-connectivity="${c}"]`);
    for (const c of ["online", "stale", "offline"]) await count(c).filter({ hasText: new RegExp(`^${c} 1$`) }).waitFor();

    await count("stale").click();
    await row("split-online-1").waitFor({ state: "detached" });
    await row("split-offline-1").waitFor({ state: "detached" });
    await row("split-stale-1").locator(".badge.stale").waitFor();
    assert.match(page.url(), /connectivity=stale/);
    assert.equal(await count("stale").getAttribute("aria-pressed"), "true");
    assert.equal(await page.getByLabel("Connectivity", { exact: true }).inputValue(), "stale");
    // The counts keep counting every connectivity while one is shown.
    await count("online").filter({ hasText: /^online 1$/ }).waitFor();

    await count("stale").click();
    await row("split-online-1").waitFor();
    await row("split-offline-1").waitFor();
    assert.doesNotMatch(page.url(), /connectivity=/);
  });

  test("the device table sorts the page shown by a column, and the URL keeps the order", async () => {
    await register("sort-b", { platform: "linux" });
    await register("sort-c", { platform: "android" });
    await register("sort-a", { platform: "ios" });
    await signedInPage();
    await page.getByLabel("Search").fill("sort-");
    await page.getByLabel("Search").press("Enter");
    await row("sort-a").waitFor();
    const order = (expected) => page.waitForFunction((want) =>
      [...document.querySelectorAll("table.devices tbody tr")].map((r) => r.dataset.device).join() === want, expected.join());

    await order(["sort-b", "sort-c", "sort-a"]); // registration order, as the API lists
    await page.getByRole("button", { name: "Device", exact: true }).click();
    await order(["sort-a", "sort-b", "sort-c"]);
    assert.equal(await page.locator('th[data-sort="device"]').getAttribute("aria-sort"), "ascending");
    await page.getByRole("button", { name: "Device", exact: true }).click();
    await order(["sort-c", "sort-b", "sort-a"]);
    assert.equal(await page.locator('th[data-sort="device"]').getAttribute("aria-sort"), "descending");
    assert.match(page.url(), /sort=-device/);

    await page.reload();
    await order(["sort-c", "sort-b", "sort-a"]);
    await page.getByRole("button", { name: "Platform", exact: true }).click();
    await order(["sort-c", "sort-a", "sort-b"]); // android, ios, linux
    assert.match(page.url(), /sort=platform/);
  });

  test("re-keying a device shows the new key once, and only the new key works", async () => {
    const device = await register("rekey-me-1");
    await signedInPage();
    await page.goto(`${devreg.url}/console#/devices/${device.id}`);
    await page.getByRole("heading", { name: "rekey-me-1" }).waitFor();

    await page.getByRole("button", { name: "Re-key" }).click();
    await page.getByRole("dialog").getByText("Its current key stops working").waitFor();
    await page.getByRole("button", { name: "Issue new key" }).click();
    const newKey = await page.locator("#new-key").inputValue();
    assert.match(newKey, /^edg_dev_/);
    await page.getByRole("button", { name: "Copy" }).click();
    await page.getByText(/Copied|Selected/).waitFor();

    assert.equal((await heartbeat(device, newKey)).status, 200, "the new key works");
    assert.equal((await heartbeat(device, device.api_key)).status, 401, "the old key is revoked");
  });

  test("deleting a device asks first, then removes it", async () => {
    const device = await register("delete-me-1");
    await signedInPage();
    await page.goto(`${devreg.url}/console#/devices/${device.id}`);
    await page.getByRole("heading", { name: "delete-me-1" }).waitFor();

    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Cancel" }).click();
    assert.equal((await call("GET", `/api/v1/devices/${device.id}`)).status, 200, "cancel keeps it");

    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Delete device" }).click();
    await page.getByText("Deleted delete-me-1.").waitFor();
    assert.equal((await call("GET", `/api/v1/devices/${device.id}`)).status, 404);
    await row("delete-me-1").waitFor({ state: "detached" });
  });

  test("a request appears in the journal with its bodies", async () => {
    await signedInPage();
    await page.getByRole("link", { name: "Requests" }).click();
    await page.getByRole("heading", { name: "Requests" }).waitFor();

    await register("journal-probe-1");

    // The entry whose (still folded) bodies name the device.
    const entry = page.locator("details.request", { hasText: "journal-probe-1" })
      .filter({ hasText: "/api/v1/devices/register" }).filter({ hasText: "201" });
    await entry.waitFor();
    await entry.locator("summary").click();
    await entry.getByText("journal-probe-1").first().waitFor();
  });

  test("the device page shows fields, metrics and events; a phone-sized window still reads", async () => {
    const fleet = [
      ["pixel-8-0142", "android", { ring: "canary", site: "berlin" }, { battery_pct: 81, network_type: "wifi" }],
      ["iphone-15-0077", "ios", { ring: "stable", site: "lisbon" }, { battery_pct: 56, thermal_state: "nominal" }],
      ["jetson-orin-03", "edge", { ring: "canary", site: "lab" }, { gpu_temp_c: 61, available_memory_mb: 5120 }],
      ["macbook-ml-11", "macos", { ring: "stable" }, null],
      ["rpi5-kiosk-21", "linux", { site: "berlin" }, { cpu_usage_percent: 17.5 }],
    ];
    const made = [];
    for (const [id, platform, l, metrics] of fleet) {
      const device = await register(id, {
        platform, capabilities: { npu: platform !== "linux", max_model_mb: 512 },
        os_version: "15.1", sdk_version: "4.17.42", labels: l,
      });
      if (metrics) await heartbeat(device, device.api_key, metrics);
      made.push(device);
    }
    await signedInPage();
    await row("pixel-8-0142").waitFor();
    if (screenshots) await page.screenshot({ path: path.join(root, "docs/images/console-devices.png") });

    await row("pixel-8-0142").getByRole("link").click();
    await page.getByRole("heading", { name: "pixel-8-0142" }).waitFor();
    await page.getByRole("heading", { name: "Latest metrics" }).waitFor();
    await page.getByText("battery_pct").waitFor();
    await page.getByText("sdk_version").waitFor();
    await page.locator("table.events").getByText("device.registered").waitFor();
    if (screenshots) await page.screenshot({ path: path.join(root, "docs/images/console-device.png"), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the device page scrolls sideways by ${overflow}px at phone width`);
    await page.goto(`${devreg.url}/console#/devices`);
    await row("pixel-8-0142").waitFor();
    const listOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(listOverflow <= 1, `the devices page scrolls sideways by ${listOverflow}px at phone width`);
  });

  test("the devices table pages by keyset, forward and back, with the total", async () => {
    for (let i = 0; i < 30; i++) await register(`page-${String(i).padStart(2, "0")}`);
    const total = (await call("GET", `/api/v1/devices?org_id=${devreg.org_id}&limit=1`)).body.total;
    await signedInPage();
    await page.getByText(new RegExp(`^${total} devices`)).waitFor();
    const firstPage = await page.locator("tbody tr").first().getAttribute("data-device");

    await page.getByRole("button", { name: "Next →" }).click();
    await page.waitForFunction((first) => document.querySelector("tbody tr")?.dataset.device !== first, firstPage);
    assert.match(page.url(), /after=/);
    await page.getByRole("button", { name: "← Previous" }).click();
    await page.waitForFunction((first) => document.querySelector("tbody tr")?.dataset.device === first, firstPage);
  });

  test("rounds can be started from the console and show their progress", async () => {
    await signedInPage();
    await page.getByRole("link", { name: "Rounds" }).click();
    await page.getByLabel("Model").fill("keyboard-next-word-v3");
    await page.getByLabel("Min devices").fill("3");
    await page.getByRole("button", { name: "Start round" }).click();
    await page.getByText(/Started round \d+/).waitFor();
    await page.getByRole("cell", { name: "0 of 3" }).first().waitFor();

    await page.locator("table.rounds a").first().click();
    await page.getByRole("heading", { name: /Round #\d+/ }).waitFor();
    await page.getByRole("button", { name: "Complete" }).click();
    await page.getByRole("button", { name: "Complete round" }).click();
    await page.locator(".badge.status-completed").waitFor();
    await page.getByRole("heading", { name: "Result" }).waitFor();
  });

  test("the models page shows versions and the deployments using them; a device page shows its desired and observed versions", async () => {
    const sha = "ab".repeat(32);
    assert.equal((await call("POST", "/api/v1/models", { model_id: "kbd-console", name: "Keyboard" })).status, 201);
    const version = await call("POST", "/api/v1/models/kbd-console/versions", {
      version: "3.1.0", format: "onnx", total_bytes: 5242880, sha256: sha,
      download_url: "https://cdn.example.com/kbd/3.1.0/model.onnx",
      files: [{ path: "model.onnx", size: 5242880, sha256: sha }],
    });
    assert.equal(version.status, 201, JSON.stringify(version.body));
    const device = await register("pixel-models-1");
    const deployment = await call("POST", "/api/v1/deployments", { model_id: "kbd-console", version: "3.1.0", target: { devices: ["pixel-models-1"] } });
    assert.equal(deployment.status, 201, JSON.stringify(deployment.body));
    const observed = await call("POST", `/api/v1/devices/${device.id}/observed-state`, {
      schemaVersion: "1.4.0", deviceId: device.id, reportedAt: new Date().toISOString(),
      models: [{ modelId: "kbd-console", status: "ACTIVE", installedVersion: "3.1.0", activeVersion: "3.1.0" }],
    }, device.api_key);
    assert.equal(observed.status, 200, JSON.stringify(observed.body));

    await signedInPage();
    await page.getByRole("link", { name: "Models" }).click();
    const versionRow = page.locator('section[data-model="kbd-console"] tr[data-version="3.1.0"]');
    await versionRow.waitFor();
    await versionRow.getByText("5.0 MiB").first().waitFor();
    await versionRow.getByText(`${sha.slice(0, 12)}…`).waitFor();
    await versionRow.getByText("model.onnx").waitFor();
    await versionRow.locator(`li[data-deployment="${deployment.body.id}"]`).getByText("targeted 1 · synced 0 · active 1 · failed 0").waitFor();

    await page.goto(`${devreg.url}/console#/devices/${device.id}`);
    const modelRow = page.locator('table.device-models tr[data-model="kbd-console"]');
    await modelRow.locator("td.desired").getByText("3.1.0").waitFor();
    await modelRow.locator("td.active").getByText("3.1.0").waitFor();
  });

  test("the keyboard reaches sign-in, the navigation and the filters", async () => {
    await page.goto(`${devreg.url}/console`);
    await page.keyboard.type(devreg.secret_key); // the key field has the focus
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Devices" }).waitFor();
    // Signing in moves the focus to the view; from there Tab reaches the filters.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Refresh");
    // From the top of the page: the skip link, the navigation, sign-out, then the view.
    await page.reload();
    await page.getByRole("heading", { name: "Devices" }).waitFor();
    const reached = new Set();
    for (let i = 0; i < 15; i++) {
      await page.keyboard.press("Tab");
      reached.add(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim()));
    }
    for (const stop of ["Skip to content", "Devices", "Rounds", "Events", "nav-requests", "sign-out", "filter-q", "filter-label"]) {
      assert.ok(reached.has(stop), `Tab reaches ${stop}: ${[...reached].join(", ")}`);
    }
  });
});
