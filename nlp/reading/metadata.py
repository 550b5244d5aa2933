"""A report's place and year, from its title and first lines, saying how each was found.

Place: the administrative divisions of ``places.tsv`` (built from the cpca package's codes by
``scripts/build_places.py``), full names (福州市, 鼓楼区) and short ones (福州) alike. The place a
bureau is named after (福州市科技局) wins; a name several places share (鼓楼区: four cities) is
settled by another name in the same text (福州), or left at the level that is certain.
Year: 2019年, 2019—2020年, 二〇一九年, 上半年/下半年, 十三五/十四五 (a period). The title is
read first, then the first lines; the file name only when both say nothing, and then it says so.
Anonymised names (xx市, 20xx年) are unknown, never guessed.
"""
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Iterable, Iterator, Optional

# short forms that are also everyday words or other names (中山大学, 合作, 东方…): full names only
_NOT_SHORT = {"中山", "合作", "东方", "和平", "长安", "永安", "开平", "新城", "城中", "城关", "市中", "江北", "南山", "北海",
              "白山", "吉林", "通化", "丰都", "普洱", "阿里", "海东", "海南", "海西", "河南", "河北", "山南", "大同", "安顺",
              "太平", "新华", "红旗", "胜利", "白云", "前进", "向阳", "建华", "铁东", "铁西", "立新", "新兴", "兴业"}
_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "自治州", "自治县", "自治旗", "地区",
             "新区", "林区", "特区", "省", "市", "区", "县", "盟", "旗")
_BUREAU = re.compile(r"^(?:人民政府)?(?:科学技术|科技|科学技术和工业信息化|科技和工业信息化|工业和科技|科学技术协会|科协)")
FIVE_YEAR = {"十一五": "2006—2010", "十二五": "2011—2015", "十三五": "2016—2020", "十四五": "2021—2025",
             "十五五": "2026—2030"}
_DIGITS = str.maketrans("〇零一二三四五六七八九", "00123456789")
_YEAR = r"((?:19|20)\d{2}|[一二][〇零一二三四五六七八九]{3})"
_RANGE = re.compile(_YEAR + r"\s*年?\s*[-—–~～至到]\s*" + _YEAR + r"\s*年")
_ONE = re.compile(_YEAR + r"\s*年(度)?\s*(上半年|下半年|第[一二三四]季度)?")
_HALF = re.compile(r"(上半年|下半年)")
_PERIOD = re.compile(r"[“\"「]?(十[一二三四五]五)[”\"」]?")


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    level: str       # province, city or county
    province: str
    city: str


@dataclass
class ReportMetadata:
    place: str = ""           # "福建省/福州市/鼓楼区", as far as it is certain; "" unknown
    year: str = ""            # "2019", "2019—2020", "2023上半年", "十四五 (2021—2025)"; "" unknown
    found: dict = field(default_factory=dict)   # how each was found: {"place": "title: 福州市", …}

    def as_dict(self) -> dict:
        return {"place": self.place, "year": self.year, "found": dict(self.found)}


