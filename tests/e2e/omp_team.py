"""omp_team.py — the OpenMP shape of generated C (codegen/c/kernels.c, cgk_omp_for).

A kernel that shares loops out with an orphaned `#pragma omp for` runs on
every thread of the parallel region around its call, so outside those loops
it may only declare constants; and each call of it must be that region's
statement. Checks every such function of the files given:

  - outside its `omp for` loops: only `const` declarations, `(void)` casts,
    comments and preprocessor lines;
  - each call: right after `#pragma omp parallel` (and its `#endif`).

usage: python3 omp_team.py FILE.c...   prints one line per problem; exit 1 if any
"""
import re
import sys

FN = re.compile(r"\nstatic void (\w+)\([^)]*\) \{\n(.*?)\n\}\n", re.S)
OMP_FOR = re.compile(r"#ifdef _OPENMP\n\s*#pragma omp for[^\n]*\n#endif\n")


def skip_ws(s, i):
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def close_of(s, i, opening, closing):
    """index after the bracket that closes the one at s[i]"""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == opening:
            depth += 1
        elif s[j] == closing:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced " + opening)


def stmt_end(s, i):
    """index after the statement (a for loop with its body, a block, or up to ';') at s[i:]"""
    i = skip_ws(s, i)
    if re.match(r"for\b", s[i:]):
        return stmt_end(s, close_of(s, s.index("(", i), "(", ")"))
    if s[i] == "{":
        return close_of(s, i, "{", "}")
    depth = 0
    for j in range(i, len(s)):
        if s[j] in "({":
            depth += 1
        elif s[j] in ")}":
            depth -= 1
        elif s[j] == ";" and depth == 0:
            return j + 1
    raise ValueError("no end of statement")


def outside_lines(body):
    """the lines of body that are not in an omp for loop"""
    parts = OMP_FOR.split(body)
    text = parts[0] + "".join(p[stmt_end(p, 0):] for p in parts[1:])
    return [ln.strip() for ln in text.split("\n")]


def check(path, src):
    problems = []
    team = []
    for m in FN.finditer(src):
        name, body = m.group(1), m.group(2)
        if not OMP_FOR.search(body) or "#pragma omp parallel" in body:
            continue
        team.append(name)
        for ln in outside_lines(body):
            if ln and not ln.startswith(("const ", "(void)", "/*", "#")):
                problems.append(f"{path}: {name} runs on every thread of its team: {ln}")
    for name in team:
        for c in re.finditer(r"\n([^\n]*)\n[ \t]+" + name + r"\(", src):
            before = src[: c.start() + 1].rstrip("\n").split("\n")
            if c.group(1).strip() != "#endif" or not before[-1].strip().startswith("#pragma omp parallel"):
                problems.append(f"{path}: a call of {name} is not a parallel region's statement")
    return problems, len(team)


def main(argv):
    problems, kernels = [], 0
    for path in argv:
        with open(path) as f:
            p, k = check(path, f.read())
        problems += p
        kernels += k
    for p in problems:
        print(p)
    if not problems:
        print(f"{kernels} functions with omp for loops")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
