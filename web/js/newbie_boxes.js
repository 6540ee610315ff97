// The character-box canvas of the slot editor: each slot's box (x1, y1, x2, y2 in
// thousandths of the image, the JSON form's convention) drawn at the latent's aspect
// ratio, numbered as its slot. Mouse: drag on empty space draws the selected slot's
// box, drag inside a box moves it, drag its corner handle resizes it. Keyboard (the
// canvas has focus): 1-9 select a slot (boxes are labelled with the number the character
// runs as, after any chained ones), arrows move the box (Shift: faster), Alt+arrows
// resize it, Delete removes it.
export const SCALE = 1000;
const MIN_SIDE = 20;
const HANDLE = 60;
const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
  "#bfef45"];

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// A box kept inside the image and at least MIN_SIDE wide and tall, in whole units.
export function tidyBox([x1, y1, x2, y2]) {
  const lx = clamp(Math.round(Math.min(x1, x2)), 0, SCALE - MIN_SIDE);
  const ly = clamp(Math.round(Math.min(y1, y2)), 0, SCALE - MIN_SIDE);
  return [lx, ly, clamp(Math.round(Math.max(x1, x2)), lx + MIN_SIDE, SCALE),
    clamp(Math.round(Math.max(y1, y2)), ly + MIN_SIDE, SCALE)];
}

export class BoxCanvas {
  // slots(): [{ box: [x1, y1, x2, y2] | undefined }]; change(index, box | null) stores.
  constructor({ slots, change, select, width = 220 }) {
    Object.assign(this, { slots, change, select, width });
    this.selected = 0;
    this.aspect = 1;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "newbie-boxes";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "application");
    this.canvas.setAttribute("aria-label", "Character boxes: drag to draw, move or resize; "
      + "1-9 select a slot, arrows move, Alt+arrows resize, Delete removes");
    this.canvas.addEventListener("pointerdown", (e) => this.down(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    this.canvas.addEventListener("pointerup", (e) => this.up(e));
    this.canvas.addEventListener("keydown", (e) => this.key(e));
  }

  point(e) {
    const rect = this.canvas.getBoundingClientRect();
    return [clamp((e.clientX - rect.left) / rect.width * SCALE, 0, SCALE),
      clamp((e.clientY - rect.top) / rect.height * SCALE, 0, SCALE)];
  }

  hit([x, y]) {
    const slots = this.slots();
    const order = [this.selected, ...slots.keys()].filter((i) => slots[i]?.box);
    for (const i of order) {
      const [x1, y1, x2, y2] = slots[i].box;
      if (Math.abs(x - x2) < HANDLE && Math.abs(y - y2) < HANDLE) return { i, mode: "resize" };
      if (x >= x1 && x <= x2 && y >= y1 && y <= y2) return { i, mode: "move" };
    }
    return null;
  }

  down(e) {
    const slots = this.slots();
    if (!slots.length) return;
    e.preventDefault();
    e.stopPropagation();
    this.canvas.focus();
    this.canvas.setPointerCapture?.(e.pointerId);
    const at = this.point(e);
    const hit = this.hit(at);
    if (hit) this.pick(hit.i);
    const start = slots[this.selected].box;
    this.drag = hit ? { mode: hit.mode, at, start } : { mode: "draw", at };
  }

  move(e) {
    if (!this.drag) return;
    e.stopPropagation();
    const [x, y] = this.point(e);
    const { mode, at, start } = this.drag;
    let box;
    if (mode === "draw") box = [at[0], at[1], x, y];
    else if (mode === "resize") box = [start[0], start[1], x, y];
    else {
      const dx = clamp(x - at[0], -start[0], SCALE - start[2]);
      const dy = clamp(y - at[1], -start[1], SCALE - start[3]);
      box = [start[0] + dx, start[1] + dy, start[2] + dx, start[3] + dy];
    }
    this.pending = tidyBox(box);
    this.draw();
  }

  up(e) {
    if (!this.drag) return;
    e.stopPropagation();
    this.drag = null;
    if (this.pending) this.change(this.selected, this.pending);
    this.pending = null;
  }

  key(e) {
    const slots = this.slots();
    const box = slots[this.selected]?.box;
    const step = e.shiftKey ? 50 : 10;
    const arrows = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step],
      ArrowDown: [0, step] };
    e.stopPropagation();
    if (/^[1-9]$/.test(e.key) && +e.key <= slots.length) this.pick(+e.key - 1);
    else if (arrows[e.key] && box) {
      const [dx, dy] = arrows[e.key];
      const next = e.altKey ? [box[0], box[1], box[2] + dx, box[3] + dy]
        : [box[0] + clamp(dx, -box[0], SCALE - box[2]), box[1] + clamp(dy, -box[1], SCALE - box[3]),
          box[2] + clamp(dx, -box[0], SCALE - box[2]), box[3] + clamp(dy, -box[1], SCALE - box[3])];
      this.change(this.selected, tidyBox(next));
    } else if ((e.key === "Delete" || e.key === "Backspace") && box) this.change(this.selected, null);
    else return;
    e.preventDefault();
  }

  pick(index) {
    this.selected = index;
    this.select?.(index);
    this.draw();
  }

  render(aspect) {
    this.aspect = aspect > 0 ? aspect : 1;
    const height = Math.round(this.width / clamp(this.aspect, 0.25, 4));
    this.canvas.width = this.width;
    this.canvas.height = height;
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${height}px`;
    this.selected = clamp(this.selected, 0, Math.max(0, this.slots().length - 1));
    this.draw();
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, width, height);
    ctx.strokeStyle = "#555";
    ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
    this.slots().forEach((slot, i) => {
      const box = i === this.selected && this.pending ? this.pending : slot.box;
      if (!box) return;
      const [x1, y1, x2, y2] = box.map((v, k) => v / SCALE * (k % 2 ? height : width));
      const color = COLORS[i % COLORS.length];
      ctx.globalAlpha = i === this.selected ? 0.35 : 0.18;
      ctx.fillStyle = color;
      ctx.fillRect(x1, y1, x2 - x1, y2 - y1);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = color;
      ctx.lineWidth = i === this.selected ? 2 : 1;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.fillRect(x2 - 5, y2 - 5, 5, 5);
      ctx.fillStyle = "#fff";
      ctx.font = "bold 12px sans-serif";
      ctx.fillText(String(i + 1 + (this.offset ?? 0)), x1 + 4, y1 + 14);
    });
  }
}
