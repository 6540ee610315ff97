// Character-slot editor on "NewBie XML Prompt".
//
// The state lives in the node's `character_slots` STRING input as versioned JSON
// ({"version": 2, "characters": [{..., "box": [x1, y1, x2, y2]}]}); Python builds the
// prompt from it, so API prompts and installs without this file work the same. The
// editor hides the raw text widget (on the classic canvas and the Nodes 2.0 renderer),
// edits the JSON through a form and previews the XML the server builds. The widget's
// value is the one source of truth: whatever sets it (the editor, a script, a
// hand-edited workflow file) is what the editor shows, what is saved and what runs.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { BoxCanvas } from "./newbie_boxes.js";
import { chainedCharacters, encoderSettings, latentAspect } from "./newbie_graph.js";

const NODE = "NewBieXMLPrompt";
const CHARACTER_NODE = "NewBieCharacter";
const STATE_WIDGET = "character_slots";
// Saves before 0.2 also kept a copy here; read only when the widget's saved value is
// not slot JSON at all (widget positions shifted), then dropped.
const LEGACY_PROPERTY = "newbie_character_slots";
const VERSION = 2; // 1: the same without boxes
// The prompt's fields come from the server's node definitions (the Python schema is
// their one source): a character's from NewBie Character's text inputs, with their
// labels and examples; the general tags from NewBie XML Prompt's.
let FIELDS = []; // [key, label, example]
let TAG_WIDGETS = [];
const textInputs = (nodeData, skip = []) => Object.entries(nodeData.input?.required ?? {})
  .filter(([key, spec]) => spec?.[0] === "STRING" && !skip.includes(key));

const CSS = `
.newbie-slots { display: flex; flex-direction: column; gap: 6px; font: 12px sans-serif;
  color: var(--input-text, #ddd); overflow-y: auto; box-sizing: border-box; padding: 2px; }
.newbie-slots button { background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd);
  border: 1px solid var(--border-color, #444); border-radius: 4px; padding: 1px 6px; cursor: pointer; }
.newbie-slots button:focus-visible, .newbie-slots input:focus-visible,
.newbie-slots textarea:focus-visible { outline: 2px solid var(--p-primary-color, #4a9eff); }
.newbie-slot { border: 1px solid var(--border-color, #444); border-radius: 6px; padding: 4px 6px;
  background: var(--comfy-menu-bg, #1a1a1a); }
.newbie-slot header { display: flex; align-items: center; gap: 4px; margin-bottom: 3px; }
.newbie-slot header strong { flex: 1; }
.newbie-slot label { display: grid; grid-template-columns: 74px 1fr; align-items: center; gap: 4px;
  margin: 1px 0; color: var(--descrip-text, #999); }
.newbie-slots input, .newbie-slots textarea { background: var(--comfy-input-bg, #222);
  color: var(--input-text, #ddd); border: 1px solid var(--border-color, #444); border-radius: 4px;
  padding: 2px 4px; min-width: 0; font: inherit; }
.newbie-slots .newbie-error { color: var(--error-text, #ff6b6b); white-space: pre-wrap; }
.newbie-slots pre { white-space: pre-wrap; margin: 4px 0; color: var(--descrip-text, #aaa); }
.newbie-slots .newbie-tokens { margin: 4px 0 0; color: var(--descrip-text, #aaa); }
.newbie-slot.selected { border-color: var(--p-primary-color, #4a9eff); }
.newbie-slots .newbie-row { display: flex; gap: 6px; align-items: flex-start; }
.newbie-slots .newbie-hint { color: var(--descrip-text, #999); flex: 1; }
.newbie-slots canvas.newbie-boxes { cursor: crosshair; flex: none; }
`;
const DEFAULT_BOX = [250, 250, 750, 750];
const HEIGHTS = [320, 1300]; // the editor's least and most height without scrolling

