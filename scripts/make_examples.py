#!/usr/bin/env python3
"""Write the bundled example reports from the project's own corpus paragraphs.

Two reports of the corpus, in their original order, wrapped as real input arrives: a web
page with navigation, breadcrumbs, scripts, publish metadata and a related-articles list;
and a plain-text file in GB18030 with a title line. The text is our own re-expressed wording.
"""
import html
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
rows = [json.loads(line) for line in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]


def report(group):
    return [r["text"] for r in sorted((r for r in rows if r["meta"]["group"] == group and r["meta"]["origin"] == "rewrite"),
                                      key=lambda r: r["meta"]["line"])]


body = "\n".join(f"<p>{html.escape(t)}</p>" for t in report("000_d1176b456afaead3#1"))
page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>xx市科技局年度工作总结</title>
<style>p {{ text-indent: 2em; }}</style><script>var _hmt = _hmt || []; console.log("统计代码");</script></head>
<body>
<div class="header">欢迎访问范文资料网 | 登录 | 注册</div>
<nav><a href="/">首页</a> <a href="/zj/">总结大全</a> <a href="/jh/">工作计划</a></nav>
<div class="breadcrumb">当前位置: 首页 &gt; 总结大全 &gt; 年度总结</div>
<h1>xx市科技局年度工作总结及下一年计划</h1>
<div class="info">发布时间:2024-03-18 09:12:45 浏览次数:318</div>
<div class="content">
{body}
</div>
<p>推荐度:</p><p><a href="#">点击下载文档</a>文档为doc格式</p>
<div class="related"><h3>相关科技局信息</h3><ul><li>区科技局上半年工作总结(三篇)</li><li>县科技局工作要点 52人关注</li></ul></div>
<footer>版权所有 范文资料网 京ICP备00000000号</footer>
<script>document.write("广告");</script>
</body></html>
"""
out = ROOT / "examples"
out.mkdir(exist_ok=True)
(out / "xx市科技局年度工作总结.html").write_text(page, encoding="utf-8")
text = "市科技局年度工作总结\n\n" + "\n\n".join(report("000_d1176b456afaead3#3")) + "\n"
(out / "市科技局年度工作总结_gb18030.txt").write_bytes(text.encode("gb18030"))
print("wrote", *sorted(p.name for p in out.iterdir()))
