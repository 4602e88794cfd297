#!/usr/bin/env python3
"""check_prefetch.py OBJDUMP OBJECT... — the streaming x86 kernels still prefetch.

Decode reads every weight once from DRAM, and on the machines measured each line needs a
software prefetch (docs/PERFORMANCE.md, session 7). A compiler can delete one without a
trace: GCC 12 marked a small function whose only statement was _mm_prefetch as const and
dropped every call to it, so the Q8_0x16 micro kernels ran without prefetches for three
sessions while their results stayed bit-exact. This test disassembles the kernel objects
and fails when a function named below has no prefetch instruction, or when no function
matches a name (a rename or an inlining: update RULES then).
"""
import re
import subprocess
import sys

# (what, regex on the demangled function name). Every matching function must prefetch.
RULES = [
    ("Q8_0x16 micro kernels (decode GEMV, small batches)", r"::micro<.*X16Src<"),
    ("Q8_0 GEMV over stored rows", r"::gemv_rows<"),
    ("float-weight GEMV (F32, F16, BF16; exact Q8_0)", r"FloatKern<.*>::micro<\d+, 1>"),
    ("selective scan", r"::scan<"),
]


def functions(objdump, obj):
    """{demangled name: [instruction mnemonics]} of one object file."""
    out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", obj], check=True, capture_output=True,
                         text=True).stdout
    funcs, name = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            name = m.group(1)
            funcs.setdefault(name, [])
            continue
        m = re.match(r"^\s+[0-9a-f]+:\s+(\S+)", line)
        if m and name is not None:
            funcs[name].append(m.group(1))
    return funcs


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[0])
        return 2
    objdump, objs = sys.argv[1], sys.argv[2:]
    funcs = {}
    for obj in objs:
        funcs.update(functions(objdump, obj))
    failed = False
    for what, pattern in RULES:
        matched = [n for n in funcs if re.search(pattern, n)]
        if not matched:
            print(f"FAIL {what}: no function matches {pattern!r} in {len(objs)} objects")
            failed = True
            continue
        bare = [n for n in matched if not any(i.startswith("prefetch") for i in funcs[n])]
        for n in bare:
            print(f"FAIL {what}: no prefetch instruction in {n[:160]}")
        failed |= bool(bare)
        print(f"{'ok  ' if not bare else 'FAIL'} {what}: {len(matched) - len(bare)} of {len(matched)} prefetch")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
