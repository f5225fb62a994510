#!/usr/bin/env python3
"""Summarize the last `cargo bench --bench omt` run as the tables of docs/PERFORMANCE.md (median times and ratios
measured in the same run). Usage: python3 benches/summary.py [target/criterion]"""
import json, pathlib, sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
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
