"""A PostgreSQL outage while a task is finishing locks nothing: the task settles once the database is back.

The server runs on a database of its own, so the outage (``ALLOW_CONNECTIONS false`` and every
session of that database terminated) touches no other test. The task is held in the engine
(``delay_next_apply``) so the outage lands between its apply and its settle.
"""

from __future__ import annotations

import time

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from clb_support import checked, create_clb, create_listener, write
from conftest import make_settings, sdk_client, start_server
from outage import OwnDatabase


@pytest.fixture
def outage_database():
    database = OwnDatabase()
    yield database
    database.close()


def test_modify_listener_database_outage_while_task_runs_task_settles_and_clb_writable(tmp_path, outage_database):
    running = start_server(make_settings(tmp_path, outage_database.url, fault_injection=True))
    try:
        client = sdk_client(running.url)
        lb_id = create_clb(client, "outage")
        (listener_id,) = create_listener(client, lb_id, "TCP", [8901])
        running.server.engine.delay_next_apply(2.0)
        task_id = checked(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id,
                                                     "ListenerName": "during-outage"})["RequestId"]
        outage_database.cut()
        with pytest.raises(TencentCloudSDKException) as refused:
            client.call_json("DescribeLoadBalancers", {})
        assert refused.value.code
        time.sleep(3)
        outage_database.restore()
        deadline = time.monotonic() + 15
        status = 2
        while time.monotonic() < deadline:
            try:
                status = checked(client, "DescribeTaskStatus", {"TaskId": task_id})["Status"]
            except TencentCloudSDKException:
                status = 2
            if status != 2:
                break
            time.sleep(0.1)
        assert status == 0
        write(client, "ModifyListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id, "ListenerName": "after"})
        described = checked(client, "DescribeListeners", {"LoadBalancerId": lb_id})["Listeners"]
        assert [l["ListenerName"] for l in described] == ["after"]
    finally:
        running.stop()
