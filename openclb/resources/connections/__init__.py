"""DescribeTargetConnections: live connection counts of the account's real servers (admin API)."""
