//! Differential model test (issue 2 §4): random sequences of pin / unpin / handle close /
//! release_quarantine / decommit / resize / slices / attach / detach / map / unmap / translate run
//! against the real `iommu::zx::Kernel` + `iommu::Engine` and a naive model
//! (`common/zx_model.rs`, shared with the cargo-fuzz target and the corpus replay).

#[path = "common/zx_model.rs"]
mod zx_model;

use proptest::prelude::*;
use zx_model::{Op, decode, encode, run};

/// Ops biased towards few objects, so that pins stack up on the same pages (31-pin limit,
/// quarantine, decommit/resize across pinned pages) and mappings collide.
fn op() -> impl Strategy<Value = Op> {
    let small = 0u8..3;
    let bti = 0u8..5;
    prop_oneof![
        2 => (any::<u8>(), any::<bool>()).prop_map(|(pages, resizable)| Op::CreateVmo { pages, resizable }),
        1 => (small.clone(), 0u8..4, 0u8..6).prop_map(|(vmo, offset, pages)| Op::CreateSlice { vmo, offset, pages }),
        1 => small.clone().prop_map(|vmo| Op::CloseVmo { vmo }),
        8 => (bti.clone(), small.clone(), 0u8..4, 0u8..6, any::<u8>(), 0u8..15)
            .prop_map(|(bti, vmo, offset, pages, options, addrs)| Op::Pin {
                bti,
                vmo,
                offset,
                pages,
                // Mostly valid options: a PERM bit, sometimes COMPRESS.
                options: if options < 200 { (options % 7 + 1) | (options & 0x08) } else { options },
                addrs,
            }),
        3 => any::<u8>().prop_map(|pmt| Op::Unpin { pmt }),
        2 => any::<u8>().prop_map(|pmt| Op::ClosePmt { pmt }),
        2 => bti.clone().prop_map(|bti| Op::ReleaseQuarantine { bti }),
        3 => (small.clone(), 0u8..6, 0u8..4).prop_map(|(vmo, offset, pages)| Op::Decommit { vmo, offset, pages }),
        2 => (small.clone(), 0u8..10).prop_map(|(vmo, pages)| Op::Resize { vmo, pages }),
        1 => bti.clone().prop_map(|bti| Op::CheckBti { bti }),
        4 => (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()).prop_map(
            |(bti, iova, offset, access)| Op::TranslatePin { bti, iova, offset, access }
        ),
        1 => small.clone().prop_map(|vmo| Op::CheckPins { vmo }),
        2 => (0u8..4, 0u8..4).prop_map(|(ep, dom)| Op::Attach { ep, dom }),
        1 => (0u8..4, 0u8..4).prop_map(|(ep, dom)| Op::Detach { ep, dom }),
        3 => (0u8..4, 0u8..16, any::<u8>(), 0u8..32, any::<u8>())
            .prop_map(|(dom, iova, pages, paddr, perms)| Op::Map { dom, iova, pages, paddr, perms }),
        2 => (0u8..4, 0u8..16, any::<u8>()).prop_map(|(dom, iova, pages)| Op::Unmap { dom, iova, pages }),
        3 => (0u8..4, 0u8..20, any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(ep, iova, offset, len, access)| Op::Translate { ep, iova, offset, len, access }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn model_biased_sequences(ops in proptest::collection::vec(op(), 0..160)) {
        // Through the byte encoding, so the fuzz decoder is exercised on the same sequences.
        let bytes = encode(&ops);
        prop_assert_eq!(decode(&bytes), ops);
        if let Err(e) = run(&decode(&bytes)) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn model_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        if let Err(e) = run(&decode(&bytes)) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// A hand-written sequence: one page pinned 31 times over two BTIs, one PMT quarantined, the
/// 32nd pin refused, release, counts checked, everything cleaned up.
#[test]
fn model_pin_saturation_and_quarantine() {
    let mut ops = vec![Op::CreateVmo {
        pages: 2,
        resizable: true,
    }];
    for i in 0..31 {
        ops.push(Op::Pin {
            bti: i % 2,
            vmo: 0,
            offset: 0,
            pages: 1,
            options: 1,
            addrs: 0,
        });
    }
    ops.push(Op::Pin {
        bti: 2,
        vmo: 0,
        offset: 0,
        pages: 2,
        options: 3,
        addrs: 0,
    });
    ops.push(Op::CheckPins { vmo: 0 });
    ops.push(Op::ClosePmt { pmt: 3 });
    ops.push(Op::CheckBti { bti: 0 });
    ops.push(Op::CheckBti { bti: 1 });
    ops.push(Op::Pin {
        bti: 1,
        vmo: 0,
        offset: 1,
        pages: 1,
        options: 1,
        addrs: 0,
    });
    ops.push(Op::Resize { vmo: 0, pages: 0 });
    ops.push(Op::Decommit {
        vmo: 0,
        offset: 0,
        pages: 2,
    });
    ops.push(Op::ReleaseQuarantine { bti: 1 });
    ops.push(Op::CheckPins { vmo: 0 });
    for _ in 0..31 {
        ops.push(Op::Unpin { pmt: 0 });
    }
    ops.push(Op::Resize { vmo: 0, pages: 0 });
    if let Err(e) = run(&ops) {
        panic!("{e}");
    }
}

/// A hand-written engine sequence: overlapping maps, a splitting unmap, translations across
/// mapping boundaries and permissions, moving an endpoint between domains.
#[test]
fn model_engine_sequence() {
    let ops = vec![
        Op::Attach { ep: 0, dom: 0 },
        Op::Map {
            dom: 0,
            iova: 2,
            pages: 1,
            paddr: 10,
            perms: 2,
        }, // 2 pages RW? perms=1+2%7=3
        Op::Map {
            dom: 0,
            iova: 4,
            pages: 0,
            paddr: 12,
            perms: 0,
        }, // 1 page R, contiguous paddr
        Op::Map {
            dom: 0,
            iova: 3,
            pages: 0,
            paddr: 30,
            perms: 0,
        }, // overlap
        Op::Translate {
            ep: 0,
            iova: 2,
            offset: 0,
            len: 255,
            access: 0,
        },
        Op::Translate {
            ep: 0,
            iova: 2,
            offset: 0,
            len: 255,
            access: 1,
        },
        Op::Translate {
            ep: 0,
            iova: 1,
            offset: 255,
            len: 10,
            access: 0,
        },
        Op::Unmap {
            dom: 0,
            iova: 3,
            pages: 0,
        },
        Op::Unmap {
            dom: 0,
            iova: 2,
            pages: 1,
        },
        Op::Translate {
            ep: 0,
            iova: 2,
            offset: 0,
            len: 1,
            access: 0,
        },
        Op::Attach { ep: 1, dom: 0 },
        Op::Attach { ep: 0, dom: 1 },
        Op::Translate {
            ep: 1,
            iova: 4,
            offset: 0,
            len: 1,
            access: 0,
        },
        Op::Detach { ep: 1, dom: 0 },
        Op::Translate {
            ep: 1,
            iova: 4,
            offset: 0,
            len: 1,
            access: 0,
        },
        Op::Detach { ep: 1, dom: 0 },
    ];
    if let Err(e) = run(&ops) {
        panic!("{e}");
    }
}
