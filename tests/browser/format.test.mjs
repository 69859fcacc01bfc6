// The console's formatting functions (console/format.js), in Node without a browser: what
// the Requests page shows for a duration, and how labels are shown and filtered.
import assert from "node:assert/strict";
import { test } from "node:test";

// format.js refreshes its "ago" texts on a timer, which would keep Node running: stubbed.
globalThis.setInterval = () => 0;
const { labelFilters, labelText, milliseconds } = await import("../../console/format.js");

test("a duration shows at most three significant digits, never a raw float", () => {
  assert.equal(milliseconds(118.99370200000001), "119 ms");
  assert.equal(milliseconds(12.3456), "12.3 ms");
  assert.equal(milliseconds(0.4567), "0.46 ms");
  assert.equal(milliseconds(undefined), "? ms");
});

test("labels show as the filter takes them, and the filter takes key=value too", () => {
  assert.equal(labelText("ring", "beta"), "ring:beta");
  assert.equal(labelText("canary", ""), "canary");
  assert.deepEqual(labelFilters(" ring=beta  site:s1 canary "), ["ring:beta", "site:s1", "canary"]);
  assert.deepEqual(labelFilters("url=a=b"), ["url:a=b"]);
});
