"""The OpenAI images API (and any server that speaks it): whole answers and SSE streams."""
