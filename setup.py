"""Compiled parts of openclb, each optional: without a C compiler they are skipped and the Python
code they speed up runs instead (the same output; tests compare the two)."""

from setuptools import Extension, setup

EXTENSIONS = [
    # The access log's HTTP request lines (engine/embedded/http_access_log.py falls back to Python).
    Extension("openclb.engine.embedded._access_lines",
              ["openclb/engine/embedded/_access_lines.c", "openclb/engine/embedded/_access_records.c"],
              depends=["openclb/engine/embedded/_access_log.h"], optional=True),
    # HAProxy's HTTP access-log lines completed per chunk (engine/haproxy/log_lines.py falls back to Python).
    Extension("openclb.engine.haproxy._log_lines", ["openclb/engine/haproxy/_log_lines.c"], optional=True),
]

setup(ext_modules=EXTENSIONS)
