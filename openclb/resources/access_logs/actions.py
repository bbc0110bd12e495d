"""CLS access logs: CreateClsLogSet, DescribeClsLogSet, CreateTopic, SetLoadBalancerClsLog.

openclb keeps the log sets and topics itself (no CLS service): a CLB bound to an ACCESS log
set and topic has every connection (L4) and request (L7) of its listeners written by the
engine as one JSON line into ``<data-dir>/logs/<logset-id>/<topic-id>.log``
(``engine/embedded/access_log.py``). The binding is a CLB setting, so SetLoadBalancerClsLog is
a task that reaches the data plane like any other write; unbinding stops the lines at once.
A HEALTH binding is kept and shown; health-check logs are not written.
"""

from __future__ import annotations

import uuid
from typing import Any

from openclb import errors
from openclb.context import RequestContext
from openclb.domain.models import AccountObject, TaskKind
from openclb.resources.access_logs import checks, queries, views
from openclb.resources.load_balancers import queries as lb_queries
from openclb.resources.load_balancers.settings import LoadBalancerSettings
from openclb.resources.shared.clock import sortable_now
from openclb.resources.shared.lookups import require_load_balancer
from openclb.resources.shared.services import Services

DEFAULT_LOGSET_NAME = "clb_logset"


async def create_cls_log_set(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    log_type = params.get("logset_type", "ACCESS")
    checks.check_log_type("LogsetType", log_type)
    name = params.get("logset_name") or DEFAULT_LOGSET_NAME
    checks.rules.check_free_text("LogsetName", name, 255)
    checks.rules.check_range("Period", params.get("period"), 1, checks.PERMANENT_PERIOD)
    checks.check_one_logset_per_type(await _logset(services, ctx, log_type), log_type)
    logset = AccountObject(str(uuid.uuid4()), ctx.app_id, ctx.region, queries.LOGSET, name, sortable_now(),
                           {"logset_type": log_type, "period": params.get("period", 30)})
    await services.db(queries.insert_object, services.store, logset)
    return {"LogsetId": logset.id}


async def describe_cls_log_set(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return views.logset_ids(await services.read(queries.list_objects, services.store, ctx.scope, queries.LOGSET))


async def create_topic(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    topic_type = params.get("topic_type", "ACCESS")
    checks.check_log_type("TopicType", topic_type)
    checks.check_topic_settings(params)
    logset = checks.require_logset(await _logset(services, ctx, topic_type), topic_type)
    topics = await services.read(queries.list_objects, services.store, ctx.scope, queries.TOPIC)
    checks.check_topic_name_free([t for t in topics if t.settings.get("logset_id") == logset.id], params["topic_name"])
    topic = AccountObject(str(uuid.uuid4()), ctx.app_id, ctx.region, queries.TOPIC, params["topic_name"],
                          sortable_now(), {
                              "logset_id": logset.id, "topic_type": topic_type,
                              "partition_count": params.get("partition_count", 1), "period": params.get("period", 30),
                              "storage_type": params.get("storage_type", "hot")})
    await services.db(queries.insert_object, services.store, topic)
    return {"TopicId": topic.id}


async def set_load_balancer_cls_log(services: Services, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    lb = await require_load_balancer(services, ctx, params["load_balancer_id"])
    log_type = params.get("log_type", "ACCESS")
    checks.check_log_type("LogType", log_type)
    logset_id, topic_id = params["log_set_id"], params["log_topic_id"]
    if checks.check_binding(logset_id, topic_id):
        logsets = await services.read(queries.list_objects, services.store, ctx.scope, queries.LOGSET)
        topics = await services.read(queries.list_objects, services.store, ctx.scope, queries.TOPIC)
        checks.check_topic_of(next((t for t in topics if t.id == topic_id), None),
                              next((s for s in logsets if s.id == logset_id), None), logset_id, topic_id, log_type)
    prefix = "log" if log_type == "ACCESS" else "health_log"
    settings = LoadBalancerSettings.of(lb).merged({f"{prefix}_set_id": logset_id, f"{prefix}_topic_id": topic_id})
    await services.start_task(
        ctx, TaskKind.MODIFY_LOAD_BALANCER, [lb.id],
        lambda task: lb_queries.modify_load_balancer(
            services.store, ctx.scope, lb.id, {"settings": settings.to_stored()}, task),
    )
    return {}


async def access_log_binding(services: Services, ctx: RequestContext, topic_id: str) -> dict[str, str]:
    """CreateLoadBalancer's ``AccessLogTopicId``: the CLB starts bound to that ACCESS topic and its log set."""
    topics = await services.read(queries.list_objects, services.store, ctx.scope, queries.TOPIC)
    topic = next((t for t in topics if t.id == topic_id and t.settings.get("topic_type") == "ACCESS"), None)
    if topic is None:
        raise errors.InvalidParameterValue(f"The ACCESS log topic `{topic_id}` does not exist.")
    return {"log_set_id": topic.settings["logset_id"], "log_topic_id": topic.id}


async def _logset(services: Services, ctx: RequestContext, log_type: str) -> AccountObject | None:
    logsets = await services.read(queries.list_objects, services.store, ctx.scope, queries.LOGSET)
    return next((s for s in logsets if s.settings.get("logset_type") == log_type), None)
