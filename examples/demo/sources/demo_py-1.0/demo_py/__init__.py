"""demo_py: a pure-Python package of mason's demo catalog, built into a wheel."""

VERSION = "1.0"


def greeting() -> str:
    return f"demo_py {VERSION}"
