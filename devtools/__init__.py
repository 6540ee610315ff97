"""Helpers for tests, benchmarks and the main job: tiny random-weight model files in the
real layouts, a real ComfyUI server, workflow conversion, graph builders."""
