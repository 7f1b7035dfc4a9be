"""The Grafana dashboard queries only series and labels the gateway really exports.

Every PromQL expression of the dashboard (panel targets, nested panels of collapsed rows and
template variable queries) is read with a small tokenizer: each ``llm_router_*`` name must be a
series of the catalogue in ``llm_router_api/observability/metrics.py`` as a scrape shows it
(counters by their ``_total`` name, histograms as ``_bucket``/``_sum``/``_count``), and each label
in a selector, a ``by (...)``/``without (...)`` clause or ``label_values(series, label)`` must be
one that series has (``le`` only on ``_bucket``).
"""

import json
import re
from pathlib import Path

import pytest

from llm_router_api.observability.metrics import SERIES

DASHBOARD_PATH = Path(__file__).resolve().parents[2] / "resources" / "grafana" / "llm-router-dashboard.json"
DATASOURCE = "${datasource}"
METRIC_NAME = re.compile(r"llm_router_[a-z0-9_]+")


def exported_series() -> dict[str, tuple[str, frozenset[str]]]:
    """Every series name a scrape shows -> (the catalogue name it comes from, its label names)."""
    exported = {}
    for name, (kind, _help, labels, _extra) in SERIES.items():
        labels = frozenset(labels)
        if kind == "histogram":
            exported[name + "_bucket"] = (name, labels | {"le"})
            exported[name + "_sum"] = (name, labels)
            exported[name + "_count"] = (name, labels)
        elif kind == "counter":
            exported[name if name.endswith("_total") else name + "_total"] = (name, labels)
        else:
            exported[name] = (name, labels)
    return exported


EXPORTED = exported_series()


# ---------------------------------------------------------------------------------------------
# A small PromQL reader: enough to find series names, selectors and grouping clauses.

