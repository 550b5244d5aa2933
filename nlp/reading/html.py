"""Visible body text of a web page, in one pass over its tags.

A tree parser is the wrong tool for hostile pages: lxml stops at 2,048 levels of nesting (and
drops the rest of the text), and cleaning a BeautifulSoup tree element by element grows with the
square of the depth. Here the standard library's ``HTMLParser`` only tokenizes, and a stack of
open elements decides what is kept: time is linear in the page's size, whatever its nesting.

Dropped: scripts, styles and the like, and page chrome marked by its id or class (nav, menu,
breadcrumbs, footer, share…). Block elements start and end a line. Text inside a chrome element
that is never closed is kept after all: broken markup should not swallow the report.
"""
import re
from html.parser import HTMLParser
from typing import Optional

_BLOCK = frozenset(["p", "div", "li", "ul", "ol", "tr", "table", "section", "article", "h1", "h2", "h3", "h4", "h5",
                    "h6", "br", "dd", "dt", "blockquote", "pre", "td", "th", "center", "hr", "body"])
_DROP = frozenset(["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "select",
                   "button", "head", "svg", "template", "title"])
_CODE = frozenset(["script", "style", "template", "svg", "noscript"])   # never text, even when left open
_VOID = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr"])
_CHROME = re.compile(r"(^|[-_ ])(nav|navbar|menu|breadcrumbs?|crumbs?|footer|header|sidebar|side|comments?|share|"
                     r"related|recommend|ad|ads|banner|copyright|login|toolbar|pager|pagination)($|[-_ ])", re.I)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        # while inside a dropped element: its tag, how deep that tag is nested in itself, and the
        # text seen inside (restored if the element is never closed)
        self.dropping: Optional[str] = None
        self.depth = 0
        self.held: list[str] = []
        self.code = 0     # how many script/style-like elements are open

    def _emit(self, text: str) -> None:
        (self.held if self.dropping else self.parts).append(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _CODE:
            self.code += 1
        if self.dropping:
            if tag == self.dropping:
                self.depth += 1
        elif tag not in _VOID and (tag in _DROP or self._is_chrome(attrs)):
            self.dropping, self.depth, self.held = tag, 1, []
            return
        if tag in _BLOCK:
            self._emit("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK:
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _CODE and self.code:
            self.code -= 1
        if self.dropping and tag == self.dropping:
            self.depth -= 1
            if self.depth == 0:
                self.dropping, self.held = None, []
                return
        if tag in _BLOCK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if not self.code:
            self._emit(data)

    @staticmethod
    def _is_chrome(attrs: list) -> bool:
        marks = " ".join(value for name, value in attrs if name in ("id", "class") and value)
        return bool(marks.strip()) and bool(_CHROME.search(marks))

    def text(self) -> str:
        self.close()
        return "".join(self.parts + self.held)


def html_to_text(markup: str) -> str:
    """Visible body text of a page, one block element a line; scripts, styles and page chrome dropped."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    return extractor.text()
