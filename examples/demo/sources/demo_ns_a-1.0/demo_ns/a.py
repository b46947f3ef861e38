"""demo_ns.a: installed by the demo_ns_a package."""

NAME = "demo_ns.a"
