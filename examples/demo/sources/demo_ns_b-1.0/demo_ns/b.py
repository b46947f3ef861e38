"""demo_ns.b: installed by the demo_ns_b package."""

NAME = "demo_ns.b"
