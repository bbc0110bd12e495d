"""The action table: API action name → the handler that serves it.

An action of the spec that is not in this table is answered with UnsupportedOperation by the
gateway, never with a fake success. ``_ADMIN_ACTIONS`` are openclb's own admin service
(``api/admin.py``: snapshots and fault injection), dispatched through the same table.
"""

from __future__ import annotations

from functools import partial

from openclb.resources.access_logs import actions as access_logs
from openclb.resources.certificates import actions as certificate_actions
from openclb.resources.customized_config import actions as customized_config
from openclb.resources.faults import actions as faults
from openclb.resources.forwarding import actions as forwarding_rules, rewrites
from openclb.resources.functions import actions as functions
from openclb.resources.listeners import actions as listeners
from openclb.resources.load_balancers import actions as load_balancers, details
from openclb.resources.targets import actions as targets, batch as batch_targets
from openclb.resources.snat import actions as snat
from openclb.resources.state import actions as state
from openclb.resources.tasks import actions as task_status
from openclb.context import Handler
from openclb.resources.shared.services import Services

_ACTIONS = {
    "CreateLoadBalancer": load_balancers.create_load_balancer,
    "DescribeLoadBalancers": load_balancers.describe_load_balancers,
    "DescribeLoadBalancersDetail": details.describe_load_balancers_detail,
    "DeleteLoadBalancer": load_balancers.delete_load_balancer,
    "ModifyLoadBalancerAttributes": load_balancers.modify_load_balancer_attributes,
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
}


_ADMIN_ACTIONS = {
    "ExportState": state.export_state,
    "ImportState": state.import_state,
    "ResetState": state.reset_state,
    "InjectFault": faults.inject_fault,
    "DescribeFaults": faults.describe_faults,
    "ClearFaults": faults.clear_faults,
}


CLB_ACTIONS = frozenset(_ACTIONS)


def build_handlers(services: Services) -> dict[str, Handler]:
    return {action: partial(handler, services) for action, handler in {**_ACTIONS, **_ADMIN_ACTIONS}.items()}
