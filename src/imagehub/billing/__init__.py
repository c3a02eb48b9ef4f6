"""Prices and what a request costs: quoted before the upstream call, settled after."""
