"""openclb: a self-hosted load balancer that speaks the Tencent Cloud CLB API (2018-03-17)."""

__version__ = "0.1.0"
