"""What this machine charges for waking from idle: a fixed piece of Python work, hot vs. after a sleep.

Why: a stream whose tokens are 20 ms apart wakes the gateway once per token from an idle core.
On virtual machines, the CPU time a task is charged for the same code grows a lot after an idle
period (cold caches and TLB, idle exits of the virtual CPU), so "CPU ms per slow stream" mixes
the gateway's code with the machine's wake-up cost. This measures that cost with no gateway
involved, on the core the gateway runs on, so the report can show both side by side.

Run pinned, e.g. ``taskset -c 0 python -m bench.calibrate``; prints one JSON line. With ``--serve``
it stays up and answers each ``probe`` line on stdin with the hot cost alone (a ~20 ms
measurement): the benchmark asks before every run, because the speed of a virtual core drifts
with what its neighbours on the host do, and a comparison between runs is only fair at equal speed.
"""

from __future__ import annotations

import json
import sys
import time

_EVENT = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "bench",
          "choices": [{"index": 0, "delta": {"content": "tok1 "}, "finish_reason": None}]}


def _work() -> None:
    """About one token's worth of Python on a hot core: encode and scan a few small events."""
    for _ in range(10):
        data = json.dumps(_EVENT).encode()
        data.find(b'"content"')


def cpu_per_iteration_us(sleep_s: float, iterations: int) -> float:
    """Process CPU time per ``_work()`` call, each one after ``sleep_s`` of sleep (0: back to back)."""
    start = time.process_time_ns()
    for _ in range(iterations):
        if sleep_s:
            time.sleep(sleep_s)
        _work()
    return (time.process_time_ns() - start) / iterations / 1000


def serve() -> None:
    """Answer ``probe`` lines with {"hot_us": ...} until stdin closes."""
    _work()
    for line in sys.stdin:
        if line.strip() == "probe":
            cpu_per_iteration_us(0.0, 100)  # the core was idle: warm it (caches, clock) before measuring
            print(json.dumps({"hot_us": cpu_per_iteration_us(0.0, 300)}), flush=True)


def main() -> None:
    if "--serve" in sys.argv[1:]:
        serve()
        return
    _work()
    result = {
        "hot_us": cpu_per_iteration_us(0.0, 4000),
        "after_1ms_sleep_us": cpu_per_iteration_us(0.001, 300),
        "after_20ms_sleep_us": cpu_per_iteration_us(0.02, 80),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
