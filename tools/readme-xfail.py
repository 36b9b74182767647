#!/usr/bin/env python3
"""readme-xfail.py - regenerate the README's list of the tests the
user-space backend is expected to fail from tests/xfail_user.c.

One line per reason, in the order of the reason's first entry in the
xfail[] table: "- Reason: `test`, `test`."  The list follows the paragraph
that ends "... and is listed here." and runs to the next blank line.
Usage (from the top of the tree): tools/readme-xfail.py  (rewrites README.md)
"""
import re
import sys

src = open("tests/xfail_user.c").read()
reasons = {}
for m in re.finditer(r'static const char \*const (R_\w+) =\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', src):
    reasons[m.group(1)] = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
order, tests = [], {}
for name, r in re.findall(r'\{ "([^"]+)", &(R_\w+) \}', src):
    if r not in tests:
        order.append(r)
        tests[r] = []
    tests[r].append(name)
lines = []
for r in order:
    text = reasons[r]
    lines.append("- %s%s: %s." % (text[0].upper(), text[1:],
                                  ", ".join("`%s`" % t for t in tests[r])))
readme = open("README.md").read()
marker = "`require_module_counters()` and is listed here.\n\n"
start = readme.index(marker) + len(marker)
end = readme.index("\n\n", start)
readme = readme[:start] + "\n".join(lines) + readme[end:]
open("README.md", "w").write(readme)
sys.stdout.write("%d reasons, %d tests\n" % (len(order), sum(map(len, tests.values()))))
