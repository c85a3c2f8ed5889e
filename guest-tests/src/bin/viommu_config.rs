//! virtio-iommu, from the guest: the platform description (VIOT, DSDT, command line), the
//! virtio-mmio transport, the features offered and negotiated, the 40-byte configuration space,
//! and request framing (unknown types, reserved fields, descriptor layouts, used lengths).
//!
//! Runner: `--iommu --dma-test --rng`; hint `gtest.bypass=<0|1>` (the expected start value).
#![no_std]
#![no_main]

use gtest_rt::acpi::Acpi;
use gtest_rt::boot::BootInfo;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_rt::{report, report_info, report_skip};
use gtest_virtio::harness::{Env, check};
use gtest_virtio::iommu::protocol::{
    self as p, CONFIG_LEN, F_ALL, F_BYPASS, F_BYPASS_CONFIG, F_DOMAIN_RANGE, F_INPUT_RANGE,
    F_MAP_UNMAP, F_MMIO, F_PROBE, S_INVAL,
};
use gtest_virtio::iommu::{Iommu, Split};
use gtest_virtio::mmio::{self, MmioDevice, device_id, features, regs};

gtest_rt::main!(main);

fn main(boot: &BootInfo) {
    let Some(mut env) = Env::new(boot) else {
        return;
    };
    prefix_push("topology");
    topology(&env, boot);
    prefix_pop();
    let Some(dev) = env.platform.device(device_id::IOMMU) else {
        report!(false, "a virtio-iommu is present");
        return;
    };
    prefix_push("transport");
    transport(dev);
    prefix_pop();
    prefix_push("features");
    negotiation(dev);
    prefix_pop();
    prefix_push("config");
    config_space(&env, dev);
    prefix_pop();
    prefix_push("requests");
    let _ = framing(&mut env);
    prefix_pop();
}

fn topology(env: &Env, boot: &BootInfo) {
    let platform = &env.platform;
    let iommu = platform.find(device_id::IOMMU);
    report!(iommu.is_some(), "a virtio-iommu (device ID 23) is present");
    report!(
        platform.missing == 0,
        "every virtio_mmio.device= argument has a device behind it ({} without)",
        platform.missing
    );
    let devices = platform.devices().count();
    report!(
        platform.devices().all(|d| d.version == mmio::VERSION),
        "all {devices} virtio-mmio devices are version 2"
    );
    report!(env.viot_listed, "the XSDT lists a VIOT");
    report!(
        env.viot_error.is_none(),
        "the VIOT parses ({:?})",
        env.viot_error
    );
    let Some(viot) = platform.viot else {
        return;
    };
    report!(
        viot.nodes_seen == viot.node_count,
        "VIOT: all {} nodes walked",
        viot.node_count
    );
    report!(
        viot.pci_nodes == 0 && viot.unknown_nodes == 0,
        "VIOT: no PCI or unknown nodes on this virtio-mmio platform"
    );
    let iommus = viot.iommus().count();
    report!(iommus == 1, "VIOT: one virtio-mmio IOMMU node ({iommus})");
    let node = viot.iommus().next();
    if let (Some(node), Some(iommu)) = (node, iommu) {
        report!(
            node.base == iommu.slot.base,
            "VIOT: the IOMMU node's base {:#x} is the virtio-iommu's {:#x}",
            node.base,
            iommu.slot.base
        );
    }
    let mut endpoints = 0;
    for ep in viot.endpoints() {
        endpoints += 1;
        let dev = platform.devices().find(|d| d.slot.base == ep.base);
        report!(
            dev.is_some_and(|d| d.device_id != device_id::IOMMU),
            "VIOT: endpoint {} at {:#x} is a virtio device other than the IOMMU ({})",
            ep.endpoint,
            ep.base,
            dev.map_or("none", |d| device_id::name(d.device_id))
        );
        report!(
            viot.iommu_of(&ep).is_some(),
            "VIOT: endpoint {}'s output node {:#x} is the IOMMU node",
            ep.endpoint,
            ep.output_node
        );
        let same_id = viot
            .endpoints()
            .filter(|o| o.endpoint == ep.endpoint)
            .count();
        report!(same_id == 1, "VIOT: endpoint ID {} is unique", ep.endpoint);
    }
    report!(
        endpoints + 1 == devices,
        "VIOT: one endpoint per translated device ({endpoints} endpoints, {devices} devices)"
    );
    // Devices behind the IOMMU offer ACCESS_PLATFORM; the VIOT must name each of them.
    for d in platform
        .devices()
        .filter(|d| d.device_id != device_id::IOMMU)
    {
        let dev = MmioDevice::new(d.slot.base);
        let offers = dev.device_features() & features::ACCESS_PLATFORM != 0;
        report!(
            offers == platform.endpoint_of(d.slot).is_some(),
            "{} at {:#x}: offers ACCESS_PLATFORM ({offers}) exactly when the VIOT names it",
            device_id::name(d.device_id),
            d.slot.base
        );
    }
    if let Some(d) = platform.find(device_id::DMA_TEST) {
        let cfg_ep = MmioDevice::new(d.slot.base).config_u32(0);
        report!(
            platform.endpoint_of(d.slot) == Some(cfg_ep),
            "the DMA test device's configured endpoint {cfg_ep} is its VIOT endpoint"
        );
    }
    match Acpi::new(boot.rsdp_addr).and_then(|a| a.dsdt()) {
        Ok(dsdt) => {
            let hid = dsdt.bytes.windows(8).filter(|w| *w == b"LNRO0005").count();
            report!(
                hid == devices,
                "DSDT: one LNRO0005 device per virtio-mmio device ({hid} for {devices})"
            );
            for d in platform.devices() {
                let base = (d.slot.base as u32).to_le_bytes();
                report!(
                    dsdt.bytes.windows(4).any(|w| w == base),
                    "DSDT: a resource names base {:#x}",
                    d.slot.base
                );
            }
        }
        Err(e) => {
            report!(false, "DSDT: {e}");
        }
    }
}

