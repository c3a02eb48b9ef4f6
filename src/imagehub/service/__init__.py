"""The one orchestrator: validate, check limits, reserve, route, store, settle. No HTTP in here.

`validation` turns a wire request into an `ImageJob` by the catalog's rules; `succession` turns
a retired model's job into its successor's, and `fitting` gives the images back the asked size;
`generation` runs a whole request; `streaming` runs a streamed one from its first provider item
to its settlement.
May import every layer below it (`upstream`, `inputs`, `storage`, `accounts`, `billing`,
`schema`, `catalog`); only `api`, `engine` and `app` import it.
"""
