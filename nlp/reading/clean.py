"""Character normalisation and web-page junk rules.

The rules describe kinds of page furniture (breadcrumbs, publish-time and view-count lines,
download buttons, related-article lists, "to be continued" stubs), not one site's markup.
Normalisation maps one character to one character, so offsets survive it.
"""
from __future__ import annotations

import re

# Full-width ASCII letters, digits and a few symbols become half-width; CJK punctuation
# (，。；：（）) stays, because it is part of the register the models learn from.
_WIDTH = {0x3000: " ", 0x00A0: " ", 0x2002: " ", 0x2003: " ", 0x200B: " ", 0xFEFF: " ",
          0xFF05: "%", 0xFF0B: "+", 0xFF0D: "-", 0xFF0E: ".", 0xFF0F: "/", 0xFF1C: "<", 0xFF1E: ">",
          0xFF1D: "=", 0xFF20: "@", 0xFF06: "&", 0xFF03: "#"}
_WIDTH.update({c: chr(c - 0xFEE0) for c in range(0xFF10, 0xFF1A)})
_WIDTH.update({c: chr(c - 0xFEE0) for c in range(0xFF21, 0xFF3B)})
_WIDTH.update({c: chr(c - 0xFEE0) for c in range(0xFF41, 0xFF5B)})


def normalize_width(text: str) -> str:
    """Full-width letters/digits to half-width, odd spaces to a space; same length as the input."""
    return text.translate(_WIDTH)


_INLINE_JUNK = [
    re.compile(r"[(（]\s*未完\s*[,，]?\s*全文共\s*[\d,，]+\s*字\s*[)）]"),
    re.compile(r"(\.{2,}|…+)?\s*\[?(更多|查看全文|阅读全文|展开全文)\]?\s*$"),
    re.compile(r"\s*\d+\s*人(关注|浏览|阅读|下载)\s*$"),
]

_JUNK_LINE = [
    # breadcrumbs and banners
    re.compile(r"^(当前|您的|你的|您现在的|现在的?|所在)位置\s*[:：>]"),
    re.compile(r"^欢迎(光临|访问|来到|您)"),
    re.compile(r"^(首页|主页|网站首页|返回(顶部|首页|列表)?|上一篇|下一篇|上一页|下一页|打印(本页|此页)?|关闭(窗口|本页)?|收藏|分享到?)[\s:：]*"),
    # publish metadata
    re.compile(r"^(发布|发表|更新|上传|录入)(时间|日期)\s*[:：]"),
    re.compile(r"(查看|浏览|阅读|点击|访问)(人数|次数|量|数)\s*[:：]\s*\d+"),
    re.compile(r"^(来源|作者|编辑|责任编辑|信息来源|文章来源|字号|字体)\s*[:：]"),
    re.compile(r"^【?\s*(字体|字号|打印|关闭)\s*[:：】]"),
    # download buttons, ratings, related lists
    re.compile(r"^(推荐度|评分|星级)\s*[:：]?"),
    re.compile(r"(点击|免费|立即)?下载(本文|文档|全文|word|doc)|文档为\s*\w+\s*格式|^点击下载"),
    re.compile(r"^(相关|热门|最新|推荐|猜你喜欢|延伸阅读|精彩推荐|大家都在看)[\w\s]{0,12}(信息|文章|阅读|推荐|内容|范文|资料|链接|下载|排行)?\s*[:：]?$"),
    re.compile(r"^(第\s*\d+\s*页|共\s*\d+\s*页|\d+\s*/\s*\d+\s*页?)$"),
    # footers
    re.compile(r"版权所有|copyright|©|icp\s*备|公网安备|技术支持\s*[:：]", re.I),
]
_BREADCRUMB_SEPARATORS = re.compile(r"[>»›→]")
_NO_CONTENT = re.compile(r"^[\W\d_]*$")

# A related-articles block or a download button marks the end of the article body.
_TAIL_MARKER = re.compile(r"^(推荐度|点击下载|相关\S{0,12}(信息|文章|阅读|推荐|范文|下载)|猜你喜欢|上一篇|下一篇|延伸阅读)")


def strip_inline_junk(line: str) -> str:
    for pattern in _INLINE_JUNK:
        line = pattern.sub("", line)
    return line.strip()


def is_junk_line(line: str) -> bool:
    """True for a whole line of page furniture (never for a long body paragraph)."""
    if _NO_CONTENT.match(line):
        return True
    if len(line) > 120:
        return False
    if any(p.search(line) for p in _JUNK_LINE):
        return True
    return len(line) < 80 and len(_BREADCRUMB_SEPARATORS.findall(line)) >= 2


def is_tail_marker(line: str) -> bool:
    return bool(_TAIL_MARKER.match(line))
