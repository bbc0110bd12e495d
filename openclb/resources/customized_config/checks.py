"""The rules of customized configurations (spec 2018-03-17 documents of the eight actions).

- ``ConfigType`` is CLB, SERVER or LOCATION; ``ConfigName`` 1-80 characters; the content's
  directives are checked by ``directives.parse`` (one it cannot apply is refused by name).
- ``UconfigId``s name configurations of the account (InvalidParameter otherwise).
- A CLB-type configuration binds to a CLB by ``LoadBalancerId`` alone (the official example of
  AssociateCustomizedConfig; the spec's required ListenerId and Domain are for SERVER and
  LOCATION ones, see ``api/codegen.OPTIONAL_IN_PRACTICE``). A CLB holds one CLB configuration.
- A SERVER configuration binds to the rules of one domain of a listener (``ListenerId`` +
  ``Domain``), a LOCATION one to one rule (``ListenerId`` + ``LocationId``); a rule holds one.
  Only ``client_max_body_size`` and ``add_header`` apply at that level (nginx's server and
  location blocks; timeouts and TLS settings are the listener's): others are refused by name.
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


RULE_LEVEL = ("max_body_size", "added_headers")
_DIRECTIVE_OF = {"target_response_timeout": "proxy_read_timeout", "client_head_timeout": "client_header_timeout",
                 "idle_timeout": "keepalive_timeout", "tls_protocols": "ssl_protocols", "tls_ciphers": "ssl_ciphers"}


def check_level(config_type: str, directives) -> None:
    """SERVER and LOCATION configurations hold what a domain or a rule can have of its own."""
    if config_type == "CLB":
        return
    for name, directive in _DIRECTIVE_OF.items():
        if getattr(directives, name) is not None:
            raise errors.InvalidParameterValue(
                f"The directive `{directive}` applies to CLB configurations only, not to {config_type} ones.")


def rules_bound_by(config: AccountObject, item: dict, rules: list) -> list:
    """The rules of a listener a SERVER (by Domain) or LOCATION (by LocationId) binding names."""
    if config.settings["config_type"] == "LOCATION":
        require_given("BindList.LocationId", item.get("location_id"))
        chosen = [r for r in rules if r.id == item["location_id"]]
    else:
        require_given("BindList.Domain", item.get("domain"))
        chosen = [r for r in rules if item["domain"] in r.domains]
    if not chosen:
        raise errors.InvalidParameter(
            f"No forwarding rule of listener {item['listener_id']} matches "
            f"{item.get('location_id') or item.get('domain')}.")
    return chosen


def check_binds_by_load_balancer(config: AccountObject, bind_list: list[dict]) -> list[str]:
    """The CLB ids a CLB-type configuration (un)binds."""
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
    if config.settings.get("bindings"):
        raise errors.FailedOperation(f"The customized configuration {config.id} is bound to rules; unbind it first.")
    if config.settings.get("load_balancer_ids"):
        raise errors.FailedOperation(
            f"The customized configuration {config.id} is bound to {', '.join(config.settings['load_balancer_ids'])}; "
            "unbind it first.")
