#!/usr/bin/env python3
"""Writes the small seed corpus (identity, repeated diagonal, graded, near-singular, extreme
scales) in the byte format fuzz/src/lib.rs decodes. Run from this folder; output is committed."""
import os, struct

SPECIAL = {0.0: 0, 1.0: 2, 0.5: 4, 2.0: 5, 1e-300: 14, 1e300: 15}

def special(value):
    return bytes([SPECIAL[value] * 8 + 1])

def tame(fraction, exponent):
    """fraction in [-1, 1): value = fraction * 2^exponent, exponent in -8..8."""
    choice = next(c for c in range(2, 256) if c % 8 >= 2 and c % 17 - 8 == exponent)
    mantissa = int(round((fraction + 1.0) * 32768)) & 0xFFFF
    return bytes([choice]) + struct.pack("<H", mantissa)

def matrix(d, entry):
    """Column-major, as nalgebra iterates."""
    return b"".join(entry(i, j) for j in range(d) for i in range(d))

def exponent_bytes(k, span):
    # arbitrary's int_in_range on -span..=span reads big-endian bytes of the offset (k + span).
    offset = k + span
    return struct.pack(">I", offset)[-2:] if span > 255 else bytes([offset])

def selector(dim_index, f32=False):
    return bytes([dim_index | (0x80 if f32 else 0)])

identity = lambda i, j: special(1.0) if i == j else special(0.0)
repeated = lambda i, j: special(2.0) if i == j else special(0.0)
graded = lambda i, j: tame(0.9, -i) if i == j else (tame(0.3, -i) if i > j else special(0.0))
near_singular = lambda i, j: tame(-0.99, -8) if i == j == 0 else (special(1.0) if i == j else (tame(0.999, 0) if i > j else special(0.0)))
huge = lambda i, j: special(1e300) if i == j else special(0.0)
tiny = lambda i, j: special(1e-300) if i == j else (special(1e-300) if i > j else special(0.0))

seeds = {
    "identity_d4": (3, identity), "repeated_d5": (4, repeated), "graded_d8": (5, graded),
    "near_singular_d3": (2, near_singular), "huge_d2": (1, huge), "tiny_d3": (2, tiny),
}
dims = [1, 2, 3, 4, 5, 8, 12, 16]
for target in ("svd", "vjp", "new_log_prob"):
    os.makedirs(target, exist_ok=True)
    for name, (index, entry) in seeds.items():
        d = dims[index]
        for f32 in (False, True):
            body = selector(index, f32)
            vector = b"".join(tame(0.25 * (k % 5) - 0.5, 0) for k in range(d))
            if target == "svd":
                body += matrix(d, entry) + exponent_bytes(40, 160 if f32 else 1100)
            elif target == "vjp":
                body += vector + matrix(d, entry) + exponent_bytes(-7, 160 if f32 else 1100)
                body += bytes([4]) + (vector + vector) * 4
            else:
                body += vector + matrix(d, entry) + vector + vector
            suffix = "_f32" if f32 else "_f64"
            with open(os.path.join(target, name + suffix), "wb") as f:
                f.write(body)
