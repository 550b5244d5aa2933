"""A report's place and year, from made-up titles and first lines covering each pattern."""
import pytest

from nlp.reading.metadata import gazetteer, report_metadata

CASES = [
    # title, first lines, place, year, how the place was found, how the year was found
    ("福州市科技局2019年工作总结及2020年工作计划", [], "福建省/福州市", "2019—2020", "title: 福州市", "title"),
    ("厦门科技局工作要点", ["今年全市科技工作要点如下。"], "福建省/厦门市", "", "title: 厦门", None),
    ("鼓楼区科技局2023年上半年工作总结", ["上半年，区科技局在福州市科技局指导下开展工作。"],
     "福建省/福州市/鼓楼区", "2023上半年", "title and text: 鼓楼区", "title"),
    ("鼓楼区科技局工作总结", [], "鼓楼区", "", "title: 鼓楼区 (one of 4 places so named)", None),
    ("大兴区科学技术委员会2021—2022年工作总结", [], "北京市/大兴区", "2021—2022", "title: 大兴区", "title"),
    ("湖南省科学技术厅“十四五”工作要点", [], "湖南省", "十四五 (2021—2025)", "title: 湖南省", "title"),
    ("宁夏回族自治区科技厅2020年度工作情况", [], "宁夏回族自治区", "2020", "title: 宁夏回族自治区", "title"),
    ("关于市科技局年度科学技术发展的工作总结", ["二〇一九年，我局与福州大学签订合作协议。"], "", "2019", None, "text"),
    ("科技局下半年工作打算", [], "", "下半年", None, "title"),
    ("xx市科技局20xx年度工作总结", ["20xx年，全市科技工作稳步推进。"], "", "", None, None),
    ("中山大学与市科技局合作情况汇报", [], "", "", None, None),
    ("区科技局工作总结", ["合作市科技局2018年以来推进科技特派员工作。"], "甘肃省/甘南藏族自治州/合作市", "2018",
     "text: 合作市", "text"),
]


@pytest.mark.parametrize("title, lines, place, year, place_how, year_where", CASES)
def test_place_and_year_with_how_they_were_found(title, lines, place, year, place_how, year_where):
    found = report_metadata(title, lines)
    assert (found.place, found.year) == (place, year)
    assert found.found.get("place") == place_how
    assert (found.found["year"].split(":")[0] if year else None) == (year_where if year else None)


def test_the_file_name_is_read_last_and_said_to_be():
    found = report_metadata("", ["全年工作稳步推进。"], "泉州市科技局2021年工作总结.txt")
    assert (found.place, found.year) == ("福建省/泉州市", "2021")
    assert found.found == {"place": "file name: 泉州市", "year": "file name: 2021年"}


def test_a_place_in_the_body_counts_only_as_the_bureaus_own():
    assert report_metadata("科技局工作总结", ["与福州大学、厦门大学签订合作协议。"]).place == ""


def test_the_gazetteer_holds_every_level_with_its_parents():
    by_name, _ = gazetteer()
    levels = {p.level for places in by_name.values() for p in places}
    assert levels == {"province", "city", "county"}
    assert len({p.code for places in by_name.values() for p in places}) > 3000
    [fuzhou] = [p for p in by_name["福州"] if p.level == "city"]
    assert (fuzhou.province, fuzhou.name) == ("福建省", "福州市")
    assert all(p.province and (p.level == "province" or p.city) for places in by_name.values() for p in places)


def test_place_names_are_found_as_one_regex_of_all_names_finds_them(shared):
    """The name finder replaced a regex of all 3,500 names, longest first: same names, same ends."""
    import json
    import re

    by_name, finder = gazetteer()
    pattern = re.compile("|".join(sorted(map(re.escape, by_name), key=len, reverse=True)))
    texts = [json.loads(line)["text"] for name in ("excerpts.jsonl", "excerpts3.jsonl")
             for line in (shared / "corpus" / name).open(encoding="utf-8")]
    texts += ["", "北", "北京", "北京市海淀区科技局", "内蒙古自治区呼和浩特市", "鼓楼区鼓楼区", "xx市科技局"]
    found = 0
    for text in texts:
        expected = [(m.group(), m.end()) for m in pattern.finditer(text)]
        assert list(finder.finditer(text)) == expected, text
        found += len(expected)
    assert found > 300
