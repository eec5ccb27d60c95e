#!/usr/bin/env python3
"""Counts the calls to each named function in a callgrind output file (callgrind_annotate shows
instructions, not call counts): bench/run.sh uses it for malloc calls per request.
Usage: callgrind_calls.py FILE NAME... ; prints `NAME COUNT` per name."""
import re
import sys


def main() -> int:
    names, counts, callee = {}, {}, None
    entry = re.compile(r"(c?fn)=\((\d+)\)(?: (.*))?")
    with open(sys.argv[1], errors="replace") as f:
        for line in f:
            match = entry.match(line)
            if match:
                kind, ident, name = match.groups()
                if name:
                    names[ident] = name.strip()
                if kind == "cfn":
                    callee = names.get(ident)
                continue
            if line.startswith("calls=") and callee:
                counts[callee] = counts.get(callee, 0) + int(line[6:].split()[0])
    for wanted in sys.argv[2:]:
        print(wanted, sum(n for name, n in counts.items() if name == wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
