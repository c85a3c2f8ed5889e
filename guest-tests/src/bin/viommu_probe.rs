//! virtio-iommu PROBE from the guest (virtio 1.2 §5.13.6.7–8): every endpoint the VIOT names
//! reports exactly one RESV_MEM property, subtype MSI, 0xFEE00000–0xFEEFFFFF (the x86 MSI window),
//! with the header length 20, zero reserved bits, the rest of `probe_size` zero-filled; a MAP that
//! overlaps the region is rejected while its neighbours map; a properties buffer shorter than
//! probe_size gets INVAL and no property; an unknown endpoint gets NOENT.
//!
//! Runner: `--iommu --dma-test --rng`.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_rt::{report, report_info};
use gtest_virtio::harness::{Env, check};
use gtest_virtio::iommu::Iommu;
use gtest_virtio::iommu::protocol::{
    self as p, F_PROBE, MAP_F_READ, MAP_F_RW, PROBE_T_RESV_MEM, RESV_MEM_T_MSI, ResvMem, S_INVAL,
    S_NOENT,
};

gtest_rt::main!(main);

const MSI_START: u64 = 0xfee0_0000;
const MSI_END: u64 = 0xfeef_ffff;
const P: u64 = 4096;

fn main(boot: &BootInfo) {
    let _ = run(boot);
}

fn run(boot: &BootInfo) -> Option<()> {
    let mut env = Env::new(boot)?;
    let mut iommu = env.iommu()?;
    report!(iommu.has(F_PROBE), "PROBE is negotiated");
    let probe_size = iommu.config.probe_size as usize;
    let Some(viot) = env.platform.viot else {
        report!(false, "the VIOT lists the endpoints to probe");
        return None;
    };
    for ep in viot.endpoints() {
        prefix_push("endpoint");
        check_probe(&mut iommu, ep.endpoint, probe_size)?;
        prefix_pop();
    }
    let ep = viot.endpoints().next()?.endpoint;

    prefix_push("short buffer");
    // "If the properties list is smaller than probe_size, the device SHOULD NOT write any
    // property. It SHOULD reject the request and set status to VIRTIO_IOMMU_S_INVAL."
    for len in [probe_size - 4, 4, 0] {
        let r = check("PROBE", iommu.probe_with(ep, len))?;
        let mut props = [0u8; 512];
        let n = iommu.probe_properties(&mut props);
        let none = p::properties(&props[..n]).next().is_none();
        report!(
            r.is(S_INVAL) && none,
            "{len}-byte properties buffer: INVAL, no property written ({r})"
        );
    }
    let r = check("PROBE", iommu.probe_with(ep, probe_size + 64))?;
    report_info!("a buffer 64 bytes longer than probe_size: {r}");
    let r = check("PROBE", iommu.probe(0xdead_beef))?;
    report!(r.is(S_NOENT), "PROBE of an unknown endpoint: NOENT ({r})");
    prefix_pop();

    prefix_push("MAP and RESV_MEM");
    let r = check("ATTACH", iommu.attach(1, ep))?;
    report!(r.ok(), "ATTACH endpoint {ep} to domain 1: {r}");
    // "The device SHOULD reject a MAP request that overlaps a RESV_MEM region."
    let cases: [(&str, u64, u64, bool); 6] = [
        (
            "the first page of the MSI window",
            MSI_START,
            MSI_START + P - 1,
            false,
        ),
        ("the whole MSI window", MSI_START, MSI_END, false),
        ("its last page", MSI_END + 1 - P, MSI_END, false),
        (
            "a range ending in its first page",
            MSI_START - P,
            MSI_START + P - 1,
            false,
        ),
        ("the page just below it", MSI_START - P, MSI_START - 1, true),
        ("the page just above it", MSI_END + 1, MSI_END + P, true),
    ];
    for (what, start, end, accepted) in cases {
        let phys = 0x20_0000;
        let r = check("MAP", iommu.map(1, start, end, phys, MAP_F_RW))?;
        if accepted {
            report!(r.ok(), "MAP of {what} [{start:#x}, {end:#x}]: OK ({r})");
        } else {
            report!(
                r.is(S_INVAL) || r.is(p::S_RANGE),
                "MAP of {what} [{start:#x}, {end:#x}] is rejected ({r})"
            );
        }
    }
    let r = check("MAP", iommu.map(1, 0, u64::MAX, 0, MAP_F_READ))?;
    report!(
        !r.ok(),
        "a MAP of the whole IOVA space (covering the window) is rejected ({r})"
    );
    let r = check("DETACH", iommu.detach(1, ep))?;
    report!(r.ok(), "DETACH: {r}");
    prefix_pop();
    Some(())
}

fn check_probe(iommu: &mut Iommu, ep: u32, probe_size: usize) -> Option<()> {
    let r = check("PROBE", iommu.probe(ep))?;
    report!(r.ok(), "PROBE endpoint {ep}: {r} (probe_size {probe_size})");
    let mut props = [0u8; 512];
    let n = iommu.probe_properties(&mut props);
    let props = &props[..n];
    let mut msi = 0;
    let mut end = 0;
    for prop in p::properties(props) {
        end = prop.offset + 4 + usize::from(prop.length);
        report!(
            prop.reserved_bits == 0,
            "endpoint {ep}: property at {} has zero reserved type bits",
            prop.offset
        );
        if prop.kind != PROBE_T_RESV_MEM {
            report_info!("endpoint {ep}: property type {} ignored", prop.kind);
            continue;
        }
        report!(
            prop.length == 20,
            "endpoint {ep}: RESV_MEM length is 20 ({})",
            prop.length
        );
        let Some(resv) = ResvMem::decode(prop.body) else {
            report!(false, "endpoint {ep}: RESV_MEM body complete");
            continue;
        };
        report!(
            resv.reserved == [0; 3],
            "endpoint {ep}: RESV_MEM reserved bytes are zero"
        );
        if resv.subtype == RESV_MEM_T_MSI {
            msi += 1;
            report!(
                resv.start == MSI_START && resv.end == MSI_END,
                "endpoint {ep}: RESV_MEM MSI [{:#x}, {:#x}] is the x86 MSI window",
                resv.start,
                resv.end
            );
        } else {
            report_info!(
                "endpoint {ep}: RESV_MEM subtype {} [{:#x}, {:#x}]",
                resv.subtype,
                resv.start,
                resv.end
            );
        }
    }
    // "The device SHOULD NOT present more than one VIRTIO_IOMMU_RESV_MEM_T_MSI property per
    // endpoint."
    report!(msi == 1, "endpoint {ep}: exactly one MSI region ({msi})");
    // "If the device doesn't fill all probe_size bytes with properties, it SHOULD fill the
    // remaining bytes of properties with zeroes."
    let rest = props.get(end.min(n)..).unwrap_or(&[]);
    report!(
        rest.iter().all(|&b| b == 0),
        "endpoint {ep}: the {} bytes after the properties are zero",
        rest.len()
    );
    Some(())
}
