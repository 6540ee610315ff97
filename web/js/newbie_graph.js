// What the slot editor reads from the rest of the workflow: the characters chained into
// the node, the text encoder settings NewBie Text Encode will use, the latent's aspect.

// The NewBie Character nodes chained into `node`'s `characters` input, first to last,
// as field objects (fields named by `keys`); a converted or unset widget reads "".
export function chainedCharacters(node, keys, characterType) {
  const graph = node.graph;
  const out = [];
  const seen = new Set();
  let input = node.inputs?.find((i) => i.name === "characters");
  while (input?.link != null && graph) {
    const link = graph.links?.get?.(input.link) ?? graph.links?.[input.link];
    const up = link ? graph.getNodeById(link.origin_id) : null;
    if (!up || up.type !== characterType || seen.has(up.id) || up.mode === 2) break;
    seen.add(up.id);
    if (up.mode !== 4) { // a bypassed node passes the list on without its own character
      const value = (k) => up.widgets?.find((w) => w.name === k)?.value;
      out.unshift(Object.fromEntries(keys.map((k) => [k, String(value(k) ?? "")])));
    }
    input = up.inputs?.find((i) => i.name === "characters");
  }
  return out;
}

// What NewBie Text Encode will use, read from the workflow: the Gemma file of the first
// text encoder loader, the system prompt settings of the first text encode node.
export function encoderSettings(graph) {
  const nodes = graph?._nodes ?? graph?.nodes ?? [];
  const value = (type, name) => nodes.find((n) => n.type === type)?.widgets
    ?.find((w) => w.name === name)?.value;
  const out = {};
  const gemma = value("NewBieTextEncoderLoader", "gemma");
  if (typeof gemma === "string" && gemma) out.gemma = gemma;
  for (const name of ["system_prompt", "system_prompt_mode", "max_tokens"]) {
    const v = value("NewBieTextEncode", name);
    if (v !== undefined && v !== null) out[name] = v;
  }
  return out;
}


// The image's aspect (width / height) from the workflow's first latent node.
export function latentAspect(graph) {
  const nodes = graph?._nodes ?? graph?.nodes ?? [];
  for (const node of nodes) {
    const value = (name) => node.widgets?.find((w) => w.name === name)?.value;
    const bucket = /^(\d+)x(\d+)/.exec(String(value("resolution") ?? ""));
    const [w, h] = bucket ? [+bucket[1], +bucket[2]] : [value("width"), value("height")];
    if (/Latent/.test(node.type ?? "") && w > 0 && h > 0) return w / h;
  }
  return 1;
}
