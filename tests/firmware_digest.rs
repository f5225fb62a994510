//! The firmware's workload, run on the host through the very same source file: its digest must
//! equal the one checked into `tests/firmware/expected-digest`, which the Cortex-M0 and
//! Cortex-M4F builds print under QEMU (`examples/firmware/run.sh` compares them).

#[allow(dead_code)]
#[path = "firmware/workload.rs"]
mod workload;

struct Lines(Vec<String>);

impl workload::Sink for Lines {
    fn line(&mut self, prefix: &str, name: &str, bits: &[u64]) {
        let words: Vec<String> = bits.iter().map(|w| format!("{w:x}")).collect();
        self.0.push(format!("{prefix} {name} {}", words.join(" ")));
    }
}

fn expected_digest() -> u64 {
    let text = include_str!("firmware/expected-digest");
    u64::from_str_radix(text.trim(), 16).expect("a hex digest")
}

#[test]
fn host_digest_equals_the_checked_in_firmware_digest() {
    let mut recorder = workload::Recorder::new(Lines(Vec::new()));
    let digest = workload::run(&mut recorder).expect("the workload runs");
    assert_eq!(
        digest,
        expected_digest(),
        "host digest {digest:016x}; lines:\n{}",
        recorder.sink.0.join("\n")
    );
}

#[test]
fn accumulator_and_vjp_agree_in_the_workload() {
    let mut recorder = workload::Recorder::new(Lines(Vec::new()));
    workload::run(&mut recorder).expect("the workload runs");
    let lines = &recorder.sink.0;
    for prefix in ["f32/3", "f32/8", "f64/3", "f64/8"] {
        let find = |name: &str| {
            let head = format!("{prefix} {name} ");
            lines.iter().find(|l| l.starts_with(&head)).map(|l| l[head.len()..].to_string())
        };
        assert_eq!(find("vjp.scale_tril"), find("accumulator.scale_tril"), "{prefix}");
    }
}
