"""The rules of CLS log sets, topics and a CLB's binding to them (spec 2018-03-17 documents).

- CreateClsLogSet: ``LogsetType`` ACCESS (default) or HEALTH; a region holds one CLB log set
  per type (the "CLB exclusive logset"), so a second one is LimitExceeded.
- CreateTopic: ``TopicType`` ACCESS or HEALTH, ``PartitionCount`` 1-10 ("up to 10 partitions are
  allowed to be created"), ``Period`` 1-3600 days or 3640 (permanent), ``StorageType`` hot or cold;
  "the creation will fail if there is no CLB exclusive logset" (FailedOperation); a topic name
  is unique within its log set (InvalidParameterValue.Duplicate).
- SetLoadBalancerClsLog: ``LogType`` ACCESS or HEALTH; empty LogSetId and LogTopicId unbind,
  one empty and not the other is InvalidParameter; the topic must be of that log set and type.
"""

from __future__ import annotations

from openclb import errors
from openclb.domain.models import AccountObject
from openclb.resources.shared import checks as rules

LOG_TYPES = ("ACCESS", "HEALTH")
PERMANENT_PERIOD = 3640


def check_log_type(name: str, value: str) -> None:
    rules.check_enum(name, value, LOG_TYPES)


def check_one_logset_per_type(existing: AccountObject | None, log_type: str) -> None:
    if existing is not None:
        raise errors.LimitExceeded(
            f"This region already has the CLB {log_type} logset {existing.id}; a region holds one per type.")


def check_topic_settings(params: dict) -> None:
    rules.check_free_text("TopicName", params["topic_name"], 255)
    if not params["topic_name"]:
        raise errors.InvalidParameterValueLength("`TopicName` must not be empty.")
    rules.check_range("PartitionCount", params.get("partition_count"), 1, 10)
    period = params.get("period")
    if period is not None and period != PERMANENT_PERIOD:
        rules.check_range("Period", period, 1, 3600)
    rules.check_enum("StorageType", params.get("storage_type", "hot"), ("hot", "cold"))


def require_logset(logset: AccountObject | None, log_type: str) -> AccountObject:
    if logset is None:
        raise errors.FailedOperation(
            f"There is no CLB exclusive {log_type} logset in this region: create one with CreateClsLogSet first.")
    return logset


def check_topic_name_free(topics: list[AccountObject], name: str) -> None:
    if any(topic.name == name for topic in topics):
        raise errors.InvalidParameterValueDuplicate(f"The log topic name `{name}` already exists in this logset.")


def check_binding(logset_id: str, topic_id: str) -> bool:
    """Whether the call binds (both ids given) or unbinds (both empty); anything else is refused."""
    if bool(logset_id) != bool(topic_id):
        raise errors.InvalidParameter("`LogSetId` and `LogTopicId` are given together, or both empty to unbind.")
    return bool(logset_id)


def check_topic_of(topic: AccountObject | None, logset: AccountObject | None, logset_id: str, topic_id: str,
                   log_type: str) -> None:
    """The topic exists, belongs to the log set, and both are of the binding's log type."""
    if logset is None or logset.settings.get("logset_type") != log_type:
        raise errors.InvalidParameterValue(f"The {log_type} logset `{logset_id}` does not exist.")
    if topic is None or topic.settings.get("logset_id") != logset_id or topic.settings.get("topic_type") != log_type:
        raise errors.InvalidParameterValue(f"The {log_type} log topic `{topic_id}` does not exist in logset `{logset_id}`.")
