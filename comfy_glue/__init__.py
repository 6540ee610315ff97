"""The boundary around ComfyUI: the only code that imports its internals (`comfy.*`,
`folder_paths`, `server`, `latent_preview`). Node classes (`nodes/`) call these
modules; the library (`newbie/`) never sees ComfyUI.

- model:       the transformer as a ComfyUI MODEL (BaseModel + ModelPatcher)
- sampling:    the official CFG as a GUIDER, the solvers as SAMPLERs, the sampling run
- clip:        the text encoders as a ComfyUI CLIP; the one NewBie encode path
- vae:         the FLUX VAE as ComfyUI's VAE; decode / encode in a chosen dtype
- lora:        LoRA files as ComfyUI weight patches
- model_files: model lists and names inside ComfyUI's model folders
- memory:      devices, unloading, out-of-memory errors
- routes:      the slot editor's HTTP route
"""
