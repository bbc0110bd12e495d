"""``merge_counters``: one listener's counters from several data-plane workers, as the API sees them."""

from openclb.engine.embedded.workers import merge_counters


def worker_counters(total: int, per_target: tuple[int, int]) -> dict:
    return {"protocol": "HTTP", "vip": "127.0.0.5", "port": 8080, "end_port": None, "total": total, "active": 1,
            "rules": [{"location_id": "loc-1", "requests": total, "targets": [
                {"ip": "127.0.0.1", "port": 9001, "weight": 10, "total": per_target[0]},
                {"ip": "127.0.0.1", "port": 9002, "weight": 10, "total": per_target[1]}]}],
            "targets": [{"ip": "127.0.0.1", "port": 9001, "weight": 10, "total": per_target[0], "bytes_in": 5}]}


def test_merge_counters_two_workers_sum_numbers_and_keep_ports_and_weights():
    merged: dict = {}
    merge_counters(merged, worker_counters(3, (1, 2)))
    merge_counters(merged, worker_counters(4, (3, 1)))
    assert (merged["port"], merged["protocol"], merged["total"], merged["active"]) == (8080, "HTTP", 7, 2)
    (rule,) = merged["rules"]
    assert rule["requests"] == 7 and rule["location_id"] == "loc-1"
    assert [(t["port"], t["weight"], t["total"]) for t in rule["targets"]] == [(9001, 10, 4), (9002, 10, 3)]
    assert merged["targets"] == [{"ip": "127.0.0.1", "port": 9001, "weight": 10, "total": 4, "bytes_in": 10}]


def test_merge_counters_target_only_one_worker_knows_is_kept():
    merged: dict = {}
    merge_counters(merged, {"total": 1, "targets": []})
    merge_counters(merged, {"total": 1, "targets": [{"ip": "10.0.0.1", "port": 80, "weight": 5, "total": 1}]})
    assert merged == {"total": 2, "targets": [{"ip": "10.0.0.1", "port": 80, "weight": 5, "total": 1}]}
