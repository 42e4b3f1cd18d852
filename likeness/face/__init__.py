"""Faces: detection and analysis, selection, swap, paste-back, restoration, face models."""
