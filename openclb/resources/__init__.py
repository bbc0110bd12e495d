"""The action tables, one per service: API action name → the handler that serves it.

``_ACTIONS`` is CLB's table. The neighbouring services the Terraform provider calls on the same
endpoint have their own (``_TAG_ACTIONS``, ``_VPC_ACTIONS``, ``_SSL_ACTIONS``, ``_STS_ACTIONS``:
a resource package contributes a line per action it serves), and ``_ADMIN_ACTIONS`` are openclb's
own admin service (``api/admin.py``: snapshots and fault injection). An action of a service's
spec that is not in its table is answered with UnsupportedOperation by the gateway, never with a
fake success. ``build_handlers`` gives the gateway ``{service: {action: handler}}``.
"""

from __future__ import annotations

from functools import partial

from openclb.resources.addresses import actions as addresses
from openclb.resources.certificates import actions as certificate_actions, ssl_actions as ssl_certificates
from openclb.resources.faults import actions as faults
from openclb.resources.forwarding import actions as forwarding_rules, rewrites
from openclb.resources.identity import actions as identity
from openclb.resources.listeners import actions as listeners
from openclb.resources.load_balancers import actions as load_balancers, details, sla_project
from openclb.resources.targets import actions as targets, batch as batch_targets, by_backend
from openclb.resources.state import actions as state
from openclb.resources.tags import actions as tags
from openclb.resources.tasks import actions as task_status
from openclb.context import Handler
from openclb.resources.shared.services import Services

_ACTIONS = {
    "CreateLoadBalancer": load_balancers.create_load_balancer,
    "DescribeLoadBalancers": load_balancers.describe_load_balancers,
    "DescribeLoadBalancersDetail": details.describe_load_balancers_detail,
    "DeleteLoadBalancer": load_balancers.delete_load_balancer,
    "ModifyLoadBalancerAttributes": load_balancers.modify_load_balancer_attributes,
    "ModifyLoadBalancerSla": sla_project.modify_load_balancer_sla,
    "ModifyLoadBalancersProject": sla_project.modify_load_balancers_project,
    "CreateListener": listeners.create_listener,
    "DescribeListeners": listeners.describe_listeners,
    "ModifyListener": listeners.modify_listener,
    "DeleteListener": listeners.delete_listener,
    "DeleteLoadBalancerListeners": listeners.delete_load_balancer_listeners,
    "DescribeTaskStatus": task_status.describe_task_status,
    "DescribeQuota": task_status.describe_quota,
    "RegisterTargets": targets.register_targets,
    "DeregisterTargets": targets.deregister_targets,
    "DescribeTargets": targets.describe_targets,
    "DescribeTargetHealth": targets.describe_target_health,
    "DescribeLBListeners": by_backend.describe_lb_listeners,
    "ModifyTargetWeight": targets.modify_target_weight,
    "ModifyTargetPort": targets.modify_target_port,
    "BatchRegisterTargets": batch_targets.batch_register_targets,
    "BatchDeregisterTargets": batch_targets.batch_deregister_targets,
    "BatchModifyTargetWeight": batch_targets.batch_modify_target_weight,
    "CreateRule": forwarding_rules.create_rule,
    "DeleteRule": forwarding_rules.delete_rule,
    "ModifyRule": forwarding_rules.modify_rule,
    "ModifyDomain": forwarding_rules.modify_domain,
    "ModifyDomainAttributes": forwarding_rules.modify_domain_attributes,
    "ManualRewrite": rewrites.manual_rewrite,
    "AutoRewrite": rewrites.auto_rewrite,
    "DeleteRewrite": rewrites.delete_rewrite,
    "DescribeRewrite": rewrites.describe_rewrite,
    "ReplaceCertForLoadBalancers": certificate_actions.replace_cert_for_load_balancers,
    "DescribeLoadBalancerListByCertId": certificate_actions.describe_load_balancer_list_by_cert_id,
}


_ADMIN_ACTIONS = {
    "ExportState": state.export_state,
    "ImportState": state.import_state,
    "ResetState": state.reset_state,
    "InjectFault": faults.inject_fault,
    "DescribeFaults": faults.describe_faults,
    "ClearFaults": faults.clear_faults,
}


# tag 2018-08-13.
_TAG_ACTIONS = {
    "TagResources": tags.tag_resources,
    "UnTagResources": tags.un_tag_resources,
    "ModifyResourceTags": tags.modify_resource_tags,
    "DescribeResourceTagsByResourceIds": tags.describe_resource_tags_by_resource_ids,
    "DescribeResourcesByTags": tags.describe_resources_by_tags,
    "GetResources": tags.get_resources,
    "GetTagKeys": tags.get_tag_keys,
    "GetTagValues": tags.get_tag_values,
}

# vpc 2017-03-12: its types module (api/types_vpc.py) is generated for these and the security-group
# actions (api/codegen.py SOURCES); every other vpc action answers UnsupportedOperation.
_VPC_ACTIONS = {
    "DescribeAddresses": addresses.describe_addresses,
}

# ssl 2019-12-05.
_SSL_ACTIONS = {
    "UploadCertificate": ssl_certificates.upload_certificate,
    "DescribeCertificateDetail": ssl_certificates.describe_certificate_detail,
    "DescribeCertificates": ssl_certificates.describe_certificates,
    "DeleteCertificate": ssl_certificates.delete_certificate,
}

# sts 2018-08-13.
_STS_ACTIONS = {
    "GetCallerIdentity": identity.get_caller_identity,
}

_SERVICE_TABLES = {
    "clb": _ACTIONS,
    "tag": _TAG_ACTIONS,
    "vpc": _VPC_ACTIONS,
    "ssl": _SSL_ACTIONS,
    "sts": _STS_ACTIONS,
    "openclb": _ADMIN_ACTIONS,
}


CLB_ACTIONS = frozenset(_ACTIONS)


def build_handlers(services: Services) -> dict[str, dict[str, Handler]]:
    """``{service: {action: handler}}``, each handler bound to ``services``."""
    return {
        service: {action: partial(handler, services) for action, handler in table.items()}
        for service, table in _SERVICE_TABLES.items()
    }
