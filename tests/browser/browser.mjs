// What every browser script shares: Debian chromium headless, pages that may reach the
// test server only (loopback, data: and blob: URLs), and the Nodes 2.0 setting.
import { createRequire } from "node:module";

// playwright-core lives in the test host's cache (NODE_MODULES), not in the checkout.
const require = createRequire(`${process.env.NODE_MODULES}/`);
const { chromium } = require("playwright-core");

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

// A page on the server's front end, once its app and graph are up; requests anywhere
// else are aborted (and passed to `offLoopback` when given).
export async function openApp(browser, url, viewport, offLoopback = null) {
  const page = await browser.newPage({ viewport });
  await page.route("**/*", (route) => {
    const target = new URL(route.request().url());
    const local = ["127.0.0.1", "localhost"].includes(target.hostname);
    if (local || ["data:", "blob:"].includes(target.protocol)) return route.continue();
    offLoopback?.push(target.href);
    return route.abort();
  });
  return page;
}

export async function waitForApp(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 60000 });
}

// The Nodes 2.0 renderer is a user setting: set on the server before the page loads.
export async function setVueNodes(url, on) {
  const setting = await fetch(`${url}/settings/Comfy.VueNodes.Enabled`,
    { method: "POST", body: JSON.stringify(on) });
  if (!setting.ok) throw new Error(`setting Comfy.VueNodes.Enabled: HTTP ${setting.status}`);
}
