"""The sample suite's only set-up: load openclb's pytest plugin.

Where openclb is installed from its wheel (or `pip install -e .` after this change), the
plugin is found through its `pytest11` entry point and this line is not needed; it is kept so
the sample also runs from a source checkout. Both name the plugin `openclb.testing`, so pytest
loads it once either way.
"""

pytest_plugins = ["openclb.testing"]
