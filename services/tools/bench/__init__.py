"""The benchmarks behind `lanewatch bench` (one module per kind, each with `register(sub)` and `run(args)`)."""