TOKEN = re.compile(r"""
      (?P<space>\s+)
    | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<var>\$\{[^}]*\}|\$\w+)                  # Grafana variables: $model, ${datasource}
    | (?P<number>\d[\w.]*)                         # numbers and durations: 0.95, 5m
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>(){}\[\],@])
""", re.VERBOSE)
MATCHERS = {"=", "!=", "=~", "!~"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
CLOSING = {"(": ")", "[": "]", "{": "}"}


class PromQLError(ValueError):
    pass


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(expr):
        found = TOKEN.match(expr, pos)
        if not found:
            raise PromQLError(f"cannot read {expr[pos:pos + 20]!r}")
        if found.lastgroup != "space":
            tokens.append((found.lastgroup, found.group()))
        pos = found.end()
    return tokens


def bracket_pairs(tokens: list[tuple[str, str]]) -> dict[int, int]:
    """Index of each opening bracket -> index of its closing one, and the other way round."""
    pairs, stack = {}, []
    for i, (_kind, text) in enumerate(tokens):
        if text in CLOSING:
            stack.append(i)
        elif text in CLOSING.values():
            if not stack or CLOSING[tokens[stack[-1]][1]] != text:
                raise PromQLError(f"unbalanced {text!r}")
            opening = stack.pop()
            pairs[opening], pairs[i] = i, opening
    if stack:
        raise PromQLError(f"unclosed {tokens[stack[-1]][1]!r}")
    return pairs


def text_at(tokens: list[tuple[str, str]], i: int) -> str:
    return tokens[i][1] if 0 <= i < len(tokens) else ""


def series_between(tokens: list[tuple[str, str]], start: int, end: int) -> list[str]:
    return [text for kind, text in tokens[start:end] if kind == "ident" and text.startswith("llm_router_")]


def label_list(tokens: list[tuple[str, str]], opening: int, closing: int) -> list[str]:
    """The label names of ``(a, b)`` or of the matchers of ``{a="x", b=~"y"}``."""
    inner = tokens[opening + 1:closing]
    if tokens[opening][1] == "(":
        return [text for kind, text in inner if kind == "ident"]
    return [text for j, (kind, text) in enumerate(inner) if kind == "ident" and text_at(inner, j + 1) in MATCHERS]


def labels_of(names: list[str]) -> set[str]:
    return set().union(*(EXPORTED[name][1] for name in names if name in EXPORTED))


def aggregated_span(tokens: list[tuple[str, str]], pairs: dict[int, int], at: int) -> tuple[int, int] | None:
    """Token span aggregated by the ``by``/``without`` at ``at``: ``sum by (l) (<span>)`` or ``sum (<span>) by (l)``."""
    if text_at(tokens, at - 1) in AGGREGATIONS:
        after = pairs[at + 1] + 1
        if text_at(tokens, after) == "(":
            return after, pairs[after]
    if text_at(tokens, at - 1) == ")" and text_at(tokens, pairs[at - 1] - 1) in AGGREGATIONS:
        return pairs[at - 1], at - 1
    return None


def check_expression(expr: str) -> list[str]:
    """What is wrong with ``expr`` against the catalogue: unknown series, labels a series lacks."""
    try:
        tokens = tokenize(expr)
        pairs = bracket_pairs(tokens)
    except PromQLError as error:
        return [f"{error} in {expr!r}"]
    problems = []
    for i, (kind, text) in enumerate(tokens):
        following = text_at(tokens, i + 1)
        if kind == "ident" and text.startswith("llm_router_"):
            if not METRIC_NAME.fullmatch(text) or text not in EXPORTED:
                problems.append(f"unknown series {text}")
            elif following == "{":
                for label in label_list(tokens, i + 1, pairs[i + 1]):
                    if label not in EXPORTED[text][1]:
                        problems.append(f"{text} has no label {label!r}")
        elif text == "{" and not text_at(tokens, i - 1).startswith("llm_router_"):
            problems.append(f"selector on no series of the gateway: {text_at(tokens, i - 1) or '(none)'}{{...}}")
        elif kind == "ident" and text in ("by", "without") and following == "(":
            span = aggregated_span(tokens, pairs, i)
            if span is None:
                problems.append(f"cannot tell what {text} (...) aggregates")
                continue
            series = series_between(tokens, *span)
            for label in label_list(tokens, i + 1, pairs[i + 1]):
                if label not in labels_of(series):
                    problems.append(f"{text} ({label}) over {', '.join(series) or 'no series'}: no such label")
        elif kind == "ident" and text == "label_values" and following == "(":
            problems += check_label_values(tokens, i + 1, pairs[i + 1])
    return problems


def check_label_values(tokens: list[tuple[str, str]], opening: int, closing: int) -> list[str]:
    """``label_values(series{...}, label)``: the label must be one of that series."""
    depth, comma = 0, None
    for j in range(opening + 1, closing):
        text = tokens[j][1]
        depth += text in CLOSING
        depth -= text in CLOSING.values()
        if text == "," and depth == 0:
            comma = j
    if comma is None:
        return ["label_values(label) without a series: cannot check the label"]
    label = text_at(tokens, comma + 1)
    series = series_between(tokens, opening + 1, comma)
    if not series:
        return [f"label_values(..., {label}) on no series of the gateway"]
    return [f"label_values: {name} has no label {label!r}" for name in series
            if name in EXPORTED and label not in EXPORTED[name][1]]


def check_legend(expr: str, legend: str) -> list[str]:
    """``{{label}}`` in a legend must survive the query: in its ``by`` clauses, else on its series."""
    tokens = tokenize(expr)
    pairs = bracket_pairs(tokens)
    grouped = [label for i, (_kind, text) in enumerate(tokens)
               if text == "by" and text_at(tokens, i + 1) == "("
               for label in label_list(tokens, i + 1, pairs[i + 1])]
    available = set(grouped) if grouped else labels_of(series_between(tokens, 0, len(tokens)))
    return [f"legend {{{{{label}}}}} is not in the result of {expr!r}"
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend) if label not in available]


# ---------------------------------------------------------------------------------------------
# The dashboard.

DASHBOARD = json.loads(DASHBOARD_PATH.read_text())


def walk(panels: list[dict]):
    """Every panel, those nested in (collapsed) rows included."""
    for panel in panels:
        yield panel
        yield from walk(panel.get("panels", []))


PANELS = list(walk(DASHBOARD["panels"]))
QUERY_VARIABLES = [var for var in DASHBOARD["templating"]["list"] if var["type"] == "query"]


def variable_query(var: dict) -> str:
    query = var["query"]
    return query["query"] if isinstance(query, dict) else query


def queries() -> list[tuple[str, str, str]]:
    """(where, expression, legend) of every query of the dashboard."""
    found = []
    for panel in PANELS:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"],
                          target.get("legendFormat", "")))
    for var in QUERY_VARIABLES:
        found.append((f"variable {var['name']}", variable_query(var), ""))
        found.append((f"variable {var['name']} definition", var.get("definition", ""), ""))
    return found


QUERIES = queries()


@pytest.mark.parametrize("where,expr,legend", QUERIES, ids=[where for where, _, _ in QUERIES])
def test_query_uses_only_exported_series_and_their_labels(where, expr, legend):
    assert expr.strip(), f"{where}: empty query"
    assert check_expression(expr) == []
    assert check_legend(expr, legend) == []


def test_every_catalogue_series_is_on_a_panel():
    shown = {EXPORTED[name][0]
             for panel in PANELS for target in panel.get("targets", [])
             for name in METRIC_NAME.findall(target["expr"]) if name in EXPORTED}
    assert sorted(set(SERIES) - shown) == []


