"""Developer and site tooling around the services: the embedded stack, the demo and the benchmarks.

Nothing here runs in a production deployment; the runtime services (`services.ingest`, `crop`, `detect`,
`alert` on `services.runner`) never import it.
"""
