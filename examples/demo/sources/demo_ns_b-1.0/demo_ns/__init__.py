# demo_ns: a namespace package shared by demo_ns_a and demo_ns_b (pkgutil style).
__path__ = __import__("pkgutil").extend_path(__path__, __name__)
