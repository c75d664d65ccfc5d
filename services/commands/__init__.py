"""`lanewatch` subcommands, one module each: ``register(subparsers)`` adds it, ``run(args)`` does it."""
