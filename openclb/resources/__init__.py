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
from openclb.resources.block_ips import actions as block_ips
from openclb.resources.certificates import actions as certificate_actions
from openclb.resources.connections import actions as connections
from openclb.resources.billing import actions as billing
from openclb.resources.certificates import actions as certificate_actions
from openclb.resources.classic import actions as classic
from openclb.resources.certificates import actions as certificate_actions, ssl_actions as ssl_certificates
from openclb.resources.faults import actions as faults
from openclb.resources.forwarding import actions as forwarding_rules, rewrites
from openclb.resources.identity import actions as identity
from openclb.resources.access_logs import actions as access_logs
from openclb.resources.certificates import actions as certificate_actions
from openclb.resources.customized_config import actions as customized_config
from openclb.resources.faults import actions as faults
from openclb.resources.forwarding import actions as forwarding_rules, rewrites
from openclb.resources.functions import actions as functions
from openclb.resources.listeners import actions as listeners
from openclb.resources.security_groups import binding as security_group_binding
from openclb.resources.security_groups.actions import VPC_SECURITY_GROUP_ACTIONS
from openclb.resources.load_balancers import actions as load_balancers, details, start_status
from openclb.resources.targets import actions as targets, batch as batch_targets
from openclb.resources.clone import actions as clone
from openclb.resources.load_balancers import actions as load_balancers, details
from openclb.resources.overview import actions as overview
from openclb.resources.targets import actions as targets, batch as batch_targets, tags as target_tags
from openclb.resources.snat import actions as snat
from openclb.resources.load_balancers import actions as load_balancers, details, sla_project
from openclb.resources.targets import actions as targets, batch as batch_targets, by_backend
from openclb.resources.state import actions as state
from openclb.resources.tags import actions as tags
from openclb.resources.target_groups import actions as target_groups, associations as target_group_associations
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
    "ModifyLoadBalancerSla": sla_project.modify_load_balancer_sla,
    "ModifyLoadBalancersProject": sla_project.modify_load_balancers_project,
    "DescribeLBListeners": by_backend.describe_lb_listeners,
    "CreateTargetGroup": target_groups.create_target_group,
    "DeleteTargetGroups": target_groups.delete_target_groups,
    "DescribeTargetGroups": target_groups.describe_target_groups,
    "DescribeTargetGroupList": target_groups.describe_target_group_list,
    "DescribeTargetGroupInstances": target_groups.describe_target_group_instances,
    "DescribeTargetGroupInstanceStatus": target_groups.describe_target_group_instance_status,
    "ModifyTargetGroupAttribute": target_groups.modify_target_group_attribute,
    "RegisterTargetGroupInstances": target_groups.register_target_group_instances,
    "DeregisterTargetGroupInstances": target_groups.deregister_target_group_instances,
    "ModifyTargetGroupInstancesPort": target_groups.modify_target_group_instances_port,
    "ModifyTargetGroupInstancesWeight": target_groups.modify_target_group_instances_weight,
    "AssociateTargetGroups": target_group_associations.associate_target_groups,
    "DisassociateTargetGroups": target_group_associations.disassociate_target_groups,
    "ModifyBlockIPList": block_ips.modify_block_ip_list,
    "DescribeBlockIPList": block_ips.describe_block_ip_list,
    "DescribeBlockIPTask": block_ips.describe_block_ip_task,
    "SetLoadBalancerStartStatus": start_status.set_load_balancer_start_status,
    "SetLoadBalancerSecurityGroups": security_group_binding.set_load_balancer_security_groups,
    "SetSecurityGroupForLoadbalancers": security_group_binding.set_security_group_for_loadbalancers,
    "CloneLoadBalancer": clone.clone_load_balancer,
    "BatchModifyTargetTag": target_tags.batch_modify_target_tag,
    "DescribeLoadBalancerTraffic": overview.describe_load_balancer_traffic,
    "DescribeLoadBalancerOverview": overview.describe_load_balancer_overview,
    "DescribeIdleLoadBalancers": overview.describe_idle_load_balancers,
    "DescribeResources": overview.describe_resources,
    "DescribeLBOperateProtect": overview.describe_lb_operate_protect,
    "DescribeCrossTargets": overview.describe_cross_targets,
    "DescribeClassicalLBByInstanceId": classic.describe_classical_lb_by_instance_id,
    "DescribeClassicalLBHealthStatus": classic.refuse_named_classic_clb,
    "DescribeClassicalLBListeners": classic.refuse_named_classic_clb,
    "DescribeClassicalLBTargets": classic.refuse_named_classic_clb,
    "RegisterTargetsWithClassicalLB": classic.refuse_named_classic_clb,
    "DeregisterTargetsFromClassicalLB": classic.refuse_named_classic_clb,
    "MigrateClassicalLoadBalancers": classic.migrate_classical_load_balancers,
    "InquiryPriceCreateLoadBalancer": billing.inquiry_price_create_load_balancer,
    "InquiryPriceModifyLoadBalancer": billing.inquiry_price_modify_load_balancer,
    "InquiryPriceRefundLoadBalancer": billing.inquiry_price_refund_load_balancer,
    "InquiryPriceRenewLoadBalancer": billing.inquiry_price_renew_load_balancer,
    "RenewLoadBalancers": billing.renew_load_balancers,
    "CreateClsLogSet": access_logs.create_cls_log_set,
    "DescribeClsLogSet": access_logs.describe_cls_log_set,
    "CreateTopic": access_logs.create_topic,
    "SetLoadBalancerClsLog": access_logs.set_load_balancer_cls_log,
    "CreateLoadBalancerSnatIps": snat.create_load_balancer_snat_ips,
    "DeleteLoadBalancerSnatIps": snat.delete_load_balancer_snat_ips,
    "AddCustomizedConfig": customized_config.add_customized_config,
    "ModifyCustomizedConfig": customized_config.modify_customized_config,
    "DeleteCustomizedConfig": customized_config.delete_customized_config,
    "DescribeCustomizedConfigList": customized_config.describe_customized_config_list,
    "DescribeCustomizedConfigAssociateList": customized_config.describe_customized_config_associate_list,
    "AssociateCustomizedConfig": customized_config.associate_customized_config,
    "DisassociateCustomizedConfig": customized_config.disassociate_customized_config,
    "SetCustomizedConfigForLoadBalancer": customized_config.set_customized_config_for_load_balancer,
    "RegisterFunctionTargets": functions.register_function_targets,
    "DeregisterFunctionTargets": functions.deregister_function_targets,
    "ModifyFunctionTargets": functions.modify_function_targets,
    "ModifyLoadBalancerSla": sla_project.modify_load_balancer_sla,
    "ModifyLoadBalancersProject": sla_project.modify_load_balancers_project,
    "DescribeLBListeners": by_backend.describe_lb_listeners,
}


_ADMIN_ACTIONS = {
    "ExportState": state.export_state,
    "ImportState": state.import_state,
    "ResetState": state.reset_state,
    "InjectFault": faults.inject_fault,
    "DescribeFaults": faults.describe_faults,
    "ClearFaults": faults.clear_faults,
    "DescribeTargetConnections": connections.describe_target_connections,
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
    **VPC_SECURITY_GROUP_ACTIONS,
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
