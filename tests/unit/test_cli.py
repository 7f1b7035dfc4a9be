import json
import subprocess
import sys
from pathlib import Path

from llm_router_api.cli import main


def test_config_check_ok(tmp_path, capsys):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"g": {"m": {"providers": [{"id": "a", "api_host": "http://h:1/"}]}},
                                "active_models": {"g": ["m"]}}))
    assert main(["config", "check", str(path)]) == 0
    assert "OK, 1 active model(s), 1 provider(s)" in capsys.readouterr().out


def test_config_check_lists_every_problem_and_exits_1(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"g": {"m": {"providers": [{"id": "a", "api_host": "nope", "weight": "x"}]}},
                                "active_models": {"g": ["m"]}}))
    done = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "config", "check", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "2 problem(s)" in done.stdout
    assert "$.g.m.providers[0].api_host:" in done.stdout and "$.g.m.providers[0].weight:" in done.stdout


def test_the_example_config_is_valid():
    example = Path(__file__).resolve().parents[2] / "resources/configs/models-config.json"
    assert main(["config", "check", str(example)]) == 0
