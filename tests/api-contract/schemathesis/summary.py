"""Prints a schemathesis log shortly: one line per operation with its failures (check code,
status, the first line of detail), then schemathesis' own summary. scripts/api-contract."""

import collections
import re
import sys

text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
failures = text.split("\n=================================== FAILURES", 1)
if len(failures) == 2:
    body = failures[1].split("\n===", 1)[0]
    sections = re.split(r"\n_{3,} (.+?) _{3,}\n", body)
    for i in range(1, len(sections), 2):
        operation, cases = sections[i], sections[i + 1]
        found = collections.Counter()
        for case in re.split(r"(?:^|\n)\d+\. Test Case ID: \w+\n", cases)[1:]:
            status = re.search(r"\n\[(\d+)\] ", case)
            detail = re.search(r"Invalid component: ([^\n]+)|\n    (Received: \d+|[^\n]*(?:not of type|required|Allow|additional|None)[^\n]*)", case)
            message = re.search(r'"message":"([^"]{0,120})', case)
            extra = (detail.group(1) or detail.group(2)).strip()[:120] if detail else (message.group(1) if message else "")
            schemas = sorted(set(re.findall(r"Schema at (\S+):", case)))
            if schemas:
                extra += " at " + ", ".join(schemas)
            for code in re.findall(r"\n- (ST\d+ [^\n]+)", "\n" + case):
                found[f"{code.strip()} [{status.group(1) if status else '?'}] {extra}".rstrip()] += 1
        print(f"  {operation}:")
        for line, n in found.items():
            print(f"      {line}" + (f" (x{n})" if n > 1 else ""))
summary = text.split("\n=================================== SUMMARY", 1)
if len(summary) == 2:
    print("  ==== SUMMARY" + summary[1].rstrip())
else:
    print(text[-3000:])
