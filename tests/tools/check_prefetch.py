#!/usr/bin/env python3
"""check_prefetch.py [--isa x86|neon] OBJDUMP OBJECT... — the streaming kernels still prefetch.

Decode reads every weight once from DRAM, and on the machines measured each line needs a
software prefetch (docs/PERF-LOG.md, session 7). A compiler can delete one without a
trace: GCC 12 marked a small function whose only statement was _mm_prefetch as const and
dropped every call to it, so the Q8_0x16 micro kernels ran without prefetches for three
sessions while their results stayed bit-exact. This test disassembles the kernel objects
and fails when a function named below has no prefetch instruction, or when no function
matches a name (a rename or an inlining: update RULES then).
"""
import re
import subprocess
import sys

# (what, regex on the demangled function name), per ISA. Every matching function must
# contain a prefetch instruction (x86 prefetcht0/1/2/nta/w, Arm prfm).
RULES = {
    "x86": [
        ("Q8_0x16 decode GEMV", r"::gemv_x16<"),
        ("Q8_0x16 micro kernels (small batches)", r"::micro<.*X16Src<"),
        ("Q8_0 GEMV over stored rows", r"::gemv_rows<"),
        ("float-weight GEMV and small batches in place (F32, F16, BF16; exact Q8_0)",
         r"FloatKern<.*>::micro<\d+, \d+, true>"),
        ("selective scan", r"::scan<"),
    ],
    "neon": [
        ("Q8_0 GEMV (sdot and plain)", r"::q8_micro<.*, \d+, 1>\("),
        ("float-weight GEMV and small batches in place (F32, F16, BF16; exact Q8_0)",
         r"FloatKern<.*>::micro<\d+, \d+, true>\("),
    ],
}
PREFETCH = ("prefetch", "prfm")


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
    args = sys.argv[1:]
    isa = "x86"
    if len(args) >= 2 and args[0] == "--isa":
        isa, args = args[1], args[2:]
    if len(args) < 2 or isa not in RULES:
        print(__doc__.strip().splitlines()[0])
        return 2
    objdump, objs = args[0], args[1:]
    funcs = {}
    for obj in objs:
        funcs.update(functions(objdump, obj))
    failed = False
    for what, pattern in RULES[isa]:
        matched = [n for n in funcs if re.search(pattern, n)]
        if not matched:
            print(f"FAIL {what}: no function matches {pattern!r} in {len(objs)} objects")
            failed = True
            continue
        bare = [n for n in matched if not any(i.startswith(PREFETCH) for i in funcs[n])]
        for n in bare:
            print(f"FAIL {what}: no prefetch instruction in {n[:160]}")
        failed |= bool(bare)
        print(f"{'ok  ' if not bare else 'FAIL'} {what}: {len(matched) - len(bare)} of {len(matched)} prefetch")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
