"""imagehub: one OpenAI-compatible image generation API in front of every image model."""

__version__ = "0.1.0"
