"""The local provider: a diffusers pipeline in the hub's own process, batched; torch loads only here."""
