"""Export-shape conversion and UTF-16 offset repair: pure functions, no server."""
import io
import json
import zipfile

import pytest

from nlp.annotation.examples import check_record
from nlp.doccano.client import read_export
from nlp.doccano.convert import (BRIDGE_KEYS, content_hash, convert_record, merge_export, py_to_utf16,
                                 repair_span, spans_to_utf16, trim_span, upload_row, utf16_to_py)
from nlp.labels import load_labels

LABELS = load_labels()
RARE = "𠮷"          # outside the BMP: two UTF-16 units
TEXT = f"{RARE}市{RARE}科技局落实《科技创新券管理办法》。"
ORG = (TEXT.index("科技局"), TEXT.index("科技局") + 3, "ORG")
POLICY = (TEXT.index("科技创新券"), TEXT.index("》"), "POLICY")


# --- offsets ---------------------------------------------------------------------------------------

def test_utf16_offsets_count_astral_characters_twice():
    assert py_to_utf16(TEXT, 0) == 0
    assert py_to_utf16(TEXT, 1) == 2            # after one 𠮷
    assert py_to_utf16(TEXT, ORG[0]) == ORG[0] + 2
    for i in range(len(TEXT) + 1):
        assert utf16_to_py(TEXT, py_to_utf16(TEXT, i)) == i
    assert utf16_to_py(TEXT, 1) is None         # inside the surrogate pair of the first 𠮷
    assert utf16_to_py(TEXT, py_to_utf16(TEXT, len(TEXT)) + 1) is None


def test_span_drawn_in_the_ui_after_a_rare_character_is_moved_back():
    s16, e16 = py_to_utf16(TEXT, ORG[0]), py_to_utf16(TEXT, ORG[1])
    repair = repair_span(TEXT, s16, e16, "ORG")
    assert repair.span == ORG and not repair.rejected
    assert "UTF-16" in repair.note and "科技局" in repair.note


def test_span_without_astral_characters_before_it_is_untouched():
    text = "科技局落实政策。𠮷"
    assert repair_span(text, 0, 3, "ORG").span == (0, 3, "ORG")
    assert repair_span(text, 0, 3, "ORG").note == ""


def test_span_counted_in_characters_is_kept_when_utf16_reading_makes_no_sense():
    # Read as UTF-16, [2, 11] would be 《科技创新券管理办 (an unclosed title); as characters it is the title.
    text = f"{RARE}《科技创新券管理办法》"
    start, end = text.index("科"), text.index("》")
    repair = repair_span(text, start, end, "POLICY")
    assert repair.span == (start, end, "POLICY")
    assert "counted in characters" in repair.note
    # ... and when the UTF-16 reading would split a surrogate pair
    text = f"科技局{RARE}{RARE}"
    assert repair_span(text, 0, 4, "ORG").span == (0, 4, "ORG")   # UTF-16 4 is inside the first 𠮷


def test_span_past_the_end_in_both_readings_is_rejected():
    repair = repair_span("科技局", 2, 9, "ORG")
    assert repair.span is None and repair.rejected and "outside the text" in repair.note


def test_trim_span_drops_separators_marks_and_wrapping_quotes():
    text = "落实，《科技创新券管理办法》。"
    start = text.index("，")
    assert text[slice(*trim_span(text, start, len(text)))] == "科技创新券管理办法"
    text = "获得“全国科技进步先进市”称号"
    assert text[slice(*trim_span(text, text.index("“"), text.index("”") + 1))] == "全国科技进步先进市"


# --- export shapes ---------------------------------------------------------------------------------

def _check(record):
    errors = [m for sev, m in check_record(record, LABELS) if sev == "error"]
    assert not errors, errors


def test_intent_detection_export_with_nested_meta_and_bridge_keys():
    raw = {"id": 7, "text": TEXT, "meta": {"doc_id": "d1", "line": 3, "fold": 2}, "content_hash": "x",
           "report": "某市2015年工作总结", "model_scores": {"ip": 0.1}, "next_rank": 1,
           "cats": ["policy", "ip"], "entities": spans_to_utf16(TEXT, [ORG, POLICY]), "Comments": []}
    out = convert_record(raw, LABELS, "admin.jsonl:1")
    assert out.record == {"id": 7, "text": TEXT, "cats": ["ip", "policy"],
                          "entities": [list(ORG), list(POLICY)], "meta": {"doc_id": "d1", "line": 3, "fold": 2}}
    assert len(out.fixed) == 2 and all("example 7" in f and "UTF-16" in f for f in out.fixed)
    assert not out.rejected
    _check(out.record)


def test_document_classification_export():
    out = convert_record({"id": 1, "text": "加强知识产权保护。", "label": ["ip", "policy"], "Comments": []}, LABELS)
    assert out.record["cats"] == ["ip", "policy"] and out.record["entities"] == []
    out = convert_record({"id": 2, "text": "加强知识产权保护。", "label": "ip"}, LABELS)
    assert out.record["cats"] == ["ip"]


def test_sequence_labeling_export_with_spread_metadata_from_pandas():
    # doccano writes its export with pandas: a metadata column missing in some row turns ints into floats
    # and the missing cells into null.
    raw = {"id": 3, "text": "市科技局召开会议。", "doc_id": "d9", "line": 12.0, "group": None,
           "label": [[1, 4, "ORG"]], "Comments": []}
    out = convert_record(raw, LABELS, require_theme=False)
    assert out.record["entities"] == [[1, 4, "ORG"]]
    assert out.record["meta"] == {"doc_id": "d9", "line": 12}
    assert isinstance(out.record["meta"]["line"], int)
    assert out.record["cats"] == [] and not out.rejected
    # the annotation format wants a theme: pull rejects spans without one
    assert convert_record(raw, LABELS).record is None


