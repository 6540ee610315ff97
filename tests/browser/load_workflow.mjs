// Loads a saved workflow in the real ComfyUI front end (Debian chromium) and prints, as
// one JSON line, the API prompt it would queue and its links' types after loading.
//   node load_workflow.mjs <server url> <workflow.json>
import { readFileSync } from "node:fs";

import { launch, openApp, waitForApp } from "./browser.mjs";

const [url, path] = process.argv.slice(2);
const workflow = JSON.parse(readFileSync(path, "utf8"));
const browser = await launch();
const errors = [];
try {
  const page = await openApp(browser, url, { width: 1400, height: 1200 });
  page.on("pageerror", (err) => errors.push(String(err)));
  await waitForApp(page, url);
  const result = await page.evaluate(async (graph) => {
    const { app } = window;
    await app.loadGraphData(graph);
    const prompt = await app.graphToPrompt();
    const links = app.graph.serialize().links.map((l) => (Array.isArray(l) ? l[5] : l.type));
    return { output: prompt.output, linkTypes: links };
  }, workflow);
  console.log(JSON.stringify({ ...result, errors }));
} finally {
  await browser.close();
}
