"""Who serves a job: deployments, the provider table, routing with fall-over, breakers and slots.

`deployments` reads the operator's configuration, `registry` is the provider table (one row per
upstream API), `providers/` holds one adapter per API family, `routing` picks a deployment and
falls over (skipping names past their shutdown date), `failures` turns the last failure into the
client's error, `circuit` and `slots` guard each deployment, `capacity` sizes a process,
`listing` reads an upstream's own model list, and `assembly` builds the Router from all of
them. Inside, imports go down that list. May import `billing` (per-deployment prices), `schema`,
`catalog`, `observability` and `errors`; never keys, storage, the service or HTTP.
"""
