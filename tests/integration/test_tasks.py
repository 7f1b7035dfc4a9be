"""Background tasks: built-in tasks submitted with ``"async": true``, their states and results in the
SQLite results database, read from any worker and after a restart; a task whose process died is
reported lost.
"""

from __future__ import annotations

import subprocess
import sys
import time

import requests

from llm_router_api.tasks.store import ResultsStore
from tests.conftest import provider, until


def _submit(gw, **body):
    return requests.post(f"{gw.url}/api/simplify_text", timeout=10,
                         json={"model_name": "bielik", "async": True, **body})


def _state(gw, task_id: str) -> dict:
    answer = requests.get(f"{gw.url}/api/tasks/{task_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["body"]


def test_a_task_is_accepted_at_once_runs_in_the_background_and_keeps_its_result(upstreams, gateway):
    up = upstreams(model="private", behaviour="slow", headers_delay=0.5)
    gw = gateway({"bielik": {"providers": [provider(up, "vllm-1", model_path="private")]}})
    started = time.monotonic()
    submitted = _submit(gw, texts=["echo:pierwszy", "echo:drugi"])
    assert submitted.status_code == 202 and time.monotonic() - started < 0.4  # before the model answered
    task_id = submitted.json()["body"]["task_id"]
    assert submitted.json()["body"]["state"] == "queued"
    assert _state(gw, task_id)["state"] in ("queued", "running")
    until(lambda: _state(gw, task_id)["state"] == "done", what="the task done")
    state = _state(gw, task_id)
    assert state["response"] == ["pierwszy", "drugi"] and state["route"] == "simplify_text"
    assert state["finished"] >= state["created"] and state["generation_time"] >= 0.5


def test_a_bad_body_is_refused_at_once_and_a_failing_task_keeps_its_error(upstreams, gateway):
    up = upstreams(model="private", behaviour="fail500")
    gw = gateway({"bielik": {"providers": [provider(up, "vllm-1", model_path="private")]}},
                 failover_max_attempts=1)
    refused = _submit(gw, texts=[])
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "texts"
    not_bool = _submit(gw, texts=["a"], **{"async": "yes"})
    assert not_bool.status_code == 400 and not_bool.json()["error"]["param"] == "async"

    task_id = _submit(gw, texts=["echo:x"]).json()["body"]["task_id"]
    until(lambda: _state(gw, task_id)["state"] == "failed", what="the task failed")
    state = _state(gw, task_id)
    assert state["status"] == 502 and state["error"]["code"] == "upstream_failed"
    assert "127.0.0.1" not in str(state)

    for unknown in ("0" * 32, "nope"):
        missing = requests.get(f"{gw.url}/api/tasks/{unknown}", timeout=10)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "task_not_found"


def test_results_are_shared_by_workers_and_survive_a_restart(upstreams, gateway_process):
    up = upstreams(model="private")
    models = {"bielik": {"providers": [provider(up, "vllm-1", model_path="private")]}}
    gw = gateway_process(models, LLM_ROUTER_SERVER_WORKERS_COUNT="3")
    ids = [_submit(gw, texts=[f"echo:tekst {i}"]).json()["body"]["task_id"] for i in range(12)]
    until(lambda: all(_state(gw, task_id)["state"] == "done" for task_id in ids), timeout=30,
          what="every task done, read through any worker")
    gw.process.terminate()
    assert gw.process.wait(30) == 0

    again = gateway_process(models, LLM_ROUTER_SERVER_WORKERS_COUNT="1")
    assert [_state(again, task_id)["response"] for task_id in ids] == [[f"tekst {i}"] for i in range(12)]


def test_a_task_whose_process_ended_is_reported_lost(tmp_path):
    path = tmp_path / "results.sqlite"
    # A task created by another process that then exits without finishing it (a killed worker).
    created = subprocess.run([sys.executable, "-c", "import sys; from llm_router_api.tasks.store import "
                              "ResultsStore; s = ResultsStore(sys.argv[1]); t = s.create('translate'); s.start(t); "
                              "print(t)", str(path)], capture_output=True, text=True, check=True, timeout=60)
    task_id = created.stdout.strip()
    store = ResultsStore(path)
    assert store.get(task_id).state == "lost"
    mine = store.create("translate")
    assert store.get(mine).state == "queued"  # this process is alive: its task is not lost
    store.finish(mine, {"response": "ok", "generation_time": 0.1})
    assert store.get(mine).state == "done" and store.get(mine).result == {"response": "ok", "generation_time": 0.1}
