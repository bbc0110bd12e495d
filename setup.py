"""Optional compiled extensions: each has a pure-Python fallback, so an install without a C compiler still works."""

from setuptools import Extension, setup

EXTENSIONS = [
    # HAProxy's HTTP access-log lines completed per chunk (engine/haproxy/log_lines.py is the fallback).
    Extension("openclb.engine.haproxy._log_lines", ["openclb/engine/haproxy/_log_lines.c"], optional=True),
]

setup(ext_modules=EXTENSIONS)
