"""The Tencent Cloud API 3.0 front door; knows nothing of backends."""
