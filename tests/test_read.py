"""Reading report files: formats, encodings, junk removal and clear errors."""
import json

import docx
import pytest

from nlp.cli import main
from nlp.reading.read import ReadError, decode
from nlp.reading.segment import read_paragraphs

REPORT = ("xx区科技局2023年工作总结\n"
          "一、主要工作成效\n"
          "(一)知识产权工作\n"
          "全年专利授权量达到1200件，其中发明专利210件，专利权质押融资1.5亿元。\n"
          "(二)孵化载体建设\n"
          "新认定市级众创空间3家，xx科技企业孵化器在孵企业增至85家。\n"
          "二、下一步工作打算\n"
          "一是加强高新技术企业培育。二是深化产学研合作。\n")


def texts(path):
    return [p.text for p in read_paragraphs(path)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16", "utf-16-le", "utf-16-be"])
def test_text_encodings_are_detected(tmp_path, encoding):
    path = tmp_path / f"report_{encoding}.txt"
    path.write_bytes(REPORT.encode(encoding))
    paragraphs = read_paragraphs(path)
    assert paragraphs[0].report_title == "xx区科技局2023年工作总结"
    assert [p.text for p in paragraphs][:3] == ["一、主要工作成效", "(一)知识产权工作",
                                               "全年专利授权量达到1200件，其中发明专利210件，专利权质押融资1.5亿元。"]


def test_headings_and_heading_path(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text(REPORT, encoding="utf-8")
    by_text = {p.text: p for p in read_paragraphs(path)}
    assert by_text["(一)知识产权工作"].is_heading
    assert by_text["(一)知识产权工作"].heading_path == ["一、主要工作成效"]
    body = by_text["新认定市级众创空间3家，xx科技企业孵化器在孵企业增至85家。"]
    assert not body.is_heading
    assert body.heading_path == ["一、主要工作成效", "(二)孵化载体建设"]
    assert by_text["一是加强高新技术企业培育。二是深化产学研合作。"].heading_path == ["二、下一步工作打算"]


def test_offsets_index_the_cleaned_report_text(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("ＸＸ市科技局工作总结\n\n　　２０２３年，全市专利授权１２００件。\n推荐度:\n", encoding="utf-8")
    paragraphs = read_paragraphs(path)
    report = "\n".join(p.text for p in paragraphs)
    assert [p.text for p in paragraphs] == ["2023年，全市专利授权1200件。"]   # full width folded, junk gone
    assert all(report[p.start:p.end] == p.text for p in paragraphs)


def test_html_keeps_body_text_only(tmp_path):
    page = """<html><head><title>t</title><style>.a{color:red}</style>
    <script>var tracking = "统计代码";</script></head><body>
    <nav>首页 | 新闻 | 政务公开</nav>
    <div class="breadcrumb">当前位置：首页 &gt; 工作总结 &gt; 正文</div>
    <div class="content"><p>xx县科技局工作要点</p><p>全年组织申报省级科技项目<b>36</b>项。</p>
    <p>推动科技特派员服务<br>覆盖全县所有行政村。</p></div>
    <div class="info">发布时间：2024-01-02 浏览次数：77</div>
    <footer>版权所有 xx县人民政府</footer></body></html>"""
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    paragraphs = read_paragraphs(path)
    assert [p.text for p in paragraphs] == ["全年组织申报省级科技项目36项。", "推动科技特派员服务", "覆盖全县所有行政村。"]
    assert paragraphs[0].report_title == "xx县科技局工作要点"


def test_html_in_gbk_with_meta_charset(tmp_path):
    path = tmp_path / "page.htm"
    path.write_bytes('<html><head><meta charset="gbk"></head><body><p>新建院士工作站两家。</p></body></html>'.encode("gbk"))
    assert texts(path) == ["新建院士工作站两家。"]


def test_docx(tmp_path):
    document = docx.Document()
    for line in REPORT.splitlines():
        document.add_paragraph(line)
    path = tmp_path / "report.docx"
    document.save(path)
    paragraphs = read_paragraphs(path)
    assert paragraphs[0].report_title == "xx区科技局2023年工作总结"
    assert "全年专利授权量达到1200件，其中发明专利210件，专利权质押融资1.5亿元。" in [p.text for p in paragraphs]


def test_jsonl_paragraphs_are_taken_as_is(tmp_path):
    long_line = "一、总体情况。" + "全年新增高新技术企业20家。" * 60 + "二、下一步打算。" + "加强科技金融工作。" * 20
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "a-7", "text": long_line, "district": "xx区"}, ensure_ascii=False) + "\n"
                    + json.dumps({"id": "a-8", "text": "推荐度:"}, ensure_ascii=False) + "\n", encoding="utf-8")
    paragraphs = read_paragraphs(path)
    assert [p.id for p in paragraphs] == ["a-7", "a-8"]
    assert paragraphs[0].text == long_line          # never re-split, never cleaned
    assert paragraphs[0].meta == {"district": "xx区"}


