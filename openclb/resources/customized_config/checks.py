"""The rules of customized configurations (spec 2018-03-17 documents of the eight actions).

- ``ConfigType`` is CLB, SERVER or LOCATION; ``ConfigName`` 1-80 characters; the content's
  directives are checked by ``directives.parse`` (one it cannot apply is refused by name).
- ``UconfigId``s name configurations of the account (InvalidParameter otherwise).
- A CLB-type configuration binds to a CLB by ``LoadBalancerId`` alone (the official example of
  AssociateCustomizedConfig; the spec's required ListenerId and Domain are for SERVER and
  LOCATION ones, see ``api/codegen.OPTIONAL_IN_PRACTICE``). A CLB holds one CLB configuration.
- SERVER and LOCATION configurations are kept and listed; binding them to a domain or a rule is
  not carried out by openclb's engines yet, and is refused as UnsupportedOperation.
- A bound configuration is unbound before it is deleted (FailedOperation otherwise).
- SetCustomizedConfigForLoadBalancer's ``OperationType`` is ADD, DELETE, UPDATE, BIND or UNBIND;
  ADD and UPDATE need ConfigName and ConfigContent, the others UconfigId, BIND and UNBIND
  LoadBalancerIds.
"""

from __future__ import annotations

from openclb import errors
from openclb.domain.models import AccountObject, LoadBalancer
from openclb.resources.shared import checks as rules

CONFIG_TYPES = ("CLB", "SERVER", "LOCATION")
OPERATIONS = ("ADD", "DELETE", "UPDATE", "BIND", "UNBIND")


def check_config_type(value: str) -> None:
    rules.check_enum("ConfigType", value, CONFIG_TYPES)


def require_config(configs: dict[str, AccountObject], config_id: str | None) -> AccountObject:
    if not config_id:
        raise errors.MissingParameter("`UconfigId` is required for this operation.")
    found = configs.get(config_id)
    if found is None:
        raise errors.InvalidParameter(f"The customized configuration `{config_id}` does not exist.")
    return found


def require_given(name: str, value) -> None:
    if value is None or value == [] or value == "":
        raise errors.MissingParameter(f"`{name}` is required for this operation.")


def check_binds_by_load_balancer(config: AccountObject, bind_list: list[dict]) -> list[str]:
    """The CLB ids a CLB-type configuration (un)binds; SERVER/LOCATION bindings are not carried out."""
    if config.settings["config_type"] != "CLB":
        raise errors.UnsupportedOperation(
            f"Binding a {config.settings['config_type']} customized configuration to a domain or rule is not "
            "supported by this load balancer; CLB configurations bind to a load balancer.")
    for item in bind_list:
        if item.get("listener_id") or item.get("domain") or item.get("location_id"):
            raise errors.InvalidParameter(
                "A CLB customized configuration binds to a load balancer: give `LoadBalancerId` only.")
    return list(dict.fromkeys(item["load_balancer_id"] for item in bind_list))


def check_bindable(lb: LoadBalancer, bound_id: str, config_id: str) -> None:
    if bound_id and bound_id != config_id:
        raise errors.InvalidParameterValue(
            f"The load balancer {lb.id} already has the customized configuration {bound_id}; unbind it first.")


def check_unbound(config: AccountObject) -> None:
    if config.settings.get("load_balancer_ids"):
        raise errors.FailedOperation(
            f"The customized configuration {config.id} is bound to {', '.join(config.settings['load_balancer_ids'])}; "
            "unbind it first.")
