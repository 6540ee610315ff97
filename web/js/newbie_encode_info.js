// Shows on NewBie Text Encode what it did: the system prompt it chose and the Gemma
// token count, with the number of tokens cut when the prompt ran over the limit.
import { app } from "../../../scripts/app.js";

app.registerExtension({
  name: "NewBie.EncodeInfo",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== "NewBieTextEncode") return;
    const created = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const result = created?.apply(this, arguments);
      const box = document.createElement("div");
      box.className = "newbie-info";
      box.style.cssText = "font: 12px sans-serif; white-space: pre-wrap; padding: 2px 4px;"
        + "color: var(--descrip-text, #aaa);";
      box.textContent = "Runs show the system prompt used and the Gemma token count here.";
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
