"""Performance benchmarks of the gateway (not tests: nothing here is collected by pytest).

Run ``python -m bench.gateway_overhead`` from the repository root; see bench/README.md.
"""
