"""Command handlers: each takes the parsed arguments and returns an exit status.

Handlers are imported lazily by :mod:`mason.cli` so that ``mason --help`` stays fast.
They may print (they are the CLI's voice); the library modules they call never do.
"""
