"""NewBie-image-Exp0.1 as a library: prompts, models, loading, sampling.

Nothing in this package imports ComfyUI.
"""
