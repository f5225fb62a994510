#!/usr/bin/env python3
"""Where the accumulation's hot loops landed in a binary, and whether their start is a slow one.

On this machine kind (AMD Zen 5) a short hot loop runs about 1.5x slower when more than 12 of
its operations lie between its start and the end of the 64-byte window the start is in
(docs/PERFORMANCE.md, "Code placement"; benches/loop_placement.c: the one-sample pass loop, 16 operations,
is slow from start offsets 1, 3 and 5 and fast from the nine others tried, among them 61 and 63,
where the next window holds 14 of its operations: only the window the loop is entered in
counts). The pass loops the crate now compiles to (two columns, one sample per iteration:
31-32 operations at D = 8, like the earlier two-sample loop's 30) were as fast with every loop
forced to offset 32 or 64 (docs/PERFORMANCE.md), so this script flags a start as slow only for loops of up to 24
operations. LLVM aligns loops to 16 bytes, so every build draws each loop's start offset anew.
Which loops are hot depends on D (their steps say which: see `loops`); callgrind tells for sure.

Usage: python3 benches/placement.py [binary ...]
(default: the newest `cargo bench --bench omt` binary, target/release/deps/omt-<hash>)
"""
import pathlib, re, subprocess, sys

FUNCTIONS = ("accumulate_columns", "push_batch")  # where the pass loops live
WINDOW, LIMIT = 64, 12
# A compare or test directly followed by a conditional jump is decoded as one operation.
FUSES = re.compile(r"^(cmp|test)")
JUMP = re.compile(r"^(j[a-z]+)\s+([0-9a-f]+)")


def default_binary():
    candidates = [p for p in pathlib.Path("target/release/deps").glob("omt-*")
                  if re.fullmatch(r"omt-[0-9a-f]{16}", p.name)]
    if not candidates:
        sys.exit("no bench binary: run `cargo bench --bench omt --no-run` first, or name one")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def functions(binary):
    """[(name, [(address, text)])] for the functions of interest (one entry per monomorphized
    copy, which share a demangled name), from objdump."""
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", str(binary)],
                             capture_output=True, text=True, check=True).stdout
    found, current = [], None
    for line in listing.splitlines():
        header = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
        if header:
            name = header.group(2)
            current = (name, []) if any(f in name for f in FUNCTIONS) else None
            if current:
                found.append(current)
            continue
        instruction = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
        if current and instruction:
            current[1].append((int(instruction.group(1), 16), instruction.group(2).strip()))
    return found


def increment(text):
    """The constant an `add $c` or `sub $-c` instruction advances a register by, if it is one."""
    add = re.match(r"^add\s+\$(0x[0-9a-f]+),", text)
    if add:
        return add.group(1)
    sub = re.match(r"^sub\s+\$(0x[0-9a-f]+),", text)
    if sub and int(sub.group(1), 16) >= 1 << 63:  # objdump prints -c as its 64-bit complement
        return hex((1 << 64) - int(sub.group(1), 16))
    return None


def loops(instructions):
    """(start, end, ops, steps) for every backward jump: ops are the start addresses of the
    loop's operations, a fused compare-and-jump counted once; steps are the constants its
    pointers or indices advance by per iteration (a pass loop at D advances by two gradients,
    2·8·D bytes in f64: 0x80 is D = 8)."""
    for k, (address, text) in enumerate(instructions):
        jump = JUMP.match(text)
        if not jump or int(jump.group(2), 16) >= address:
            continue
        start = int(jump.group(2), 16)
        body = [(a, t) for a, t in instructions[: k + 1] if a >= start]
        end = instructions[k + 1][0] if k + 1 < len(instructions) else address + 2
        ops = [a for i, (a, t) in enumerate(body)
               if not (i > 0 and JUMP.match(t) and FUSES.match(body[i - 1][1]))]
        steps = sorted({step for _, t in body for step in [increment(t)] if step})
        yield start, end, ops, steps


def main():
    binaries = [pathlib.Path(b) for b in sys.argv[1:]] or [default_binary()]
    for binary in binaries:
        print(f"{binary}:")
        for name, instructions in functions(binary):
            for start, end, ops, steps in loops(instructions):
                windows = {}
                for address in ops:
                    windows[address // WINDOW] = windows.get(address // WINDOW, 0) + 1
                per_window = [windows[w] for w in sorted(windows)]
                short = len(ops) <= 2 * LIMIT
                verdict = "SLOW start" if short and per_window[0] > LIMIT else "fast start"
                print(f"  {name[:48]:48} loop at {start:#x}, offset {start % WINDOW:2} of 64, "
                      f"steps {'/'.join(steps) or '-'}: {len(ops)} ops in {end - start} bytes, "
                      f"ops per window {per_window}: {verdict}")


if __name__ == "__main__":
    main()
