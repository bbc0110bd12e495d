"""The tag service (2018-08-13) over CLB tags: the tags CreateLoadBalancer takes and DescribeLoadBalancers
shows are the ones TagResources, ModifyResourceTags, GetResources and the rest read and write.

Tags live in the CLB's settings (``LoadBalancerSettings.tags``), so they travel with the CLB row:
state snapshots carry them, ResetState and DeleteLoadBalancer remove them with the row.
"""
