// Loads a saved workflow in the real ComfyUI front end (Debian chromium) and prints, as
// one JSON line, the API prompt it would queue and its links' types after loading.
//   node load_workflow.mjs <server url> <workflow.json>
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(`${process.env.NODE_MODULES}/`);
const { chromium } = require("playwright-core");

const [url, path] = process.argv.slice(2);
const workflow = JSON.parse(readFileSync(path, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
  page.on("pageerror", (err) => errors.push(String(err)));
  await page.route("**/*", (route) => {
    const target = new URL(route.request().url());
    const local = ["127.0.0.1", "localhost"].includes(target.hostname);
    return local || ["data:", "blob:"].includes(target.protocol) ? route.continue() : route.abort();
  });
  await page.goto(url);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph, null, { timeout: 60000 });
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
