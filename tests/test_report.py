"""The HTML report: parsed (every paragraph once, every entity with its exact text, themes and
counts as in the JSONL), bad input named by file and line, and opened in a real headless browser."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from nlp.cli import main
from nlp.report.render import report_command
from nlp.tagging.output import read_output
from nlp.tagging.tag import tag_command
from tests.conftest import ROOT

REPORTS = {
    "fz.txt": "福州市科技局2019年工作总结\n一、知识产权工作\n全市专利授权量达到5200件，新增国家知识产权示范企业3家。\n"
              "二、产学研合作\n与福州大学签订产学研合作协议12项，技术合同成交额12亿元。\n",
    "xm.txt": "厦门市科技局2020年工作要点\n大力实施星火计划，推广农业新品种20个，选派科技特派员60名。\n"
              "新认定省级科技企业孵化器2家，众创空间4家。\n",
    "gl.txt": "鼓楼区科技局2021年上半年工作总结\n上半年，区科技局在福州市科技局指导下推进科技金融，科技支行发放贷款3亿元。\n",
    "anon.txt": "xx县科技局工作总结\n召开全局干部大会，学习贯彻会议精神。\n",
}


def write_reports(folder: Path) -> Path:
    folder.mkdir()
    for name, text in REPORTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tagged(tmp_path_factory, default_model):
    tmp = tmp_path_factory.mktemp("report")
    folder = write_reports(tmp / "in")
    out = tmp / "tagged.jsonl"
    assert tag_command([folder], default_model, out, progress="never") == 0
    page = tmp / "report.html"
    assert report_command([out], page) == 0
    return list(read_output(out)), page


def test_every_paragraph_once_with_its_themes_and_exact_entities(tagged):
    records, page = tagged
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    paragraphs = soup.select("div.para")
    assert sorted(p["data-pid"] for p in paragraphs) == sorted(r["id"] for r in records)
    by_id = {p["data-pid"]: p for p in paragraphs}
    marked = 0
    for record in records:
        node = by_id[record["id"]]
        assert node.select_one("span.text").get_text() == record["text"]
        assert [c["data-theme"] for c in node.select("span.chip")] == record["themes"]
        marks = node.select("mark.ent")
        assert [(m.get_text(), m["data-label"]) for m in marks] == [(e["text"], e["label"]) for e in record["entities"]]
        marked += len(marks)
    assert marked > 3


def test_counts_heat_map_places_and_years_agree_with_the_jsonl(tagged):
    records, page = tagged
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    header = soup.select_one("p.muted").get_text(" ", strip=True)
    assert f"{len({r['report_id'] for r in records})} reports" in header and f"{len(records)} paragraphs" in header
    themes = [th["data-sort"] for th in soup.select("#heat th.sortable")][1:]
    for row in soup.select("#heat tbody tr"):
        title = row.select_one("td a").get_text()
        mine = [r for r in records if r["report_title"] == title]
        assert int(row["data-count"]) == len(mine)
        cells = [a for a in row.select("td.cell a")]
        for theme, cell in zip(themes, cells):
            share = sum(theme in r["themes"] for r in mine) / len(mine)
            assert int(cell.get_text()) == round(100 * share) and cell["data-theme"] == theme
    places = {s["data-province"] for s in soup.select("section.report")}
    assert places == {"福建省", ""}
    years = sorted(s["data-yearkey"] for s in soup.select("section.report"))
    assert years == ["", "2019", "2020", "2021"]
    gl = next(s for s in soup.select("section.report") if "鼓楼区" in s.h3.get_text())
    assert "福建省/福州市/鼓楼区" in gl.get_text() and "2021上半年" in gl.get_text()


def test_the_page_needs_no_network(tagged):
    _, page = tagged
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    external = [t for t in soup.find_all(src=True) + soup.find_all(href=True)
                if (t.get("src") or t.get("href")).startswith(("http:", "https:", "//"))]
    assert not external and not soup.find_all("link", rel="stylesheet")
    assert "@font-face" in soup.style.get_text() and soup.select("#chart-themes svg")


def test_past_the_limit_the_texts_stop_and_the_page_says_so(tagged, tmp_path):
    records, _ = tagged
    source = tmp_path / "t.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    page = tmp_path / "r.html"
    assert report_command([source], page, max_paragraphs=3) == 0
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    assert len(soup.select("div.para")) == 3
    assert f"first 3 of {len(records)} paragraphs" in soup.select_one("#limit-note").get_text()
    assert int(soup.select("#heat tbody tr")[-1]["data-count"]) >= 1       # figures still count everything


def test_input_that_is_not_tagged_output_is_named_by_file_and_line(tagged, tmp_path, capsys):
    records, _ = tagged
    annotations = ROOT / "annotations" / "policy_reports.jsonl"
    assert main(["report", str(annotations), "--output", str(tmp_path / "x.html")]) == 1
    assert f"{annotations}:1: record without" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    rows = [dict(r) for r in records[:4]]
    del rows[2]["themes"]
    broken.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["report", str(broken), "--output", str(tmp_path / "y.html")]) == 1
    assert f"{broken}:3: record without themes" in capsys.readouterr().err
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n", encoding="utf-8")
    assert main(["report", str(garbage), "--output", str(tmp_path / "z.html")]) == 1
    assert f"{garbage}: not tagged output" in capsys.readouterr().err
    assert not any((tmp_path / n).exists() for n in ("x.html", "y.html", "z.html"))


def test_tag_writes_the_report_beside_its_output(default_model, tmp_path):
    source = tmp_path / "p.jsonl"
    source.write_text(json.dumps({"id": "a", "report_title": "福州市科技局2019年工作总结",
                                  "text": "全市专利授权量达到5200件。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["tag", str(source), "--model", str(default_model), "--output", str(tmp_path / "o.jsonl"),
                 "--html", str(tmp_path / "r.html"), "--progress", "never"]) == 0
    soup = BeautifulSoup((tmp_path / "r.html").read_text(encoding="utf-8"), "html.parser")
    assert [p["data-pid"] for p in soup.select("div.para")] == ["a"]
    assert [r["place"] for r in read_output(tmp_path / "o.jsonl")] == ["福建省/福州市"]


# -- a real browser --------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",   # no network at all
           "--hide-scrollbars", "--virtual-time-budget=5000"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (`make test` installs Debian's chromium)")
def test_in_a_headless_browser_offline_the_charts_draw_and_chinese_renders(tagged, tmp_path):
    import numpy as np
    from matplotlib.image import imread

    _, page = tagged
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([CHROMIUM, *OFFLINE, *profile, "--enable-logging=stderr", "--v=0", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    body = BeautifulSoup(dom.stdout, "html.parser").body
    assert body["data-ready"] == "yes"                  # the script ran to its end
    assert body["data-cjk-font"] == "yes"               # the embedded font loaded and has the characters
    assert body.select("#chart-themes svg path")
    errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not errors, errors
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *OFFLINE, *profile, "--window-size=1280,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    pixels = imread(shot)[..., :3]
    chart = pixels[200:700, 40:640]                     # the theme chart, top left of the overview
    ink = (chart.sum(axis=2) < 2.7).mean()
    assert ink > 0.03 and len(np.unique((chart * 8).astype(int).reshape(-1, 3), axis=0)) > 8
    if os.environ.get("POLICY_NLP_SCREENSHOT"):         # refresh the README's picture
        shutil.copy(shot, ROOT / "docs" / "report.png")


def test_an_excel_summary_holds_the_csv_rows(default_model, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    source = write_reports(tmp_path / "in")
    out = tmp_path / "o.jsonl"
    assert tag_command([source], default_model, out, summary=tmp_path / "s.csv", progress="never") == 0
    (tmp_path / "o.jsonl.progress").unlink()
    out.unlink()
    assert tag_command([source], default_model, out, summary=tmp_path / "s.xlsx", progress="never") == 0
    import csv

    expected = list(csv.reader((tmp_path / "s.csv").open(encoding="utf-8")))
    sheet = openpyxl.load_workbook(tmp_path / "s.xlsx").active
    def value(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return "" if v is None else str(v)

    got = [[value(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert got == [[value(v) for v in row] for row in expected] and expected[0][3:5] == ["place", "year"]
