"""The founding example: a real web page holding four reports, read from ../shared."""
import re

import pytest

from nlp.reading.clean import is_junk_line
from nlp.reading.segment import read_paragraphs
from tests.conftest import SEED

pytestmark = pytest.mark.skipif(not SEED.is_file(), reason=f"{SEED} is missing: these tests read the real seed page "
                                                           "from ../shared (CI has it)")

TITLES = ["市科技局年度工作总结及下一年计划", "关于市科技局年度科学技术发展的工作总结",
          "市科技局年度工作总结", "市科技局2023年度工作总结"]


def test_seed_page_is_four_reports_with_their_titles(shared):
    paragraphs = read_paragraphs(SEED)
    reports = list(dict.fromkeys((p.report_id, p.report_title) for p in paragraphs))
    assert [title for _, title in reports] == TITLES
    assert all(p.paragraph_index == i for r, _ in reports
               for i, p in enumerate(q for q in paragraphs if q.report_id == r))


def test_seed_page_has_no_junk_paragraphs(shared):
    texts = [p.text for p in read_paragraphs(SEED)]
    junk = re.compile(r"欢迎光临|当前位置|发布时间|查看人数|推荐度|点击下载|文档为doc格式|相关市科技局信息|人关注|\[更多\]|^第\d篇")
    assert not [t for t in texts if junk.search(t)]
    assert "市科技局年度工作总结及下一年计划(四篇)" not in texts       # the page title repeated at the foot
    assert len(texts) == len(set(texts))                                  # the teaser repeating report 1 is gone
    assert not any(is_junk_line(t) for t in texts)


def test_seed_headings_are_recognised(shared):
    paragraphs = read_paragraphs(SEED)
    headings = {p.text for p in paragraphs if p.is_heading}
    assert "一、20xx年福州科技工作" in headings
    assert "(一)科技创新环境进一步优化" in headings
    assert "(四)国家知识产权示范城市工作效果明显" in headings
    ip = next(p for p in paragraphs if p.text.startswith("为了深化示范城市建设"))
    assert ip.heading_path == ["一、20xx年福州科技工作", "(四)国家知识产权示范城市工作效果明显"]
    assert not any(p.is_heading for p in paragraphs if len(p.text) > 80)
