"""The committed corpus, its checker, and the label config against the annotation guide."""
import collections
import json
import re

import pytest

from nlp.annotation.examples import check_file, read_examples
from nlp.cli import main
from nlp.labels import load_labels
from nlp.training.real_text import RealText
from tests.conftest import ROOT

CORPUS = ROOT / "annotations" / "policy_reports.jsonl"


def test_label_config_matches_the_guide(shared):
    guide = (shared / "ANNOTATION_GUIDE.md").read_text(encoding="utf-8")
    themes = re.findall(r"^\| `(\w+)` \| (\S+) \| (.+?) \| (.+?) \|$", guide, re.M)
    entities = re.findall(r"^\| `(ORG|PROGRAM|POLICY)` \| (.+?) \| (.+?) \|$", guide, re.M)
    raw = load_labels().raw
    assert [(t["id"], t["name"], t["covers"], t["excludes"]) for t in raw["themes"]] == themes
    assert [(e["id"], e["description"], e["examples"]) for e in raw["entities"]] == entities
    assert raw["exclusive"] == ["other"]


def test_committed_corpus_passes_the_checker():
    assert [str(p) for p in check_file(CORPUS)] == []
    assert main(["annotations", "check", str(CORPUS)]) == 0


def test_committed_corpus_meets_its_counts():
    examples = read_examples(CORPUS)
    assert len(examples) >= 600
    themes = collections.Counter(c for e in examples for c in e.cats)
    assert min(themes[t] for t in load_labels().themes) >= 40
    entities = collections.Counter(label for e in examples for _, _, label in e.entities)
    assert entities["ORG"] >= 400 and entities["PROGRAM"] >= 200 and entities["POLICY"] >= 80


def test_every_paragraph_names_a_real_paragraph(shared):
    real = RealText(shared)
    missing = [e.line for e in read_examples(CORPUS) if not real.paragraph(e.meta["doc_id"], e.meta["line"])]
    assert missing == []


def test_folds_group_whole_reports():
    folds = collections.defaultdict(set)
    for example in read_examples(CORPUS):
        folds[example.group].add(example.meta["fold"])
    assert all(len(f) == 1 for f in folds.values())


def test_checker_reports_each_problem_with_its_line(tmp_path, capsys):
    good = {"text": "xx市科技局组织实施星火计划。", "cats": ["agritech"], "entities": [[0, 5, "ORG"], [9, 13, "PROGRAM"]]}
    lines = [
        json.dumps(good, ensure_ascii=False),                                                   # 1 fine
        "{not json",                                                                            # 2
        json.dumps({**good, "text": "另一段", "cats": ["farming"], "entities": []}, ensure_ascii=False),  # 3
        json.dumps({**good, "text": "星火计划实施", "entities": [[0, 40, "PROGRAM"]]}, ensure_ascii=False),  # 4
        json.dumps({**good, "text": "实施《星火计划》", "entities": [[2, 8, "PROGRAM"]]}, ensure_ascii=False),  # 5
        json.dumps({**good, "text": "星火计划和火炬计划", "entities": [[0, 4, "PROGRAM"], [2, 6, "ORG"]]}, ensure_ascii=False),  # 6
        json.dumps({**good, "text": "第六段", "entities": [], "cats": ["other", "ip"]}, ensure_ascii=False),  # 7
        json.dumps({**good, "text": "  ", "entities": []}, ensure_ascii=False),                 # 8
        json.dumps(good, ensure_ascii=False),                                                   # 9 duplicate of 1
        json.dumps({**good, "text": "火炬计划", "entities": [[0, 4, "PROGRAM"], [0, 4, "PROGRAM"]]}, ensure_ascii=False),  # 10
        json.dumps({**good, "text": "第十一段", "entities": [[0, 2, "PERSON"]]}, ensure_ascii=False),  # 11
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected_lines = {2: "invalid JSON", 3: "unknown theme", 4: "out of range", 5: "wrapped",
                      6: "overlapping", 7: "combined", 8: "empty text", 9: "duplicate text", 10: "duplicate entity",
                      11: "unknown entity label"}
    messages = {p.line: p.message for p in check_file(path)}
    for line, words in expected_lines.items():
        assert any(words in p.message for p in check_file(path) if p.line == line), (line, words, messages.get(line))
    assert not any(p.line == 1 for p in check_file(path))
    assert main(["annotations", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2: error: invalid JSON" in out


def test_reading_a_bad_export_fails_naming_the_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "科技", "cats": ["nope"], "entities": []}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"x.jsonl:1: error: unknown theme 'nope'"):
        read_examples(path)


# -- check: hostile but valid-looking records --------------------------------------------------------
def _check(tmp_path, *records, raw: bytes = None):
    from nlp.annotation.examples import check_file

    path = tmp_path / "a.jsonl"
    path.write_bytes(raw if raw is not None else
                     "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
    return check_file(path)


def test_check_flags_a_span_that_reads_differently_in_utf16_units(tmp_path):
    text = "😀𠮷与省科技厅合作开展项目。"
    at = text.index("科技厅")
    # doccano's UTF-16 offsets of 科技厅 (two astral characters before it), stored as if they were characters
    problems = _check(tmp_path, {"text": text, "cats": ["cooperation"], "entities": [[at + 2, at + 5, "ORG"]]})
    assert any(p.severity == "warning" and "'厅合作'" in p.message and "'科技厅'" in p.message for p in problems)
    clean = _check(tmp_path, {"text": text, "cats": ["cooperation"], "entities": [[at - 1, at + 3, "ORG"]]})
    assert not [p for p in clean if "UTF-16" in p.message]


def test_check_refuses_booleans_as_offsets_and_says_when_start_is_after_end(tmp_path):
    problems = _check(tmp_path, {"text": "市科技局召开会议。", "cats": ["other"], "entities": [[True, 4, "ORG"]]},
                      {"text": "县科技局召开会议。", "cats": ["other"], "entities": [[4, 1, "ORG"]]})
    messages = [(p.line, p.message) for p in problems if p.severity == "error"]
    assert any(line == 1 and "whole-number offsets" in m for line, m in messages)
    assert any(line == 2 and "starts at or after its end" in m for line, m in messages)


def test_check_reads_a_bom_and_keeps_line_numbers_across_u2028(tmp_path):
    good = {"text": "市科技局召开会议\u2028并部署工作。", "cats": ["other"], "entities": [[0, 4, "ORG"]]}
    bad = {"text": "县科技局召开会议。", "cats": ["nonsense"], "entities": []}
    data = ("\ufeff" + json.dumps(good, ensure_ascii=False) + "\n" + json.dumps(bad, ensure_ascii=False) + "\n")
    problems = _check(tmp_path, raw=data.encode("utf-8"))
    assert [(p.line, p.severity) for p in problems] == [(2, "error")] and "unknown theme" in problems[0].message


def test_trimming_a_span_leaves_nothing_the_name_check_flags():
    from nlp.annotation.examples import span_shape_problem, trim_span

    for left in ["", " ", "，", "》", "“", "《", "（"]:
        for right in ["", "。", "、", "《", "”", "》", "）"]:
            text = f"{left}科技创新券{right}"
            start, end = trim_span(text, 0, len(text))
            assert not span_shape_problem(text[start:end]), (left, right, text[start:end])
