"""Qwen-Image-Edit on ComfyUI's native models: reference sizing, prompt layout, encode cache, presets, LoRAs."""