def test_old_entities_objects_with_start_offset_and_data_key():
    raw = {"id": 4, "data": f"{RARE}市科技局召开会议。",
           "entities": [{"id": 11, "start_offset": 3, "end_offset": 6, "label": "ORG"}], "cats": ["other"]}
    out = convert_record(raw, LABELS)
    assert out.record["text"] == raw["data"]
    assert out.record["entities"] == [[2, 5, "ORG"]]        # UTF-16 3..6 is 科技局
    assert out.record["text"][2:5] == "科技局"


def test_record_level_problems_are_fixed_or_rejected_with_the_record_named():
    text = "市科技局和市财政局联合发布《资金管理办法》。"
    raw = {"id": 9, "text": text, "cats": ["other", "policy", "policy", "space"],
           "entities": [[1, 4, "ORG"], [1, 4, "ORG"], [2, 5, "ORG"], [5, 9, "PERSON"],
                        [13, 22, "POLICY"], [40, 44, "ORG"]]}
    out = convert_record(raw, LABELS, "ann1.jsonl:5")
    assert out.record["cats"] == ["policy"]
    assert out.record["entities"] == [[1, 4, "ORG"], [14, 20, "POLICY"]]
    joined = "\n".join(out.fixed + out.rejected)
    for expected in ("unknown theme 'space'", "duplicate theme 'policy'", "'other' given beside",
                     "duplicate span [1, 4, 'ORG']", "overlaps", "unknown label 'PERSON'", "trimmed to [14, 20]",
                     "outside the text"):
        assert expected in joined, expected
    assert all(m.startswith("ann1.jsonl:5: example 9") for m in out.fixed + out.rejected)
    _check(out.record)


def test_entities_without_a_theme_and_missing_text_are_rejected():
    out = convert_record({"id": 1, "text": "市科技局召开会议。", "cats": [], "entities": [[1, 4, "ORG"]]}, LABELS)
    assert out.record is None and "no theme" in out.rejected[0]
    out = convert_record({"id": 2, "text": "  ", "cats": ["ip"]}, LABELS)
    assert out.record is None and "no text" in out.rejected[0]


# --- whole exports -------------------------------------------------------------------------------

def _row(i, text, cats=(), entities=(), **meta):
    return {"id": i, "text": text, "meta": meta or {"n": i}, "content_hash": content_hash(text),
            "cats": list(cats), "entities": [list(e) for e in entities], "Comments": []}


def test_per_user_files_merge_agreeing_single_and_conflicting_annotators():
    texts = ["一段关于专利的话。", "一段关于孵化器的话。", "一段关于人才的话。", "一段没有标签的话。"]
    files = {
        "admin.jsonl": [_row(1, texts[0], ["ip"]), _row(2, texts[1]), _row(3, texts[2], ["talent"]),
                        _row(4, texts[3])],
        "ann1.jsonl": [_row(1, texts[0], ["ip"]), _row(2, texts[1], ["incubator"]),
                       _row(3, texts[2], ["policy"]), _row(4, texts[3])],
    }
    result = merge_export(files, LABELS)
    assert [r["id"] for r in result.records] == [1, 2]
    assert result.records[1]["cats"] == ["incubator"]
    assert result.unlabelled == 1
    assert len(result.conflicts) == 1 and "example 3" in result.conflicts[0] and "admin, ann1" in result.conflicts[0]
    only = merge_export(files, LABELS, annotator="ann1")
    assert [r["cats"] for r in only.records] == [["ip"], ["incubator"], ["policy"]]
    with pytest.raises(ValueError, match="admin, ann1"):
        merge_export(files, LABELS, annotator="nobody")


def test_collaborative_all_jsonl_is_taken_alone():
    files = {"all.jsonl": [_row(5, "一段关于专利的话。", ["ip"])], "stale.jsonl": [_row(5, "一段关于专利的话。", ["talent"])]}
    result = merge_export(files, LABELS)
    assert [r["cats"] for r in result.records] == [["ip"]] and result.sources == ["all.jsonl"]


def test_upload_row_then_doccano_export_round_trips_to_the_same_record():
    meta = {"doc_id": "d1", "line": 3, "origin": "rewrite", "group": "d1#1", "fold": 1}
    row = upload_row(TEXT, meta, ["ip", "policy"], [ORG, POLICY], {"report": "某报告"})
    assert row["entities"] == spans_to_utf16(TEXT, [ORG, POLICY]) != [list(ORG), list(POLICY)]
    assert row["content_hash"] == content_hash(TEXT)
    # what doccano's import + export do: extra columns become metadata, spread back at the top level
    exported = {"id": 42, "text": row["text"], **{k: v for k, v in row.items() if k not in ("text", "cats", "entities")},
                "cats": sorted(row["cats"]), "entities": sorted(map(tuple, row["entities"])), "Comments": []}
    back = convert_record(exported, LABELS).record
    assert back == {"id": 42, "text": TEXT, "cats": ["ip", "policy"], "entities": [list(ORG), list(POLICY)],
                    "meta": meta}
    with pytest.raises(ValueError):
        upload_row(TEXT, meta, display={"not_a_bridge_key": 1})
    assert "next_rank" in BRIDGE_KEYS


def test_read_export_unpacks_zip_of_jsonl(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("admin.jsonl", json.dumps(_row(1, "一段话。", ["ip"]), ensure_ascii=False) + "\n\n")
        z.writestr("ann1.jsonl", "")
    path = tmp_path / "export.zip"
    path.write_bytes(buffer.getvalue())
    files = read_export(path)
    assert files["admin.jsonl"][0]["cats"] == ["ip"] and files["ann1.jsonl"] == []
