"""openclb's benchmarks: scripts run by hand (``make bench``, ``make bench-quick``), never tests.

Every measurement runs openclb as its own process next to its peers (the backend alone,
HAProxy) in the same run, so ratios compare like with like on the same noisy machine.
``benchmarks.run`` is the entry point; each area has its own module.
"""
