// Drives the real ComfyUI front end in Debian chromium through the slot editor and
// prints one JSON object with what it saw. Run by tests/test_widget_browser.py:
//   node widget_flow.mjs <server url> <screenshot path> <vue: on|off>
import { readFileSync } from "node:fs";
import { launch, openApp, setVueNodes } from "./browser.mjs";

const [url, screenshot, vue = "off"] = process.argv.slice(2);
const report = { pageErrors: [], offLoopback: [], steps: {} };

await setVueNodes(url, vue === "on");
const browser = await launch();
try {
  // Tall: under the Nodes 2.0 renderer the node grows with its slots and a click needs it in view.
  const page = await openApp(browser, url, { width: 1400, height: 2400 }, report.offLoopback);
  page.on("pageerror", (err) => report.pageErrors.push(String(err)));
  // Queue the graph with a PreviewAny after NewBie XML Prompt; the text it shows.
  const runXmlPrompt = (x) => page.evaluate(async (x) => {
    const { app, LiteGraph } = window;
    const api = window.comfyAPI.api.api;
    const node = app.graph.nodes.find((n) => n.type === "NewBieXMLPrompt");
    const show = LiteGraph.createNode("PreviewAny");
    show.pos = [x, 60];
    app.graph.add(show);
    node.connect(0, show, 0);
    const done = new Promise((resolve) => api.addEventListener("executed", (e) => {
      if (String(e.detail.node) === String(show.id)) resolve(e.detail.output.text[0]);
    }));
    await app.queuePrompt(0, 1);
    return await Promise.race([done, new Promise((r) => setTimeout(() => r("timeout"), 60000))]);
  }, x);
  await page.goto(url);
  await page.waitForFunction(() => window.app?.graph && window.LiteGraph &&
    window.app.extensions?.some((e) => e.name === "NewBie.CharacterSlots"), null, { timeout: 60000 });
  report.steps.extensionLoaded = true;
  report.steps.frontendVersion = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__ ?? null);
  report.steps.vueNodes = await page.evaluate(
    () => window.app.extensionManager?.setting?.get?.("Comfy.VueNodes.Enabled") ?? null);

  // A clean canvas with our node in view.
  await page.evaluate(() => {
    const { app, LiteGraph } = window;
    app.graph.clear();
    const node = LiteGraph.createNode("NewBieXMLPrompt");
    node.pos = [300, 120];
    app.graph.add(node);
    window.__newbieNode = node;
    app.canvas.ds.offset = [0, 0];
    app.canvas.ds.scale = 1;
    app.canvas.setDirty(true, true);
  });
  const editor = page.locator(".newbie-slots");
  await editor.waitFor({ state: "visible", timeout: 20000 });
  const slot = (i) => editor.locator(`.newbie-slot[data-slot="${i}"]`);
  const field = (i, f) => slot(i).locator(`input[data-field="${f}"]`);

  // Two characters through the UI, fields typed in, then reordered.
  await editor.locator('button[data-action="add"]').click();
  await editor.locator('button[data-action="add"]').click();
  await field(0, "n").fill("alice");
  await field(0, "gender").fill("1girl");
  await field(0, "appearance").fill(String.raw`long_hair, <red> & blue, >_<, <3, rem_\(re:zero\)`);
  await field(1, "n").fill("bob");
  await field(1, "gender").fill("1boy");
  await field(1, "position").fill("center_right");
  await slot(1).locator('button[data-action="up"]').click();
  // Keyboard: Enter on "add" adds a slot, Space on its "remove" drops it again.
  await editor.locator('button[data-action="add"]').focus();
  await page.keyboard.press("Enter");
  report.steps.slotsAfterKeyboardAdd = await editor.locator(".newbie-slot").count();
  await slot(2).locator('button[data-action="remove"]').focus();
  await page.keyboard.press("Space");
  report.steps.names = await editor.locator('input[data-field="n"]').evaluateAll((els) => els.map((e) => e.value));

  // Live XML preview.
  await editor.locator("details > summary").click();
  await page.waitForFunction(() => document.querySelector(".newbie-preview")?.textContent.includes("<character_2>"));
  report.steps.preview = await editor.locator(".newbie-preview").textContent();

  // The Gemma token count, with the tokenizer of the workflow's text encoder loader.
  await page.evaluate(() => {
    const { app, LiteGraph } = window;
    const loader = LiteGraph.createNode("NewBieTextEncoderLoader");
    loader.pos = [900, 120];
    app.graph.add(loader);
    loader.widgets.find((w) => w.name === "gemma").value = "gemma_t2i.safetensors";
    window.__newbieLoader = loader;
  });
  await editor.locator("details > summary").click();
  await editor.locator("details > summary").click();
  await page.waitForFunction(() => document.querySelector(".newbie-tokens")?.textContent
    .includes("Gemma tokens;"), null, { timeout: 20000 });
  report.steps.tokens = await editor.locator(".newbie-tokens").textContent();
  await page.evaluate(() => window.app.graph.remove(window.__newbieLoader));

  // The raw JSON input stays hidden: no visible text box on the page holds the state.
  report.steps.visibleRawState = await page.evaluate(() => {
    const node = window.app.graph.nodes.find((n) => n.type === "NewBieXMLPrompt");
    const state = node.widgets.find((w) => w.name === "character_slots").value;
    return [...document.querySelectorAll("textarea, input")]
      .filter((e) => e.offsetParent !== null && e.value === state).length;
  });

  // What saving and queueing carry.
  const saved = await page.evaluate(async () => {
    const { app } = window;
    const graph = app.graph.serialize();
    const node = graph.nodes.find((n) => n.type === "NewBieXMLPrompt");
    const prompt = await app.graphToPrompt();
    return { graph, widgetsValues: node.widgets_values, properties: node.properties ?? {},
      apiSlots: prompt.output[String(node.id)].inputs.character_slots };
  });
  const stateValue = () => page.evaluate(() => window.app.graph.nodes
    .find((n) => n.type === "NewBieXMLPrompt").widgets.find((w) => w.name === "character_slots").value);
  const names = () => page.locator('.newbie-slots input[data-field="n"]')
    .evaluateAll((els) => els.map((e) => e.value));
  const load = async (graph) => {
    await page.evaluate(async (g) => { await window.app.loadGraphData(g); }, graph);
    await editor.first().waitFor({ state: "visible" });
  };
  report.steps.saved = { widgetsValues: saved.widgetsValues, properties: saved.properties,
    apiSlots: saved.apiSlots };
  const box = await page.evaluate(() => {
    const { app } = window;
    const node = app.graph.nodes.find((n) => n.type === "NewBieXMLPrompt");
    const rect = app.canvas.canvas.getBoundingClientRect();
    const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0], node.pos[1] - 30]);
    return { x: rect.left + x - 10, y: rect.top + y - 10, width: node.size[0] + 20,
      height: node.size[1] + 50 };
  });
  await page.screenshot({ path: screenshot, clip: box });

  // Reload the saved workflow: the editor comes back with the same state.
  await load(saved.graph);
  report.steps.reloadedNames = await names();
  report.steps.reloadedSlots = await stateValue();
  report.steps.reloadedGraph = await page.evaluate(() => window.app.graph.serialize());

  // Queue it from the page (with a text preview node) and read the XML it built.
  report.steps.executedXml = await runXmlPrompt(600);

  // The value set by another route than the editor (a script or extension) is what
  // the editor shows, what is saved and what comes back on reload.
  const scripted = JSON.stringify({ version: 1, characters: [{ n: "carol", gender: "1girl" },
    { n: "dave", gender: "1boy" }] });
  await page.evaluate((text) => {
    window.app.graph.nodes.find((n) => n.type === "NewBieXMLPrompt").widgets
      .find((w) => w.name === "character_slots").value = text;
  }, scripted);
  report.steps.scriptedShown = await names();
  const scriptedSave = await page.evaluate(() => window.app.graph.serialize());
  await load(saved.graph);
  await load(scriptedSave);
  report.steps.scriptedReloaded = await names();

  // A saved file edited by hand: its widget value changed, an old save's property copy
  // did not. The edit wins.
  const handEdited = structuredClone(saved.graph);
  const handNode = handEdited.nodes.find((n) => n.type === "NewBieXMLPrompt");
  handNode.properties = { ...(handNode.properties ?? {}), newbie_character_slots: saved.apiSlots };
  const handIndex = handNode.widgets_values.indexOf(saved.apiSlots);
  handNode.widgets_values[handIndex] = JSON.stringify({ version: 1, characters: [{ n: "erin" }] });
  await load(handEdited);
  report.steps.handEditedNames = await names();
  report.steps.handEditedProperty = await page.evaluate(() => window.app.graph.serialize().nodes
    .find((n) => n.type === "NewBieXMLPrompt").properties?.newbie_character_slots ?? null);

  // NewBie Text Encode says on the node which system prompt it used and how many
  // Gemma tokens it cut.
  report.steps.encodeInfo = await page.evaluate(async () => {
    const { app, LiteGraph } = window;
    const api = window.comfyAPI.api.api;
    const loader = LiteGraph.createNode("NewBieTextEncoderLoader");
    loader.pos = [900, 600];
    app.graph.add(loader);
    loader.widgets.find((w) => w.name === "gemma").value = "gemma_t2i.safetensors";
    loader.widgets.find((w) => w.name === "jina").value = "jina_t2i.safetensors";
    const encode = LiteGraph.createNode("NewBieTextEncode");
    encode.pos = [900, 800];
    app.graph.add(encode);
    encode.widgets.find((w) => w.name === "text").value = "red eyes, ".repeat(400);
    loader.connect(0, encode, 0);
    const show = LiteGraph.createNode("PreviewAny");
    show.pos = [1300, 800];
    app.graph.add(show);
    encode.connect(2, show, 0);
    const done = new Promise((resolve) => api.addEventListener("executed", (e) => {
      if (String(e.detail.node) === String(show.id)) resolve(true);
    }));
    await app.queuePrompt(0, 1);
    await Promise.race([done, new Promise((r) => setTimeout(r, 60000))]);
    await new Promise((r) => setTimeout(r, 500));
    const text = encode.newbieInfo?.isConnected ? encode.newbieInfo.textContent : null;
    for (const node of [show, encode, loader]) app.graph.remove(node);
    return text;
  });

  // Character boxes: a fresh node with two slots; the second slot's box drawn with the
  // mouse on the box canvas, then nudged with the keyboard; saved, queued, and the JSON
  // form it outputs imported back into a new node.
  // (Opened as a workflow: the 1.32.9 Nodes 2.0 renderer keeps showing a cleared
  // node's DOM widget in place of a new one added by script.)
  await load(await page.evaluate(() => {
    const { app, LiteGraph } = window;
    app.graph.clear();
    const node = LiteGraph.createNode("NewBieXMLPrompt");
    node.pos = [300, 120];
    app.graph.add(node);
    const latent = LiteGraph.createNode("NewBieEmptyLatent");
    latent.pos = [1000, 120];
    app.graph.add(latent);
    latent.widgets.find((w) => w.name === "resolution").value = "custom";
    latent.widgets.find((w) => w.name === "width").value = 1024;
    latent.widgets.find((w) => w.name === "height").value = 512;
    // (1.49.6 hands a node created right after clear() the last slot state it showed.)
    node.widgets.find((w) => w.name === "character_slots").value = "";
    return app.graph.serialize();
  }));
  await editor.locator('button[data-action="add"]').click();
  await editor.locator('button[data-action="add"]').click();
  await field(0, "n").fill("left_girl");
  await field(1, "n").fill("right_girl");
  const canvas = editor.locator("canvas.newbie-boxes");
  await field(1, "n").click(); // selects slot 2 (and may scroll the editor down)
  await canvas.scrollIntoViewIfNeeded();
  const area = await canvas.boundingBox();
  report.steps.boxCanvas = { width: area.width, height: area.height,
    // What the mouse lands on: the box canvas unless something covers it.
    target: await page.evaluate(([x, y]) => document.elementFromPoint(x, y)?.className ?? null,
      [area.x + area.width / 2, area.y + area.height / 2]) };
  await page.mouse.move(area.x + area.width * 0.5, area.y + area.height * 0.2);
  await page.mouse.down();
  await page.mouse.move(area.x + area.width * 0.7, area.y + area.height * 0.5, { steps: 4 });
  await page.mouse.move(area.x + area.width * 0.9, area.y + area.height * 0.8, { steps: 4 });
  await page.mouse.up();
  report.steps.drawnBox = JSON.parse(await stateValue()).characters[1].box ?? null;
  await page.keyboard.press("ArrowLeft");
  report.steps.nudgedBox = JSON.parse(await stateValue()).characters[1].box ?? null;
  const boxed = await page.evaluate(async () => {
    const { app } = window;
    const graph = app.graph.serialize();
    const node = graph.nodes.find((n) => n.type === "NewBieXMLPrompt");
    const prompt = await app.graphToPrompt();
    return { widgetsValues: node.widgets_values,
      apiSlots: prompt.output[String(node.id)].inputs.character_slots };
  });
  report.steps.boxSaved = boxed;
  report.steps.boxPreview = await (async () => {
    await editor.locator("details > summary").click();
    await page.waitForFunction(() => document.querySelector(".newbie-preview")?.textContent.includes("bbox"));
    return editor.locator(".newbie-preview").textContent();
  })();
  await load(await page.evaluate(() => {
    const { app, LiteGraph } = window;
    app.graph.clear();
    const node = Object.assign(LiteGraph.createNode("NewBieXMLPrompt"), { pos: [300, 120] });
    app.graph.add(node);
    node.widgets.find((w) => w.name === "character_slots").value = "";
    return app.graph.serialize();
  }));
  await editor.locator('button[data-action="import"]').click();
  await editor.locator('textarea[data-role="import"]').fill(report.steps.boxPreview.replace(
    '"name": "right_girl"', '"nmae": "right_girl"'));
  await editor.locator('button[data-action="import-run"]').click();
  await page.waitForFunction(() => document.querySelector(".newbie-slots .newbie-error")?.textContent);
  report.steps.importError = await editor.locator(".newbie-error").first().textContent();
  report.steps.importErrorKept = await editor.locator('textarea[data-role="import"]').inputValue();
  report.steps.importErrorSlots = await stateValue();
  await editor.locator('textarea[data-role="import"]').fill(report.steps.boxPreview);
  await editor.locator('button[data-action="import-run"]').click();
  await page.waitForFunction(() => document.querySelectorAll(".newbie-slot").length === 2);
  report.steps.imported = JSON.parse(await stateValue());
  report.steps.importedNames = await names();
  // XML the same way: the official example imported, then previewed as the node builds it.
  const official = readFileSync(new URL("../data/official_example.xml", import.meta.url), "utf8");
  await editor.locator('button[data-action="import"]').click();
  await editor.locator('textarea[data-role="import"]').fill(official);
  await editor.locator('button[data-action="import-run"]').click();
  await page.waitForFunction(() => document.querySelector('.newbie-slots input[data-field="n"]')
    ?.value === "$character_1$");
  await editor.locator("details > summary").click();
  await page.waitForFunction(() => document.querySelector(".newbie-preview")?.textContent
    .includes("<general_tags>"));
  report.steps.importedXmlPreview = await editor.locator(".newbie-preview").textContent();

  // Chained characters: two NewBie Character nodes feed the node; its slot is numbered
  // as it runs (third), and the preview and the run carry all three.
  await load(await page.evaluate(() => {
    const { app, LiteGraph } = window;
    app.graph.clear();
    const make = (type, pos) => {
      const n = LiteGraph.createNode(type);
      n.pos = pos;
      app.graph.add(n);
      return n;
    };
    const a = make("NewBieCharacter", [20, 120]);
    const b = make("NewBieCharacter", [20, 560]);
    const node = make("NewBieXMLPrompt", [400, 120]);
    a.widgets.find((w) => w.name === "n").value = "chain_a";
    b.widgets.find((w) => w.name === "n").value = "chain_b";
    a.connect(0, b, 0);
    b.connect(0, node, 0);
    node.widgets.find((w) => w.name === "character_slots").value = "";
    return app.graph.serialize();
  }));
  await editor.locator('button[data-action="add"]').click();
  await field(0, "n").fill("slot_c");
  report.steps.chainedHeader = await slot(0).locator("header strong").textContent();
  report.steps.chainedCount = await editor.locator("div").first().textContent();
  await editor.locator("details > summary").click();
  await page.waitForFunction(() => document.querySelector(".newbie-preview")?.textContent
    .includes("slot_c"));
  report.steps.chainedPreview = await editor.locator(".newbie-preview").textContent();
  report.steps.chainedRun = await runXmlPrompt(900);

  // Older and shifted saves: a version-0 list in the widget, and a save whose widget
  // positions moved but whose properties hold the state by name.
  const legacy = structuredClone(saved.graph);
  const legacyNode = legacy.nodes.find((n) => n.type === "NewBieXMLPrompt");
  const slotIndex = legacyNode.widgets_values.indexOf(saved.apiSlots);
  legacyNode.widgets_values[slotIndex] = JSON.stringify([{ n: "old_zoe" }]);
  report.steps.slotIndex = slotIndex;
  await load(legacy);
  report.steps.migratedNames = await names();

  // An old save whose widget values shifted by one (the state's place holds its
  // neighbour's value): its property copy fills in.
  const shifted = structuredClone(saved.graph);
  const shiftedNode = shifted.nodes.find((n) => n.type === "NewBieXMLPrompt");
  shiftedNode.properties = { ...(shiftedNode.properties ?? {}), newbie_character_slots: saved.apiSlots };
  shiftedNode.widgets_values = ["extra", ...shiftedNode.widgets_values].slice(0, slotIndex + 1);
  await load(shifted);
  report.steps.shiftedNames = await names();

  // Hand-edited malformed JSON: the workflow still loads, the editor shows why and
  // keeps the text, queueing returns a node error.
  const broken = structuredClone(saved.graph);
  const brokenNode = broken.nodes.find((n) => n.type === "NewBieXMLPrompt");
  const badText = '{"version": 1, "characters": [{"n": "half';
  brokenNode.widgets_values[slotIndex] = badText;
  await page.evaluate(async (graph) => { await window.app.loadGraphData(graph); }, broken);
  report.steps.brokenMessage = await page.locator(".newbie-slots .newbie-error").first().textContent();
  report.steps.brokenKept = await page.locator('.newbie-slots textarea[data-role="raw"]').inputValue();
  report.steps.brokenQueue = await page.evaluate(async () => {
    const { app, LiteGraph } = window;
    const show = LiteGraph.createNode("PreviewAny");
    app.graph.add(show);
    app.graph.nodes.find((n) => n.type === "NewBieXMLPrompt").connect(0, show, 0);
    const prompt = await app.graphToPrompt();
    const reply = await fetch("/prompt", { method: "POST", body: JSON.stringify({ prompt: prompt.output }) });
    return { status: reply.status, body: await reply.json() };
  });
} catch (err) {
  report.failure = String(err.stack || err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
