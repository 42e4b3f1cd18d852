"""LoRA-training datasets: images with captions, metadata.jsonl and square face crops."""
