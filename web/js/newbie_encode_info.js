// Shows on a node what it did: on NewBie Text Encode the system prompt it chose and the
// Gemma token count (with the tokens cut when the prompt ran over the limit); on NewBie
// Empty Latent the size it made and which input set it; on NewBie Prompt Writer the
// prompt it wrote.
import { app } from "../../../scripts/app.js";

const HINTS = {
  NewBieTextEncode: "Runs show the system prompt used and the Gemma token count here.",
  NewBieEmptyLatent: "Runs show the size made here, and which input set it.",
  NewBiePromptWriter: "Runs show the prompt written here.",
};

app.registerExtension({
  name: "NewBie.EncodeInfo",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const hint = HINTS[nodeData.name];
    if (!hint) return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = created?.apply(this, arguments);
      const box = document.createElement("div");
      box.className = "newbie-info";
      box.style.cssText = "font: 12px sans-serif; white-space: pre-wrap; padding: 2px 4px;"
        + "color: var(--descrip-text, #aaa);";
      box.textContent = hint;
      this.newbieInfo = box;
      this.addDOMWidget("newbie_info", "newbie_info", box, { serialize: false,
        getMinHeight: () => 40 });
      return result;
    };
    const executed = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      const result = executed?.apply(this, arguments);
      const text = message?.text?.[0];
      if (typeof text === "string" && this.newbieInfo) {
        this.newbieInfo.textContent = text;
        // A cut prompt is worth a warning colour.
        this.newbieInfo.style.color = text.includes("cut:") ? "var(--error-text, #ff6b6b)"
          : "var(--descrip-text, #aaa)";
      }
      return result;
    };
  },
});
