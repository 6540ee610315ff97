// Loads a workflow on a server that lacks its model files and prints, as one JSON line,
// the models the front end finds missing, with the download links it offers.
//   node missing_models.mjs <server url> <workflow.json>
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(`${process.env.NODE_MODULES}/`);
const { chromium } = require("playwright-core");

const [url, path] = process.argv.slice(2);
await fetch(`${url}/settings/Comfy.Workflow.ShowMissingModelsWarning`,
  { method: "POST", body: "true" });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
const report = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.route("**/*", (route) => {
    const target = new URL(route.request().url());
    const local = ["127.0.0.1", "localhost"].includes(target.hostname);
    return local || ["data:", "blob:"].includes(target.protocol) ? route.continue() : route.abort();
  });
  await page.goto(url);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 60000 });
  const workflow = JSON.parse(readFileSync(path, "utf8"));
  await page.evaluate((graph) => window.app.loadGraphData(graph), workflow);
  await page.waitForTimeout(1500);
  // The front end's own missing-model check (1.58: a store behind its errors panel).
  report.missing = await page.evaluate(async () => {
    const result = await window.app.refreshMissingModels?.({ silent: true });
    return result ? result.missingModels : null;
  });
} catch (err) {
  report.failure = String(err.stack || err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
