"""The engine provider: the hub's client of `imagehub engine serve`, ranked by the load it reports."""