def test_long_run_on_line_is_split_at_inline_headings(tmp_path):
    line = ("一、工作成效。" + "全市科技工作稳步推进，" * 30 + "成效明显。二、存在问题。" + "创新投入仍然不足，" * 20
            + "需要加强。三、下一步打算。加大研发投入。")
    path = tmp_path / "farm.txt"
    path.write_text(line, encoding="utf-8")
    pieces = texts(path)
    assert len(pieces) == 3
    assert pieces[1].startswith("二、存在问题。") and pieces[2].startswith("三、下一步打算。")
    assert "".join(pieces) == line


def test_web_junk_lines_are_dropped(tmp_path):
    page = ("欢迎光临管理范文网\n当前位置: > 总结大全 > 年度总结\n县科技局工作总结\n"
            "发布时间:2024-05-06 07:40:02 查看人数:62\n"
            "今年全县新增省级农业科技园区1个。(未完,全文共3200字)\n"
            "推荐度:\n点击下载文档文档为doc格式\n相关县科技局信息\n县科技局工作总结(四篇)68人关注\n")
    path = tmp_path / "farm.txt"
    path.write_text("\n".join(["全县共建成科技特派员工作站12个。"] * 1) + "\n" + page, encoding="utf-8")
    assert texts(path) == ["全县共建成科技特派员工作站12个。", "今年全县新增省级农业科技园区1个。"]


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    (b"   \r\n\n", "empty file"),
    (b"\x81\x30\xff\xfe\xfd\x80\x80" * 20, "undecodable bytes"),
])
def test_bad_text_files_name_the_problem(tmp_path, content, problem):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ReadError) as error:
        read_paragraphs(path)
    assert problem in str(error.value) and str(path) in str(error.value)


def test_unknown_format_and_bad_jsonl(tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(ReadError, match="unknown format .pdf"):
        read_paragraphs(pdf)
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": 1, "text": "好"}\n{"id": 2, "text": \n', encoding="utf-8")
    with pytest.raises(ReadError, match="line 2: invalid JSON"):
        read_paragraphs(bad)
    not_docx = tmp_path / "fake.docx"
    not_docx.write_bytes(b"not a zip")
    with pytest.raises(ReadError, match="not a readable .docx"):
        read_paragraphs(not_docx)


def test_batch_goes_on_after_a_bad_file(tmp_path, capsys):
    (tmp_path / "a.txt").write_text(REPORT, encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"")
    (tmp_path / "c.txt").write_bytes(REPORT.encode("gb18030"))
    out = tmp_path / "out.jsonl"
    assert main(["paragraphs", str(tmp_path), "--output", str(out)]) == 1
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["source"] for r in records} == {str(tmp_path / "a.txt"), str(tmp_path / "c.txt")}
    assert set(records[0]) >= {"report_id", "report_title", "source", "paragraph_index", "start", "end",
                                "is_heading", "heading_path", "text"}
    assert f"{tmp_path / 'b.txt'}: empty file" in capsys.readouterr().err


def test_decode_prefers_utf8_then_gb18030():
    assert decode("科技".encode("utf-8")) == "科技"
    assert decode("科技".encode("gb18030")) == "科技"
    assert decode("\ufeff科技".encode("utf-8")) == "科技"


# -- hostile input: other encodings, hostile markup, broken Word files --------------------------------
FOREIGN = {
    "big5": "臺北市科技局2023年工作總結：全年專利授權量達到五千二百件，新增國家知識產權示範企業三家。",
    "shift_jis": "東京都の科学技術局は、2023年度の事業報告をまとめました。特許の出願件数は増加しました。",
    "euc-kr": "서울시 과학기술국은 2023년 업무 보고서를 발표했습니다. 특허 출원이 증가했습니다.",
}