fn transport(dev: MmioDevice) {
    report!(
        dev.read(regs::MAGIC_VALUE) == mmio::MAGIC_VALUE,
        "MagicValue is \"virt\""
    );
    report!(dev.read(regs::VERSION) == 2, "Version is 2");
    report!(dev.device_id() == device_id::IOMMU, "DeviceID is 23");
    report_info!("VendorID {:#x}", dev.vendor_id());
    let (q0, q1, q2) = (
        dev.queue_num_max(0),
        dev.queue_num_max(1),
        dev.queue_num_max(2),
    );
    report!(
        q0 > 0 && q0.is_power_of_two(),
        "requestq exists (QueueNumMax {q0})"
    );
    report!(
        q1 > 0 && q1.is_power_of_two(),
        "eventq exists (QueueNumMax {q1})"
    );
    report!(q2 == 0, "there is no third queue (QueueNumMax {q2})");
}

fn negotiation(dev: MmioDevice) {
    let offered = dev.device_features();
    report_info!("device features {offered:#x}");
    for (bit, name) in [
        (features::VERSION_1, "VERSION_1"),
        (F_MAP_UNMAP, "MAP_UNMAP"),
        (F_INPUT_RANGE, "INPUT_RANGE"),
        (F_DOMAIN_RANGE, "DOMAIN_RANGE"),
        (F_PROBE, "PROBE"),
        (F_BYPASS_CONFIG, "BYPASS_CONFIG"),
        (F_MMIO, "MMIO"),
    ] {
        report!(offered & bit != 0, "offers {name}");
    }
    // "New devices SHOULD NOT offer VIRTIO_IOMMU_F_BYPASS"; "Devices SHOULD NOT offer both".
    report!(offered & F_BYPASS == 0, "does not offer the legacy BYPASS");
    report!(
        dev.negotiate_exact(offered & F_ALL).is_err(),
        "FEATURES_OK is refused without VERSION_1 (modern-only transport)"
    );
    report!(
        dev.negotiate_exact(features::VERSION_1 | F_BYPASS).is_err(),
        "FEATURES_OK is refused for a feature not offered (legacy BYPASS)"
    );
    let all = features::VERSION_1 | (offered & F_ALL);
    report!(
        dev.negotiate_exact(all).is_ok(),
        "FEATURES_OK is accepted for VERSION_1 and every offered device feature"
    );
    report!(
        dev.negotiate_exact(features::VERSION_1 | F_MAP_UNMAP)
            .is_ok(),
        "FEATURES_OK is accepted for a subset (VERSION_1 | MAP_UNMAP)"
    );
    let _ = dev.reset();
}

