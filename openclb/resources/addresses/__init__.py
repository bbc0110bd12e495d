"""The vpc service's DescribeAddresses: openclb models no elastic IPs, so every query finds none."""