def test_panels_have_a_title_a_datasource_and_unique_ids():
    ids = [panel["id"] for panel in PANELS]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in PANELS:
        assert panel.get("title", "").strip(), f"panel {panel['id']} has no title"
        assert panel.get("datasource", {}).get("uid") == DATASOURCE, panel["title"]
        if panel["type"] != "row":
            assert panel.get("targets"), f"{panel['title']!r} has no query"
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == DATASOURCE, panel["title"]


def test_dashboard_settings_and_variables():
    assert DASHBOARD["refresh"] == "30s"
    assert 36 <= DASHBOARD["schemaVersion"] <= 41
    assert DASHBOARD["id"] is None and DASHBOARD["uid"]
    variables = {var["name"]: var for var in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("model", "provider"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == DATASOURCE
        assert re.fullmatch(rf"label_values\(llm_router_\w+(\{{.*\}})?, {name}\)", variable_query(variables[name]))


def test_derived_names_match_a_real_scrape(monkeypatch):
    """The names the checker accepts are those prometheus_client really writes (``_created`` aside)."""
    from llm_router_api.observability.metrics import Metrics

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    metrics = Metrics.create()
    for name, (kind, _help, labels, _extra) in SERIES.items():
        series = getattr(metrics, name.removeprefix("llm_router_"))
        series = series.labels(*["x"] * len(labels)) if labels else series
        getattr(series, {"counter": "inc", "gauge": "set", "histogram": "observe"}[kind])(1)
    body, _content_type = metrics.exposition()
    scraped = {}
    for line in body.decode().splitlines():
        sample = re.match(r"(\w+)(?:\{(.*)\})? ", line)
        if sample and not line.startswith("#") and not sample[1].endswith("_created"):
            scraped.setdefault(sample[1], set()).update(re.findall(r'(\w+)="', sample[2] or ""))
    assert scraped == {name: set(labels) for name, (_base, labels) in EXPORTED.items()}


def test_rate_windows_follow_grafana():
    for where, expr, _legend in QUERIES:
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert window in ("$__rate_interval", "$__range"), f"{where}: fixed window [{window}]"


# ---------------------------------------------------------------------------------------------
# The checker itself: it must find what is wrong, or the tests above prove nothing.

@pytest.mark.parametrize("expr,reported", [
    ("sum(rate(llm_router_request_total[5m]))", "unknown series llm_router_request_total"),
    ("llm_router_requests", "unknown series llm_router_requests"),
    ("llm_router_request_duration_seconds", "unknown series llm_router_request_duration_seconds"),
    ("rate(llm_router_queue_wait_seconds_bucket_total[5m])", "unknown series"),
    ('rate(llm_router_requests_total{provider="a"}[5m])', "llm_router_requests_total has no label 'provider'"),
    ('rate(llm_router_request_duration_seconds_sum{le="1"}[5m])', "has no label 'le'"),
    ("sum by (endpoint) (rate(llm_router_requests_total[5m]))", "by (endpoint)"),
    ("sum(rate(llm_router_failovers_total[5m])) by (provider)", "by (provider)"),
    ("histogram_quantile(0.95, sum by (le, route) (rate(llm_router_time_to_first_token_seconds_bucket[5m])))",
     "by (route)"),
    ("sum by (provider) (rate(llm_router_requests_total[5m]) / rate(llm_router_failovers_total[5m]))",
     "by (provider)"),
    ("sum without (provider) (llm_router_queue_length)", "without (provider)"),
    ("label_values(llm_router_requests_total, provider)", "has no label 'provider'"),
    ("label_values(model)", "without a series"),
    ('up{job="llm-router"}', "selector on no series"),
    ("sum(rate(llm_router_requests_total[5m])", "unclosed"),
])
def test_checker_reports_wrong_expressions(expr, reported):
    problems = check_expression(expr)
    assert any(reported in problem for problem in problems), problems


@pytest.mark.parametrize("expr", [
    "histogram_quantile(0.95, sum by (le, model) (rate(llm_router_queue_wait_seconds_bucket[$__rate_interval])))",
    'sum by (provider) (rate(llm_router_requests_total[5m]) + rate(llm_router_input_tokens_total{model=~"$m"}[5m]))',
    "sum(rate(llm_router_failovers_total[5m])) by (reason)",
    'label_values(llm_router_upstream_requests_total{model=~"$model"}, provider)',
    "max(llm_router_redis_degraded)",
])
def test_checker_accepts_right_expressions(expr):
    assert check_expression(expr) == []


def test_checker_reports_legend_labels_the_query_drops():
    expr = "sum by (model) (rate(llm_router_requests_total[5m]))"
    assert check_legend(expr, "{{model}}") == []
    assert check_legend(expr, "{{model}} {{status_class}}") != []
