#!/usr/bin/env python3
"""Summarize the last `cargo bench --bench omt` run as the tables of docs/PERFORMANCE.md (median times and ratios
measured in the same run). With the output of ../shared/tools/pyro_times.py from the same sitting, also the
README's Pyro table. Usage: python3 benches/summary.py [target/criterion] [pyro_times output]"""
import json, pathlib, re, sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
pyro_file = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None
times = {}
for bench in root.glob("**/new/benchmark.json"):
    meta = json.loads(bench.read_text())
    estimates = json.loads((bench.parent / "estimates.json").read_text())
    times[meta["full_id"]] = estimates["median"]["point_estimate"]  # nanoseconds

def fmt(ns):
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

print("| D | n | OMT new+vjp | bare A += g·εᵀ | OMT / bare | reparam_vjp | Pyro port | Pyro port / OMT |")
print("|---|---|---|---|---|---|---|---|")
for d in (2, 4, 8, 16, 32, 64):
    sizes = sorted({int(k.split("/")[-1]) for k in times if k.startswith(f"vjp/{d}/")})
    for n in sizes:
        get = lambda name: times.get(f"vjp/{d}/{name}/{n}")
        omt, bare, reparam, pyro = get("omt_new_plus_vjp"), get("bare_outer_loop"), get("reparam_vjp"), get("pyro_port")
        if None in (omt, bare, reparam):
            continue
        port = f"{fmt(pyro)} | {pyro / omt:.0f}×" if pyro else "– | –"
        print(f"| {d} | {n} | {fmt(omt)} | {fmt(bare)} | {omt / bare:.2f}× | {fmt(reparam)} | {port} |")
print()
print("| D | finish (SVD + products) | one D×D matmul | finish / matmul |")
print("|---|---|---|---|")
for d in (4, 8, 16, 32, 64):
    f, m = times.get(f"finish/f64/{d}"), times.get(f"finish/matmul_f64/{d}")
    if f and m:
        print(f"| {d} | {fmt(f)} | {fmt(m)} | {f / m:.0f} |")
print()
print("| D | SVI step, cold finish | warm finish | cold / warm | plain estimator |")
print("|---|---|---|---|---|")
for d in (8, 16, 32):
    cold, warm, plain = (times.get(f"svi_step/{d}/{v}") for v in ("cold", "warm", "reparam"))
    if cold and warm and plain:
        print(f"| {d} | {fmt(cold)} | {fmt(warm)} | {cold / warm:.2f}× | {fmt(plain)} |")
print()
for key in ("normal/standard_normal_x1000", "normal/rsample_f64_d8"):
    if key in times:
        per = times[key] / (1000 if key.endswith("x1000") else 1)
        print(f"- `{key}`: {fmt(per)} per {'normal' if key.endswith('x1000') else 'sample'}")
print()
print("| D | n = 4096: pushes + finish | `vjp` | pushes / `vjp` |")
print("|---|---|---|---|")
for d in (8, 16, 32, 64):
    push, vjp = times.get(f"vjp/{d}/omt_push_then_finish/4096"), times.get(f"vjp/{d}/omt_new_plus_vjp/4096")
    if push and vjp:
        print(f"| {d} | {fmt(push)} | {fmt(vjp)} | {push / vjp:.2f}× |")
def ratio(x):
    return f"{x:,.0f}".replace(",", " ") if x >= 10 else f"{x:.1f}"

if pyro_file:
    # pyro_times.py prints D:n:seconds entries separated by commas (possibly over several lines).
    pyro = {(int(d), int(n)): float(t) * 1e9 for d, n, t in re.findall(r"(\d+):(\d+):([0-9.eE+-]+)", pyro_file.read_text())}
    goals = {2: 50, 4: 50, 8: 50, 16: 20, 32: 10, 64: 5}
    print()
    print("| D | n = 1: Pyro / omt-mvn | n = 16·D | n = 4096 | goal |")
    print("| --- | --- | --- | --- | --- |")
    for d in (2, 4, 8, 16, 32, 64):
        cells = []
        for n in (1, 16 * d, 4096):
            omt, py = times.get(f"vjp/{d}/omt_new_plus_vjp/{n}"), pyro.get((d, n))
            cells.append(f"{fmt(py)} / {fmt(omt)} = **{ratio(py / omt)}×**" if omt and py else "–")
        print(f"| {d} | " + " | ".join(cells) + f" | ≥ {goals[d]}× |")
