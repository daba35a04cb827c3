"""The ``cjt`` subcommands, one module each: ``add_parser`` declares it, ``run`` does it.

Why one module per command: each imports only what it needs when it runs (``cjt --help``
and ``cjt status`` must not import trio, the simulator or matplotlib), and each stays small
enough to read at once. :mod:`cjt_actors.cli` assembles them.
"""

__all__: list[str] = []
