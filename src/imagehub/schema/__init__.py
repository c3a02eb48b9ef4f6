"""Plain data shared across layers: the wire models and what passes between service and providers.

`wire` holds the images API's request and response models exactly as OpenAI's spec and our API
page define them; `images` holds `ImageJob` (a validated request), `InputImage`,
`GeneratedImage` and `GenerationResult`; `events` holds what a streaming provider yields. No
behaviour lives here. May import `catalog` (a job carries its ModelSpec) and nothing else.
"""
