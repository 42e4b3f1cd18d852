"""Model registry (models.yaml), downloads, and the bridge to ComfyUI's model folders."""
