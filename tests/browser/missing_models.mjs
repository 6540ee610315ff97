// Loads a workflow on a server that lacks its model files and prints, as one JSON line,
// the models the front end finds missing, with the download links it offers.
//   node missing_models.mjs <server url> <workflow.json>
import { readFileSync } from "node:fs";

import { launch, openApp, waitForApp } from "./browser.mjs";

const [url, path] = process.argv.slice(2);
const browser = await launch();
const report = {};
try {
  const page = await openApp(browser, url, { width: 1400, height: 1000 });
  await waitForApp(page, url);
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
