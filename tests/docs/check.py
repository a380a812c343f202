#!/usr/bin/env python3
"""Docs that stay true (make test, suite docs).

1. Every file a header's table of contents names exists. A table of contents
   is the run of lines ` *   NAME[, NAME]  description` in the first comment
   of a .h file; names are relative to the header's folder, and a pattern
   (`k_*.c`) names the files it matches (at least one).
2. Every path in backticks in README.md and docs/*.md that names a file of
   the tree (`ir/fuse.c`, `tests/e2e/fusecheck.c`, ...) exists.
3. Every source file of the compiler and runtime is named somewhere: in a
   table of contents, or by its path in README.md or docs/*.md.
4. docs/language.md's index of built-ins (between <!-- builtins --> and
   <!-- /builtins -->) lists exactly the built-ins the compiler knows (printed
   by the program given as argv[1]), and each has an entry above it: a call
   `name(` or a table row `| `name` |`.
Each check prints PASS or FAIL lines.
"""
import glob, os, re, subprocess, sys

SRC_DIRS = ["common", "frontend", "ir", "codegen", "driver", "runtime"]
SRC_EXT = (".c", ".h", ".l", ".y", ".def", ".cu", ".cuh")
FILE = r"[A-Za-z0-9_./*-]+\.(?:c|h|l|y|def|cu|cuh|cpp)"
TOC_LINE = re.compile(r"^ \*\s{2,}(%s(?:, %s)*)\s{2,}\S" % (FILE, FILE))
PLACEHOLDER = re.compile(r"FAMILY|NAME|ENUM")  # `ir/ops_FAMILY.c` in a recipe
GENERATED = {"frontend/parser.h", "frontend/lexer.h"}  # bison's and flex's, in build/gen
PATH = re.compile(r"`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+\.[a-z]+)`")
fails = 0


def report(ok, what):
    global fails
    print(("PASS " if ok else "FAIL ") + what)
    fails += not ok


def sources():
    out = []
    for d in SRC_DIRS:
        for root, _, files in os.walk(d):
            out += [os.path.join(root, f) for f in files if f.endswith(SRC_EXT)]
    return sorted(out)


def first_comment(path):
    text = open(path, encoding="utf-8").read()
    end = text.find("*/")
    return text[:end].splitlines() if text.startswith("/*") and end > 0 else []


def tocs():
    """{header: [paths it names]}"""
    out = {}
    for h in sources():
        if not h.endswith(".h"):
            continue
        names = []
        for line in first_comment(h):
            m = TOC_LINE.match(line)
            if m:
                for n in m.group(1).split(", "):
                    path = os.path.normpath(os.path.join(os.path.dirname(h), n))
                    names += sorted(glob.glob(path)) or [path] if "*" in n else [path]
        if names:
            out[h] = names
    return out


def doc_paths():
    out = {}
    for doc in ["README.md"] + sorted(glob.glob("docs/*.md")) + sorted(glob.glob("*/README.md")):
        for i, line in enumerate(open(doc, encoding="utf-8"), 1):
            for p in PATH.findall(line):
                if p.split("/")[0] in SRC_DIRS + ["tests", "examples", "bench", "scripts", "docs"]:
                    out.setdefault(p, f"{doc}:{i}")
    return out


def main():
    named = set()
    for h, names in tocs().items():
        missing = [n for n in names if not os.path.exists(n) and n not in GENERATED]
        report(not missing, f"docs toc {h}" + (f": names missing files {missing}" if missing else ""))
        named.update(names)
    paths = doc_paths()
    missing = [f"{p} ({where})" for p, where in paths.items() if not os.path.exists(p) and not PLACEHOLDER.search(p)]
    report(not missing, "docs paths in README.md and docs/" + (f": missing {missing}" if missing else ""))
    named.update(paths)
    unnamed = [s for s in sources() if s not in named]
    report(not unnamed, "docs every source file is named" + (f": not in any table of contents or doc: {unnamed}"
                                                               if unnamed else ""))
    if len(sys.argv) > 1:
        known = set(subprocess.run([sys.argv[1]], capture_output=True, text=True, check=True).stdout.split())
        text = open("docs/language.md", encoding="utf-8").read()
        m = re.search(r"<!-- builtins -->(.*?)<!-- /builtins -->", text, re.S)
        listed = set(re.findall(r"`([a-z_0-9]+)`", m.group(1))) if m else set()
        body = text[:m.start()] if m else text
        undocumented = sorted(n for n in known if not re.search(r"`%s\(|^\| `%s` \|" % (n, n), body, re.M))
        report(bool(m) and listed == known and not undocumented,
               "docs language.md lists the built-ins the compiler knows" +
               (f": only in the compiler {sorted(known - listed)}, only in the index {sorted(listed - known)}, "
                f"no `name(` entry {undocumented}" if not (m and listed == known and not undocumented) else ""))
    return 1 if fails else 0


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    sys.exit(main())
