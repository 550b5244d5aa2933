"""The package as users install it: a non-editable wheel, used from outside the source tree."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CHECK = """
import importlib, json, pkgutil, sys
import nlp
from nlp.labels import load_labels
from nlp.resources import config_file
modules = [m.name for m in pkgutil.walk_packages(nlp.__path__, "nlp.") if not m.name.endswith("__main__")]
for name in modules:
    importlib.import_module(name)
print(json.dumps({"file": nlp.__file__, "modules": len(modules), "themes": list(load_labels().themes),
                  "configs": [config_file(n).is_file() for n in ("default.cfg", "textcat.cfg", "user_dict.txt")]}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp / "dist").glob("policy_nlp-*.whl"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                           str(tmp / "site"), str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    work = tmp / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp / "site")}
    env.pop("POLICY_NLP_SHARED", None)
    return tmp / "site", work, env


@pytest.mark.slow
def test_the_installed_package_finds_its_configs_from_any_folder(installed):
    site, work, env = installed
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert found["file"].startswith(str(site))                    # not the source tree
    assert found["modules"] >= 30 and found["configs"] == [True, True, True]
    labels = json.loads((ROOT / "configs" / "labels.json").read_text(encoding="utf-8"))
    assert found["themes"] == [t["id"] for t in labels["themes"]]


@pytest.mark.slow
def test_the_installed_package_tags_from_any_folder(installed, default_model):
    site, work, env = installed
    source = work / "r.txt"
    source.write_text("xx市科技局工作总结\n全市专利授权量达到5200件，新增国家知识产权示范企业3家。\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "nlp", "tag", "r.txt", "--model", str(default_model),
                           "--output", "out.jsonl", "--summary", "s.csv", "--progress", "never"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (work / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["report_title"] for r in records] == ["xx市科技局工作总结"] and "ip" in records[0]["themes"]


def test_real_text_commands_need_the_shared_folder_named(monkeypatch, tmp_path, capsys):
    from nlp.cli import main

    monkeypatch.delenv("POLICY_NLP_SHARED", raising=False)
    monkeypatch.chdir(tmp_path)          # ../shared from here is not looked for
    assert main(["annotations", "stats", str(ROOT / "annotations" / "real_dev.jsonl")]) == 1
    assert "give --shared DIR" in capsys.readouterr().err
