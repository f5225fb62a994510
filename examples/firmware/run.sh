#!/usr/bin/env bash
# Builds the firmware for the Cortex-M4F and the Cortex-M0, runs each under QEMU, and checks
# that both print the digest checked into tests/firmware/expected-digest (which the host test
# tests/firmware_digest.rs asserts for x86_64). Also runs the minimal firmware and prints the
# flash footprint of both ELFs. Exits non-zero on any difference or failure.
set -euo pipefail
cd "$(dirname "$0")"
expected="$(tr -d '[:space:]' < ../../tests/firmware/expected-digest)"
size_tool="$(command -v arm-none-eabi-size || command -v size)"
status=0
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  echo "=== $target"
  output="$(timeout 600 cargo run --quiet --release --target "$target" --bin omt-mvn-firmware)" || {
    echo "$output" | tail -n 20
    echo "firmware failed on $target"
    exit 1
  }
  digest="$(grep '^DIGEST' <<<"$output" | awk '{print $2}')"
  grep '^STACK' <<<"$output" || true
  echo "lines printed: $(grep -c . <<<"$output"), digest: $digest (expected $expected)"
  if [[ "$digest" != "$expected" ]]; then
    echo "DIGEST MISMATCH on $target"
    status=1
  fi
  timeout 120 cargo run --quiet --release --target "$target" --bin minimal
  "$size_tool" "target/$target/release/omt-mvn-firmware" "target/$target/release/minimal"
done
exit "$status"
