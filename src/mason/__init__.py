"""mason: build a software stack from source into one shared prefix, race-free."""

__version__ = "0.1.0"
