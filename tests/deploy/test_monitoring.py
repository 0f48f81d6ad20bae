"""The alerts and the Grafana dashboard read metrics the services really export: every
``casestream_*`` name in their expressions is registered once the services' modules are
imported (a renamed metric would leave an alert that never fires). The manifests render."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY

from .deploy_files import DEPLOY

MONITORING = DEPLOY / "k8s" / "monitoring"
# Where the services define metrics of their own, besides casestream.metrics.
MODULES = [
    "casestream.metrics",
    "notify_svc.recording",
    "automation_svc.timers",
]
SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def exported() -> set[str]:
    for module in MODULES:
        importlib.import_module(module)
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name, *(family.name + suffix for suffix in SUFFIXES)}
    return names


def expressions() -> list[str]:
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    found = [rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    found += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    return found


def test_every_metric_the_alerts_and_dashboard_read_is_exported() -> None:
    names = exported()
    used = {m for e in expressions() for m in re.findall(r"\bcasestream_\w+", e)}
    assert len(used) >= 8
    missing = sorted(used - names)
    assert not missing, f"read but exported by no service: {missing}"


def test_every_alert_says_what_to_do() -> None:
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yaml").read_text())
    for rule in rules["spec"]["groups"][0]["rules"]:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert len(rule["annotations"]["description"]) > 40, rule["alert"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl kustomize")
def test_the_monitoring_manifests_render() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(MONITORING)], capture_output=True, text=True, check=True
    ).stdout
    kinds = [doc["kind"] for doc in yaml.safe_load_all(rendered) if doc]
    assert sorted(kinds) == ["ConfigMap", "PrometheusRule", "ServiceMonitor"]
