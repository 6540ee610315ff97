// Opens each example workflow in the real front end (Debian chromium) and prints, as one
// JSON line, every node's box on the canvas after load (title included), the pairs of
// boxes that overlap, whether the slot editor's add button and slot headers are in view
// without scrolling, and a screenshot per workflow.
//   node example_layout.mjs <server url> <vue: on|off> <screenshot dir> <workflow.json>...
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";

import { launch, openApp, setVueNodes, waitForApp } from "./browser.mjs";

const [url, vue, shots, ...paths] = process.argv.slice(2);
await setVueNodes(url, vue === "on");
const browser = await launch();
const report = { workflows: {}, errors: [] };
try {
  const page = await openApp(browser, url, { width: 1800, height: 1100 });
  page.on("pageerror", (err) => report.errors.push(String(err)));
  await waitForApp(page, url);
  for (const path of paths) {
    const workflow = JSON.parse(readFileSync(path, "utf8"));
    await page.evaluate((graph) => window.app.loadGraphData(graph), workflow);
    await page.waitForTimeout(1500);  // DOM widgets and Vue nodes settle their sizes
    const result = await page.evaluate(() => {
      const { app } = window;
      const title = window.LiteGraph.NODE_TITLE_HEIGHT ?? 30;
      const scale = app.canvas.ds.scale;
      const boxes = app.graph.nodes.map((node) => {
        const [x, y] = node.pos;
        let [w, h] = node.size;
        // Nodes 2.0 draws nodes as DOM elements sized by their content.
        const dom = document.querySelector(`[data-node-id="${node.id}"]`)?.getBoundingClientRect();
        if (dom) {
          w = Math.max(w, dom.width / scale);
          h = Math.max(h, dom.height / scale - title);
        }
        const min = node.computeSize?.() ?? [w, h];
        return { id: node.id, type: node.type, box: [x, y - title, w, h + title],
          min: [Math.round(min[0]), Math.round(min[1])] };
      });
      const overlaps = [];
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i].box, boxes[j].box];
          const dx = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
          const dy = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
          if (dx > 1 && dy > 1) overlaps.push([boxes[i].type, boxes[j].type, dx, dy]);
        }
      }
      // The slot editor: its add button and headers inside every scrolling ancestor.
      const hidden = [];
      let headers = 0;
      for (const root of document.querySelectorAll(".newbie-slots")) {
        headers += root.querySelectorAll(".newbie-slot > header").length;
        const wanted = [...root.querySelectorAll("button")].filter((b) =>
          /add character/i.test(b.textContent)).concat(
          [...root.querySelectorAll(".newbie-slot > header")]);
        for (const el of wanted) {
          const rect = el.getBoundingClientRect();
          // Up to the node's own box (its DOM widget or its Nodes 2.0 element): the
          // canvas around it may clip what is off screen, which is not the node's fault.
          for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
            const style = getComputedStyle(p);
            const outer = p.getBoundingClientRect();
            if (/(auto|scroll|hidden)/.test(style.overflowY)
                && (rect.top < outer.top - 1 || rect.bottom > outer.bottom + 1)) {
              hidden.push(el.textContent.trim().slice(0, 30));
              break;
            }
            if (p.matches(".dom-widget, [data-node-id]")) break;
          }
        }
      }
      const bounds = boxes.reduce((acc, { box }) => [Math.min(acc[0], box[0]),
        Math.min(acc[1], box[1]), Math.max(acc[2], box[0] + box[2]),
        Math.max(acc[3], box[1] + box[3])], [Infinity, Infinity, -Infinity, -Infinity]);
      return { boxes, overlaps, hidden, bounds, headers,
        editors: document.querySelectorAll(".newbie-slots").length };
    });
    const ds = await page.evaluate((bounds) => {  // fit the graph for the screenshot
      const canvas = window.app.canvas;
      const [x0, y0, x1, y1] = bounds;
      const scale = Math.min(1600 / (x1 - x0 + 80), 1000 / (y1 - y0 + 80), 1);
      canvas.ds.scale = scale;
      canvas.ds.offset = [-x0 + 140 / scale, -y0 + 60 / scale];
      canvas.setDirty(true, true);
      return scale;
    }, result.bounds);
    await page.waitForTimeout(800);
    const shot = join(shots, `${basename(path, ".json")}_${vue}.png`);
    await page.screenshot({ path: shot });
    report.workflows[basename(path, ".json")] = { ...result, scale: ds, screenshot: shot };
  }
} catch (err) {
  report.failure = String(err.stack || err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
