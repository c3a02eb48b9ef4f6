"""HTTP layer: routes, wire schemas and error rendering. No provider or storage logic here."""
