"""Identity: embed faces with a chosen backend, score outputs against the reference, gate and report."""