// -- state ------------------------------------------------------------------------
// Whether a saved widget value can be slot state (or a hand-broken version of it), as
// opposed to another widget's value that landed here when widget positions shifted.
export function looksLikeSlots(value) {
  return typeof value === "string" && (value.trim() === "" || /^\s*[[{]/.test(value));
}

export function parseSlots(text) {
  if (!text || !text.trim()) return { state: { version: VERSION, characters: [] } };
  let data;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { error: `Character slots are not valid JSON: ${err.message}` };
  }
  if (Array.isArray(data)) data = { version: VERSION, characters: data }; // version 0: bare list
  if (!data || typeof data !== "object") return { error: "Character slots: expected an object" };
  const version = data.version ?? VERSION;
  if (!Number.isInteger(version) || version < 1 || version > VERSION) {
    return { error: `Character slots: version ${version} is not supported here (1..${VERSION})` };
  }
  if (!Array.isArray(data.characters ?? [])) return { error: "Character slots: 'characters' must be a list" };
  const characters = (data.characters ?? []).map((c) => (c && typeof c === "object" ? c : {}));
  return { state: { ...data, version: VERSION, characters } };
}

const emptyCharacter = () => Object.fromEntries(FIELDS.map(([key]) => [key, ""]));
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

// -- editor -------------------------------------------------------------------------
class SlotEditor {
  constructor(node, stateWidget) {
    this.node = node;
    this.stateWidget = stateWidget;
    this.root = el("div", { className: "newbie-slots" });
    this.root.addEventListener("keydown", (e) => e.stopPropagation()); // keys are for the form
    // A chain edited upstream renumbers the slots the next time the pointer comes by.
    this.root.addEventListener("pointerenter", () => {
      const count = chainedCharacters(this.node, FIELDS.map(([key]) => key), CHARACTER_NODE).length;
      if (this.state && count !== this.chained?.length) this.render();
    });
    this.boxes = new BoxCanvas({
      slots: () => this.state?.characters ?? [],
      change: (i, box) => this.edit((c) => { if (box) c[i].box = box; else delete c[i].box; }),
      select: (i) => this.root.querySelectorAll(".newbie-slot").forEach(
        (card) => card.classList.toggle("selected", card.dataset.slot === String(i))),
    });
    this.load(stateWidget.value ?? "");
  }

  load(text) {
    const { state, error } = parseSlots(text);
    this.text = text;
    this.state = state ?? null;
    this.error = error ?? null;
    this.render();
  }

  commit() {
    const text = JSON.stringify(this.state);
    this.text = text;
    this.writing = true;
    try {
      this.stateWidget.value = text;
    } finally {
      this.writing = false;
    }
    this.node.setDirtyCanvas?.(true, true);
    this.renderPreview();
  }

  // The widget's value changed by another route (a script, another extension).
  external(text) {
    if (!this.writing && text !== this.text) this.load(text ?? "");
  }

  edit(change) {
    change(this.state.characters);
    this.commit();
    this.render();
  }

  render() {
    const focused = document.activeElement?.dataset?.slotKey;
    const boxFocused = document.activeElement === this.boxes.canvas;
    this.root.replaceChildren();
    if (this.error) return this.renderRaw();
    const chars = this.state.characters;
    // Numbered as they will run: the chained characters come first.
    this.chained = chainedCharacters(this.node, FIELDS.map(([key]) => key), CHARACTER_NODE);
    const first = this.chained.length;
    this.boxes.offset = first;
    const add = el("button", { textContent: "+ Add character", type: "button",
      title: "Add a character slot" });
    add.dataset.action = "add";
    add.onclick = () => this.edit((c) => c.push(emptyCharacter()));
    const paste = el("button", { textContent: "Import…", type: "button",
      title: "Fill the slots, general tags and caption from a pasted prompt (XML, the JSON "
        + "form, tags or text)" });
    paste.dataset.action = "import";
    paste.onclick = () => this.renderImport();
    this.root.append(el("div", {}, add, " ", paste,
      ` ${chars.length} slot${chars.length === 1 ? "" : "s"}`
        + (first ? `, after ${first} chained character${first === 1 ? "" : "s"}` : "")));
    this.importArea = el("div");
    this.root.append(this.importArea);
    if (chars.length) {
      this.boxes.render(latentAspect(this.node.graph ?? app.graph));
      const hint = "Boxes (JSON form; how much they steer the image is the model's): drag to "
        + "draw the selected slot's box, drag to move, corner to resize; keys 1-9, arrows, "
        + "Alt+arrows, Delete.";
      this.root.append(el("div", { className: "newbie-row" }, this.boxes.canvas,
        el("div", { className: "newbie-hint", textContent: hint })));
    }
    chars.forEach((character, i) => this.root.append(this.renderSlot(character, i, chars.length)));
    this.boxes.pick(this.boxes.selected);
    this.details = el("details", {}, el("summary", { textContent: "XML preview" }));
    this.preview = el("pre", { className: "newbie-preview" });
    this.tokens = el("div", { className: "newbie-tokens" });
    this.details.append(this.tokens, this.preview);
    this.details.ontoggle = () => this.renderPreview();
    this.root.append(this.details);
    if (focused) this.root.querySelector(`[data-slot-key="${focused}"]`)?.focus();
    if (boxFocused) this.boxes.canvas.focus();
    requestAnimationFrame(() => this.fit());
  }

  // Its height without scrolling (capped near three slots) is its minimum: the node
  // grows until the add button and every slot header are in view.
  naturalHeight() {
    let height = 8;
    for (const child of this.root.children) height += child.offsetHeight + 6;
    return Math.min(Math.max(HEIGHTS[0], height), HEIGHTS[1]);
  }

  fit() {
    if (!this.root.isConnected || this.root.scrollHeight <= this.root.clientHeight + 1) return;
    const [width, height] = this.node.size, needed = this.node.computeSize()[1];
    if (needed > height) this.node.setSize([width, needed]);
    this.node.setDirtyCanvas?.(true, true);
  }

  renderSlot(character, index, count) {
    const button = (label, title, action, disabled, run) => {
      const b = el("button", { textContent: label, title, type: "button", disabled });
      b.setAttribute("aria-label", `${title} ${index + 1}`);
      b.dataset.action = action;
      b.onclick = () => this.edit(run);
      return b;
    };
    const move = (to) => (c) => c.splice(to, 0, ...c.splice(index, 1));
    const header = el("header", {}, el("strong", { textContent: `Character ${this.chained.length + index + 1}` }),
      button("↑", "Move up", "up", index === 0, move(index - 1)),
      button("↓", "Move down", "down", index === count - 1, move(index + 1)),
      button("Copy", "Duplicate", "duplicate", false,
        (c) => c.splice(index + 1, 0, structuredClone(c[index]))),
      button(character.box ? "□✕" : "□", character.box ? "Remove the box of" : "Add a box to",
        "box", false, (c) => { if (c[index].box) delete c[index].box; else c[index].box = [...DEFAULT_BOX]; }),
      button("✕", "Remove", "remove", false, (c) => c.splice(index, 1)));
    const card = el("section", { className: "newbie-slot" }, header);
    card.addEventListener("focusin", () => this.boxes.pick(index));
    card.dataset.slot = String(index);
    for (const [key, label, placeholder] of FIELDS) {
      const input = el("input", { type: "text", value: character[key] ?? "", placeholder });
      input.dataset.field = key;
      input.dataset.slotKey = `${index}.${key}`;
      input.oninput = () => { character[key] = input.value; this.commit(); };
      card.append(el("label", {}, label, input));
    }
    return card;
  }

  renderRaw() {
    // Malformed JSON: say why, keep the text, let it be fixed by hand.
    const area = el("textarea", { value: this.text, rows: 8, spellcheck: false });
    area.dataset.role = "raw";
    const apply = el("button", { textContent: "Apply", type: "button" });
    apply.onclick = () => {
      this.stateWidget.value = area.value;
      this.load(area.value);
    };
    this.root.append(el("div", { className: "newbie-error", textContent: this.error }), area, apply);
  }

  renderImport() {
    // The pasted text stays until it imports; an error says where and changes nothing.
    const area = el("textarea", { rows: 6, spellcheck: false,
      placeholder: "Paste a NewBie prompt: XML, the JSON form (with or without its system prompt), tags or text" });
    area.dataset.role = "import";
    const message = el("div", { className: "newbie-error" });
    const run = el("button", { textContent: "Import", type: "button" });
    run.dataset.action = "import-run";
    run.onclick = async () => {
      const reply = await api.fetchApi("/newbie/prompt_import",
        { method: "POST", body: JSON.stringify({ text: area.value }) });
      const data = await reply.json();
      if (data.error) { message.textContent = data.error; return; }
      const widgets = Object.fromEntries((this.node.widgets ?? []).map((w) => [w.name, w]));
      for (const key of TAG_WIDGETS) if (widgets[key]) widgets[key].value = data.general_tags[key] ?? "";
      if (widgets.caption) widgets.caption.value = data.caption;
      this.stateWidget.value = data.character_slots;
      this.load(data.character_slots);
      if (data.dropped?.length) this.importArea.append(el("div", { className: "newbie-hint",
        textContent: `Not kept (no field for them): ${data.dropped.join(", ")}` }));
    };
    this.importArea.replaceChildren(area, run, message);
    area.focus();
  }

  async renderPreview() {
    if (!this.details?.open || !this.state) return;
    const widgets = Object.fromEntries((this.node.widgets ?? []).map((w) => [w.name, w.value]));
    const body = {
      character_slots: this.text,
      general_tags: Object.fromEntries(TAG_WIDGETS.map((k) => [k, widgets[k] ?? ""])),
      caption: widgets.caption ?? "",
      tidy_tags: !!widgets.tidy_tags,
      chained: chainedCharacters(this.node, FIELDS.map(([key]) => key), CHARACTER_NODE),
      output_form: widgets.output_form ?? "auto",
      ...encoderSettings(this.node.graph ?? app.graph),
    };
    try {
      const reply = await api.fetchApi("/newbie/xml_preview", { method: "POST", body: JSON.stringify(body) });
      const data = await reply.json();
      this.preview.textContent = data.xml ?? data.error ?? "";
      this.preview.classList.toggle("newbie-error", !!data.error);
      this.tokens.textContent = tokenLine(data.gemma_tokens);
    } catch (err) {
      this.preview.textContent = `Preview unavailable: ${err}`;
    }
  }
}

function tokenLine(tokens) {
  if (!tokens) return "Gemma tokens: add Load NewBie Text Encoders to the workflow to count them";
  if (tokens.error) return tokens.error;
  const cut = tokens.count > tokens.limit ? ` (cut: ${tokens.count - tokens.limit} dropped)` : "";
  return `${tokens.count} / ${tokens.limit} Gemma tokens${cut}; system prompt: ${tokens.system_prompt}`;
}

function hideWidget(widget) {
  widget.type = "hidden";
  widget.hidden = true;
  // The Nodes 2.0 renderer hides a widget only by this option.
  widget.options = { ...(widget.options ?? {}), hidden: true };
  widget.computeSize = () => [0, -4];
  if (widget.element) widget.element.style.display = "none";
}

// Report every later assignment of the widget's value. Newer front ends give the
// widget a `value` accessor that calls `widget.callback` (and may redefine it when the
// node joins a graph); older ones keep a plain value, which is wrapped here, once.
const WATCHED = Symbol("newbie-watched");
function watchValue(widget, onChange) {
  if (Object.getOwnPropertyDescriptor(widget, "value")?.set?.[WATCHED]) return;
  let owner = widget;
  let desc;
  while (owner && !(desc = Object.getOwnPropertyDescriptor(owner, "value"))) {
    owner = Object.getPrototypeOf(owner);
  }
  if (desc && !desc.configurable && owner === widget) return;
  let plain = widget.value;
  const get = desc?.get ? function () { return desc.get.call(this); } : () => plain;
  const set = desc?.set ? function (v) { desc.set.call(this, v); } : (v) => { plain = v; };
  const watched = function (v) {
    set.call(this, v);
    onChange(v);
  };
  watched[WATCHED] = true;
  Object.defineProperty(widget, "value", { configurable: true, enumerable: true, get, set: watched });
}

app.registerExtension({
  name: "NewBie.CharacterSlots",
  async setup() {
    document.head.append(el("style", { textContent: CSS }));
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === CHARACTER_NODE) {
      FIELDS = textInputs(nodeData).map(([key, [, options]]) =>
        [key, options?.display_name ?? key.replace(/_/g, " "), options?.placeholder ?? ""]);
      return;
    }
    if (nodeData.name !== NODE) return;
    TAG_WIDGETS = textInputs(nodeData, ["caption"]).map(([key]) => key);
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = created?.apply(this, arguments);
      const stateWidget = this.widgets?.find((w) => w.name === STATE_WIDGET);
      if (!stateWidget) return result;
      hideWidget(stateWidget);
      const editor = new SlotEditor(this, stateWidget);
      this.newbieSlots = editor;
      const callback = stateWidget.callback;
      stateWidget.callback = function () {
        const out = callback?.apply(this, arguments);
        editor.external(stateWidget.value);
        return out;
      };
      this.newbieWatch = () => watchValue(stateWidget, (v) => editor.external(v));
      this.newbieWatch();
      this.addDOMWidget("character_slots_editor", "newbie_slots", editor.root, {
        serialize: false,
        getMinHeight: () => editor.naturalHeight(),
        getMaxHeight: () => 2000,
      });
      const size = this.computeSize();
      this.setSize([Math.max(size[0], 440), Math.max(size[1], 760)]);
      return result;
    };
    const added = nodeType.prototype.onAdded;
    nodeType.prototype.onAdded = function () {
      const result = added?.apply(this, arguments);
      this.newbieWatch?.();
      return result;
    };
    const connections = nodeType.prototype.onConnectionsChange;
    nodeType.prototype.onConnectionsChange = function () {
      const result = connections?.apply(this, arguments);
      if (this.newbieSlots?.state) this.newbieSlots.render();
      return result;
    };
    const configure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function (info) {
      const result = configure?.apply(this, arguments);
      const stateWidget = this.widgets?.find((w) => w.name === STATE_WIDGET);
      const legacy = this.properties?.[LEGACY_PROPERTY];
      if (this.properties) delete this.properties[LEGACY_PROPERTY];
      if (!stateWidget) return result;
      this.newbieWatch?.();
      // The saved widget value wins; an old save's copy only fills in for a value
      // that cannot be slot state (a neighbour's, after widget positions shifted).
      if (typeof legacy === "string" && !looksLikeSlots(stateWidget.value)) {
        stateWidget.value = legacy;
      }
      this.newbieSlots?.load(stateWidget.value ?? "");
      return result;
    };
  },
});
