"""The HTTP layer: routes, wire parsing, auth, admission, SSE framing and error rendering.

Owns everything that knows about requests and responses: FastAPI routers, multipart and JSON
bodies, the OpenAI error shape, CORS, docs, the fast path. It hands validated wire models to
`service` and renders what comes back; it holds no provider, pricing or storage logic. May import
every layer below it (`service` and what the service uses); never `app`, `cli` or `engine`.
"""