@lru_cache(maxsize=1)
def gazetteer() -> tuple[dict, "NameFinder"]:
    """name → places, and a finder of every full and short name, longest first."""
    by_name: dict[str, list[Place]] = {}
    lines = (files("nlp.reading") / "places.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[2:]:
        code, name, level, province, city = line.split("\t")
        place = Place(code, name, level, province, city)
        forms = {name}
        if level in ("province", "city") and short_name(name) not in _NOT_SHORT:
            forms.add(short_name(name))     # 福建, 福州; counties by their full names only
        for form in forms:
            if len(form) >= 2:
                by_name.setdefault(form, []).append(place)
    return by_name, NameFinder(by_name)


class NameFinder:
    """The names of a set in a text, left to right, the longest at each place, not overlapping:
    what one regex of all the names, longest first, finds, at a tenth of its cost (a regex of
    3,500 alternatives tries each of them at every character)."""

    def __init__(self, names: Iterable[str]):
        self.names = set(names)
        self.lengths = sorted({len(n) for n in self.names}, reverse=True)
        self.heads = {n[:2] for n in self.names}       # every name has two characters or more

    def finditer(self, text: str) -> Iterator[tuple[str, int]]:
        """(name, where it ends) for each name found."""
        i, n = 0, len(text)
        while i < n - 1:
            if text[i:i + 2] in self.heads:
                for length in self.lengths:
                    if i + length <= n and text[i:i + length] in self.names:
                        yield text[i:i + length], i + length
                        i += length
                        break
                else:
                    i += 1
            else:
                i += 1


def short_name(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _path(place: Place) -> str:
    levels = [place.province] + ([place.city] if place.level in ("city", "county") and place.city != place.province
                                 else []) + ([place.name] if place.level == "county" else [])
    return "/".join(levels)


def find_place(text: str, bureau_only: bool = False) -> Optional[tuple[str, str]]:
    """(place path, the name it was found by) or None. The bureau's own place (the name right
    before 科技局 and the like) wins; else, unless ``bureau_only``, the first name."""
    by_name, finder = gazetteer()
    matches = list(finder.finditer(text))
    bureau = [name for name, end in matches if _BUREAU.match(text[end:])]
    if not bureau and (bureau_only or not matches):
        return None
    own = bureau[0] if bureau else matches[0][0]
    others = {name for name, _ in matches} - {own}
    candidates = by_name[own]

    def support(place: Place) -> int:   # other names in the text that are this place's province or city
        return sum(1 for other in others for p in by_name[other]
                   if p.level != "county" and p.name in (place.province, place.city))

    best = max(support(p) for p in candidates)
    chosen = [p for p in candidates if support(p) == best]
    if len(chosen) == 1:
        return _path(chosen[0]), own
    # still ambiguous: keep the levels all candidates share
    common = []
    for level in ("province", "city"):
        values = {getattr(p, level) if p.level != "province" else p.name for p in chosen}
        if len(values) != 1:
            break
        common.append(values.pop())
    leaf = chosen[0].name if len({p.name for p in chosen}) == 1 and chosen[0].level == "county" else ""
    shared = "/".join(dict.fromkeys([c for c in common if c] + ([leaf] if leaf and common else [])))
    return (shared or own), own + f" (one of {len(chosen)} places so named)"


def find_year(text: str) -> Optional[tuple[str, str]]:
    """(year or period, the words it was found by) or None."""
    match = _RANGE.search(text)
    if match:
        first, last = (match.group(i).translate(_DIGITS) for i in (1, 2))
        if first != last:
            return f"{first}—{last}", match.group()
    match = _ONE.search(text)
    if match:
        year = match.group(1).translate(_DIGITS)
        later = re.search(_YEAR + r"\s*年", text[match.end():])   # a summary of one year and the plan of the next
        if later and later.group(1).translate(_DIGITS) == str(int(year) + 1):
            return f"{year}—{int(year) + 1}", match.group() + "…" + later.group()
        return year + (match.group(3) or ""), match.group()
    match = _PERIOD.search(text)
    if match and match.group(1) in FIVE_YEAR:
        return f"{match.group(1)} ({FIVE_YEAR[match.group(1)]})", match.group()
    match = _HALF.search(text)
    if match:
        return match.group(1), match.group()
    return None


def report_metadata(title: str, lines: list[str], file_name: str = "") -> ReportMetadata:
    """Place and year of one report from its title, then its first lines, then the file name."""
    out = ReportMetadata()
    head = "\n".join(lines[:5])
    for where, text in (("title", title), ("text", head), ("file name", file_name)):
        if not text:
            continue
        if not out.place:
            # in the body, a place counts only as the bureau's (与福州大学合作 says nothing of where)
            found, how = find_place(text, bureau_only=where == "text"), where
            if found and where == "title" and "places so named" in found[1] and head:
                found, how = find_place(f"{title}\n{head}"), "title and text"   # the first lines may settle it
            if found:
                out.place, out.found["place"] = found[0], f"{how}: {found[1]}"
        if not out.year:
            found = find_year(text)
            if found:
                out.year, out.found["year"] = found[0], f"{where}: {found[1]}"
    return out