fn config_space(env: &Env, dev: MmioDevice) {
    let mut raw = [0u8; CONFIG_LEN];
    dev.read_config(0, &mut raw);
    let c = p::Config::decode(&raw);
    report_info!(
        "page_size_mask {:#x}, input_range [{:#x}, {:#x}], domain_range [{}, {}], probe_size {}, bypass {}",
        c.page_size_mask,
        c.input_start,
        c.input_end,
        c.domain_start,
        c.domain_end,
        c.probe_size,
        c.bypass
    );
    // "The device MUST set at least one bit in page_size_mask".
    report!(c.page_size_mask != 0, "page_size_mask has a bit set");
    // Linux: "granule larger than system page size" fails domain allocation.
    report!(
        c.granule() == 4096,
        "the granule is 4 KiB ({:#x})",
        c.granule()
    );
    report!(c.input_start <= c.input_end, "input_range is not empty");
    report!(c.domain_start <= c.domain_end, "domain_range is not empty");
    report!(
        c.probe_size >= 24,
        "probe_size {} holds a RESV_MEM property",
        c.probe_size
    );
    // "The device MUST NOT present a value different than 0 or 1 in bypass."
    report!(c.bypass <= 1, "bypass is 0 or 1 ({})", c.bypass);
    report!(c.reserved == [0; 3], "the reserved bytes are zero");
    match env.hint("gtest.bypass") {
        Some(v) => {
            report!(
                v.parse::<u8>() == Ok(c.bypass),
                "bypass starts as the VMM was told ({v})"
            );
        }
        None => report_skip!("no gtest.bypass hint: start value of bypass not checked"),
    }
    // Byte accesses ("accessed with byte alignment") agree with the 32-bit ones.
    let bytes: [u8; 8] = core::array::from_fn(|i| dev.config_u8(i as u64));
    report!(
        u64::from_le_bytes(bytes) == c.page_size_mask,
        "byte reads of page_size_mask agree with 32-bit reads"
    );
    let generation = dev.config_generation();
    let mut again = [0u8; CONFIG_LEN];
    dev.read_config(0, &mut again);
    report!(
        again == raw && dev.config_generation() == generation,
        "the configuration is stable (generation {generation})"
    );
    // Read-only fields ignore writes (the driver "MUST NOT write to any other field").
    dev.set_config_u8(0x1, 0x00);
    dev.set_config_u8(0x20, 0xff);
    dev.read_config(0, &mut again);
    report!(again == raw, "writes to read-only fields are ignored");
}

fn framing(env: &mut Env) -> Option<()> {
    let mut iommu: Iommu = env.iommu()?;
    let negotiated = iommu.negotiated();
    report!(
        negotiated == (features::VERSION_1 | (iommu.offered() & F_ALL)),
        "the driver negotiated every offered feature it knows ({negotiated:#x})"
    );
    let endpoint = env
        .platform
        .viot
        .and_then(|v| v.endpoints().next())
        .map(|e| e.endpoint);
    // "If a request type is not recognized, the device SHOULD NOT write the buffer and SHOULD set
    // the used length to zero."
    for ty in [0u8, 6, 0x42, 0xff] {
        let mut req = [0u8; 20];
        req[0] = ty;
        let r = check("request", iommu.request_raw(&req, 16, Split::TWO, 0x77))?;
        report!(
            r.used_len == 0 && iommu.last_writable().check_all(0x77).is_ok(),
            "type {ty}: used length 0 and the buffer untouched ({r})"
        );
    }
    let Some(ep) = endpoint else {
        report!(false, "the VIOT names an endpoint to send requests about");
        return None;
    };
    // "The device MUST ignore reserved fields of the head"; "SHOULD set tail.reserved to 0".
    let mut req = p::attach(1, ep, 0);
    req[1..4].copy_from_slice(&[0xff, 0xff, 0xff]);
    let r = check("ATTACH", iommu.request_raw(&req, 4, Split::TWO, 0xff))?;
    report!(r.ok(), "head.reserved is ignored: ATTACH is OK ({r})");
    report!(
        r.tail_reserved == [0; 3],
        "tail.reserved is zeroed ({:?})",
        r.tail_reserved
    );
    // Any descriptor layout: 3 readable and 2 writable descriptors.
    let map = p::map(1, 0x40_0000, 0x40_0fff, 0x40_0000, p::MAP_F_READ);
    let split = Split {
        readable: 3,
        writable: 2,
    };
    let r = check("MAP", iommu.request_raw(&map, 4, split, 0xff))?;
    report!(r.ok(), "a MAP cut into 3 + 2 descriptors is OK ({r})");
    let r = check("MAP", iommu.request_raw(&map, 4, split, 0xff))?;
    report!(
        r.is(S_INVAL),
        "and the same MAP again overlaps it: INVAL ({r})"
    );
    // The used length is the whole writable part, status in its last 4 bytes.
    let unmap = p::unmap(1, 0x40_0000, 0x40_0fff);
    let r = check("UNMAP", iommu.request_raw(&unmap, 64, Split::TWO, 0xff))?;
    report!(
        r.ok(),
        "a 64-byte writable part: status in its last 4 bytes, used length 64 ({r})"
    );
    // A request too short for its type: INVAL, or untouched buffers.
    let r = check(
        "short ATTACH",
        iommu.request_raw(&req[..12], 4, Split::TWO, 0xff),
    )?;
    report!(
        r.is(S_INVAL) || (r.used_len == 0 && iommu.last_writable().check_all(0xff).is_ok()),
        "an ATTACH of 12 readable bytes is INVAL or left untouched ({r})"
    );
    let r = check("DETACH", iommu.detach(1, ep))?;
    report!(r.ok(), "DETACH endpoint {ep} from domain 1: {r}");
    Some(())
}
