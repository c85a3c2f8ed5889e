//! Fuzz target: bytes -> op sequence (pin / unpin / close / release_quarantine / decommit /
//! resize / slices / attach / detach / map / unmap / translate) run against the real Kernel and
//! Engine with the model as the oracle. Any divergence or panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = iommu_fuzz::run_bytes(data) {
        panic!("model divergence: {e}");
    }
});