@pytest.mark.parametrize("encoding", sorted(FOREIGN))
def test_big5_shift_jis_and_euc_kr_text_come_out_as_written(tmp_path, encoding):
    path = tmp_path / f"r_{encoding}.txt"
    path.write_bytes(FOREIGN[encoding].encode(encoding))
    assert "".join(texts(path) or [p.report_title for p in read_paragraphs(path)]) in FOREIGN[encoding] or \
        read_paragraphs(path)[0].report_title == FOREIGN[encoding]
    assert decode(FOREIGN[encoding].encode(encoding)) == FOREIGN[encoding]


def test_a_page_that_declares_big5_is_read_as_big5(tmp_path):
    page = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=big5"><title>t</title></head>'
            '<body><h1>某縣科技局工作總結</h1><p>全年專利授權量達到一千件，新增科技企業孵化器兩家。</p></body></html>')
    path = tmp_path / "page.html"
    path.write_bytes(page.encode("big5"))
    assert texts(path) == ["全年專利授權量達到一千件，新增科技企業孵化器兩家。"]


def test_a_decoding_full_of_private_use_characters_is_refused():
    from nlp.reading.read import implausible_share

    big5 = FOREIGN["big5"].encode("big5")
    assert implausible_share(big5.decode("gb18030")) > 0.1        # what strict GB18030 made of it before
    assert implausible_share(decode(big5)) == 0.0


def test_gb18030_text_is_still_read_as_gb18030_at_every_length():
    text = "全市专利授权量达到5200件，新增国家知识产权示范企业3家，推动产学研合作，科技特派员下乡服务。"
    for n in (12, 25, 60, len(text)):
        assert decode(text[:n].encode("gb18030")) == text[:n]


@pytest.mark.parametrize("shape", ["nested", "unclosed", "nested chrome"])
def test_deeply_nested_pages_keep_their_text(tmp_path, shape):
    # 100,000 levels: a tree parser drops the text (lxml stops at 2,048) or takes minutes (a BeautifulSoup
    # clean-up walks every subtree); the one-pass extractor keeps it
    inner = "<p>全年新增高新技术企业十二家，专利授权量一千件。</p>"
    page = {"nested": "<div>" * 100_000 + inner + "</div>" * 100_000,
            "unclosed": "<span><b>" * 50_000 + inner,
            "nested chrome": '<div class="nav">' * 1000 + "首页" + "</div>" * 1000 + "<div>" * 50_000 + inner}[shape]
    path = tmp_path / "deep.html"
    path.write_text(f"<html><body><h1>某县科技局工作总结</h1>{page}</body></html>", encoding="utf-8")
    assert texts(path) == ["全年新增高新技术企业十二家，专利授权量一千件。"]


def test_an_unclosed_chrome_element_does_not_swallow_the_report(tmp_path):
    path = tmp_path / "p.html"
    path.write_text('<html><body><h1>某县科技局工作总结</h1><div class="share">分享到<p>全年专利授权量一千件。</p>'
                    '</body></html>', encoding="utf-8")
    assert "全年专利授权量一千件。" in texts(path)


def _broken_docx(path):
    import zipfile

    good = path.with_name("good.docx")
    document = docx.Document()
    document.add_paragraph("全年专利授权量一千件。")
    document.save(good)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, b"<w:document><w:body><w:p>" if item.filename == "word/document.xml" else data)
    good.unlink()
    return path


def test_a_docx_with_malformed_xml_is_a_read_error_naming_the_file(tmp_path):
    path = _broken_docx(tmp_path / "broken.docx")
    with pytest.raises(ReadError, match="broken.docx: not a readable .docx file"):
        read_paragraphs(path)


def test_jsonl_lines_are_split_at_newlines_only(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"text": "第一段\u2028仍是第一段"}\n{"text": "第二段"}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(ReadError, match="line 3: expected an object"):   # U+2028 does not shift line numbers
        read_paragraphs(path)
    path.write_text('{"text": "第一段\u2028仍是第一段"}\n{"text": "第二段"}\n', encoding="utf-8")
    assert [p.text for p in read_paragraphs(path)] == ["第一段\u2028仍是第一段", "第二段"]


def test_the_same_file_named_twice_is_read_once(tmp_path):
    from nlp.reading.read import iter_files

    (tmp_path / "in").mkdir()
    report = tmp_path / "in" / "a.txt"
    report.write_text(REPORT, encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(report)
    found = list(iter_files([report, tmp_path / "in" / ".." / "in" / "a.txt", tmp_path / "in", tmp_path / "link.txt"]))
    assert found == [report]
