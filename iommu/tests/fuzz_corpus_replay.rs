//! Replays every input of the cargo-fuzz corpus (`fuzz/corpus/zx_ops/`) through the same op
//! decoder and model as the fuzz target, on stable, under `cargo test`.

#[path = "common/zx_model.rs"]
mod zx_model;

use std::path::PathBuf;

use zx_model::{Op, encode, run_bytes};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/zx_ops")
}

#[test]
fn replay_zx_ops_corpus() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/zx_ops exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the zx_ops corpus is empty");
    let mut failures = Vec::new();
    for f in &files {
        let data = std::fs::read(f).expect("read corpus file");
        if let Err(e) = run_bytes(&data) {
            failures.push(format!("{}: {e}", f.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus inputs diverge:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

/// Hand-written seed sequences (what `write_seed_corpus` stores as `seed-*`).
pub fn seeds() -> Vec<(&'static str, Vec<Op>)> {
    use Op::*;
    let mut saturate = vec![CreateVmo {
        pages: 1,
        resizable: false,
    }];
    for i in 0..32 {
        saturate.push(Pin {
            bti: i % 3,
            vmo: 0,
            offset: 0,
            pages: 1,
            options: 1,
            addrs: 0,
        });
    }
    saturate.push(CheckPins { vmo: 0 });
    let translating = vec![
        CreateVmo {
            pages: 8,
            resizable: true,
        },
        Pin {
            bti: 3,
            vmo: 0,
            offset: 0,
            pages: 5,
            options: 3,
            addrs: 0,
        },
        Pin {
            bti: 4,
            vmo: 0,
            offset: 1,
            pages: 5,
            options: 0x9,
            addrs: 0,
        },
        Pin {
            bti: 4,
            vmo: 0,
            offset: 0,
            pages: 3,
            options: 0xA,
            addrs: 13,
        },
        Pin {
            bti: 0,
            vmo: 0,
            offset: 0,
            pages: 8,
            options: 1,
            addrs: 0,
        },
        TranslatePin {
            bti: 0,
            iova: 0,
            offset: 0,
            access: 0,
        },
        TranslatePin {
            bti: 0,
            iova: 3,
            offset: 9,
            access: 1,
        },
        TranslatePin {
            bti: 1,
            iova: 1,
            offset: 200,
            access: 0,
        },
        ClosePmt { pmt: 0 },
        TranslatePin {
            bti: 0,
            iova: 0,
            offset: 0,
            access: 0,
        },
        CheckBti { bti: 3 },
        Pin {
            bti: 3,
            vmo: 0,
            offset: 0,
            pages: 1,
            options: 1,
            addrs: 0,
        },
        Resize { vmo: 0, pages: 2 },
        ReleaseQuarantine { bti: 3 },
        Pin {
            bti: 3,
            vmo: 0,
            offset: 6,
            pages: 2,
            options: 4,
            addrs: 0,
        },
        TranslatePin {
            bti: 0,
            iova: 1,
            offset: 0,
            access: 3,
        },
        Unpin { pmt: 0 },
        TranslatePin {
            bti: 1,
            iova: 0,
            offset: 0,
            access: 0,
        },
        CheckPins { vmo: 0 },
    ];
    vec![
        (
            "pin-unpin",
            vec![
                CreateVmo {
                    pages: 4,
                    resizable: false,
                },
                Pin {
                    bti: 0,
                    vmo: 0,
                    offset: 0,
                    pages: 4,
                    options: 3,
                    addrs: 0,
                },
                CheckBti { bti: 0 },
                Decommit {
                    vmo: 0,
                    offset: 0,
                    pages: 4,
                },
                Unpin { pmt: 0 },
                Decommit {
                    vmo: 0,
                    offset: 0,
                    pages: 4,
                },
            ],
        ),
        (
            "quarantine",
            vec![
                CreateVmo {
                    pages: 2,
                    resizable: true,
                },
                Pin {
                    bti: 1,
                    vmo: 0,
                    offset: 1,
                    pages: 1,
                    options: 1,
                    addrs: 0,
                },
                ClosePmt { pmt: 0 },
                CheckBti { bti: 1 },
                Pin {
                    bti: 1,
                    vmo: 0,
                    offset: 0,
                    pages: 1,
                    options: 1,
                    addrs: 0,
                },
                Resize { vmo: 0, pages: 1 },
                ReleaseQuarantine { bti: 1 },
                Resize { vmo: 0, pages: 1 },
                CheckBti { bti: 1 },
            ],
        ),
        (
            "slices",
            vec![
                CreateVmo {
                    pages: 6,
                    resizable: false,
                },
                CreateSlice {
                    vmo: 0,
                    offset: 1,
                    pages: 4,
                },
                CreateSlice {
                    vmo: 1,
                    offset: 1,
                    pages: 2,
                },
                Pin {
                    bti: 0,
                    vmo: 2,
                    offset: 0,
                    pages: 3,
                    options: 1,
                    addrs: 0,
                },
                Pin {
                    bti: 0,
                    vmo: 2,
                    offset: 1,
                    pages: 1,
                    options: 1,
                    addrs: 0,
                },
                Decommit {
                    vmo: 0,
                    offset: 0,
                    pages: 6,
                },
                Decommit {
                    vmo: 1,
                    offset: 0,
                    pages: 5,
                },
                CheckPins { vmo: 0 },
                CloseVmo { vmo: 0 },
                CheckPins { vmo: 1 },
            ],
        ),
        (
            "bad-options",
            vec![
                CreateVmo {
                    pages: 2,
                    resizable: false,
                },
                Pin {
                    bti: 0,
                    vmo: 0,
                    offset: 0,
                    pages: 1,
                    options: 0,
                    addrs: 0,
                },
                Pin {
                    bti: 0,
                    vmo: 0,
                    offset: 0,
                    pages: 1,
                    options: 0x11,
                    addrs: 0,
                },
                Pin {
                    bti: 0,
                    vmo: 0,
                    offset: 0,
                    pages: 1,
                    options: 0x31,
                    addrs: 0,
                },
                Pin {
                    bti: 0,
                    vmo: 0,
                    offset: 0,
                    pages: 2,
                    options: 0x9,
                    addrs: 13,
                },
                Pin {
                    bti: 0,
                    vmo: 0,
                    offset: 0,
                    pages: 0,
                    options: 1,
                    addrs: 0,
                },
                Pin {
                    bti: 0,
                    vmo: 0,
                    offset: 1,
                    pages: 2,
                    options: 1,
                    addrs: 14,
                },
                CheckBti { bti: 0 },
            ],
        ),
        ("saturate", saturate),
        ("translating", translating),
        (
            "engine",
            vec![
                Attach { ep: 0, dom: 0 },
                Map {
                    dom: 0,
                    iova: 2,
                    pages: 1,
                    paddr: 10,
                    perms: 2,
                },
                Map {
                    dom: 0,
                    iova: 4,
                    pages: 0,
                    paddr: 12,
                    perms: 0,
                },
                Map {
                    dom: 0,
                    iova: 3,
                    pages: 0,
                    paddr: 1,
                    perms: 0,
                },
                Translate {
                    ep: 0,
                    iova: 2,
                    offset: 0,
                    len: 255,
                    access: 0,
                },
                Translate {
                    ep: 0,
                    iova: 2,
                    offset: 9,
                    len: 255,
                    access: 1,
                },
                Unmap {
                    dom: 0,
                    iova: 3,
                    pages: 0,
                },
                Unmap {
                    dom: 0,
                    iova: 2,
                    pages: 1,
                },
                Attach { ep: 1, dom: 0 },
                Attach { ep: 0, dom: 1 },
                Translate {
                    ep: 1,
                    iova: 4,
                    offset: 0,
                    len: 1,
                    access: 0,
                },
                Detach { ep: 1, dom: 0 },
                Detach { ep: 1, dom: 0 },
                Translate {
                    ep: 1,
                    iova: 4,
                    offset: 0,
                    len: 1,
                    access: 0,
                },
            ],
        ),
    ]
}

/// Regenerates the seed inputs: `cargo test --test fuzz_corpus_replay -- --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/zx_ops/seed-*; run by hand"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    for (name, ops) in seeds() {
        std::fs::write(dir.join(format!("seed-{name}")), encode(&ops)).expect("write seed");
    }
}
