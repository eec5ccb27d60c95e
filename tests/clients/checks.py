"""Exact-value assertions shared by the Python client checks: each check prints one line, and
finish() prints the closing count and exits non-zero when anything failed or nothing ran."""

import json
import sys


class Checks:
    def __init__(self, prefix):
        self.prefix = prefix
        self.passed = 0
        self.failed = 0

    def eq(self, label, expected, actual):
        if expected == actual:
            self.passed += 1
            print(f"ok   - {self.prefix}: {label}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {self.prefix}: {label}: expected {expected!r}, got {actual!r}",
                  flush=True)

    def true(self, label, value, detail=""):
        self.eq(label + (f" ({detail})" if detail else ""), True, bool(value))

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)


def load_record(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
