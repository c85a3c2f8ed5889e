//! The engine's main job, end to end: a Zircon kernel with a translating IOMMU pins a VMO for a
//! device, the device's DMA is translated through the IOMMU, a forgotten PMT is quarantined, and
//! after unpin the device can no longer reach the memory.
//!
//! Run: `cargo run -p iommu --example demo`

use std::process::ExitCode;

use iommu::Perms;
use iommu::zx::*;

/// A failed syscall, named.
struct Failure(String);

type Res<T> = Result<T, Failure>;

fn call<T>(what: &str, r: Result<T, Status>) -> Res<T> {
    r.map_err(|s| Failure(format!("{what} failed: {}", status_name(s))))
}

fn hex_list(addrs: &[u64]) -> String {
    addrs
        .iter()
        .map(|a| format!("{a:#x}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ranges(rs: &[std::ops::Range<u64>]) -> String {
    rs.iter()
        .map(|r| format!("[{:#x}, {:#x})", r.start, r.end))
        .collect::<Vec<_>>()
        .join(", ")
}

fn access(p: Perms) -> &'static str {
    match (p.contains(Perms::READ), p.contains(Perms::WRITE)) {
        (true, true) => "read+write",
        (true, false) => "read",
        (false, true) => "write",
        (false, false) => "exec",
    }
}

fn run() -> Res<()> {
    let page = 4096u64;
    let kernel = Kernel::new(KernelConfig::default());
    println!(
        "kernel: page size {} bytes, RAM {} (lazily backed), MMIO {}",
        kernel.page_size(),
        ranges(&kernel.config().ram),
        ranges(&kernel.config().mmio)
    );

    // An IOMMU of our translating type: 64 KiB minimum contiguity, 4 GiB of IOVA space per BTI.
    let root = kernel.root_resource();
    let rsrc = call(
        "zx_resource_create",
        kernel.resource_create(
            root,
            ZX_RSRC_KIND_SYSTEM,
            ZX_RSRC_SYSTEM_IOMMU_BASE,
            1,
            "iommu",
        ),
    )?;
    let desc = TranslatingIommuDesc {
        minimum_contiguity: 16 * page,
        aspace_size: 1 << 32,
    };
    let iommu = call(
        "zx_iommu_create",
        kernel.iommu_create(rsrc, IOMMU_TYPE_TRANSLATING, &desc.to_bytes()),
    )?;
    println!(
        "iommu_create(type {IOMMU_TYPE_TRANSLATING:#x}, minimum_contiguity {:#x}, aspace_size {:#x}) -> handle {iommu:#x}",
        desc.minimum_contiguity, desc.aspace_size
    );
    let bti = call("zx_bti_create", kernel.bti_create(iommu, 0, 0x42))?;
    let (engine, endpoint) = call("bti_endpoint", kernel.bti_endpoint(bti))?;
    println!(
        "bti_create(bti_id 0x42) -> handle {bti:#x}, engine endpoint {}",
        endpoint.0
    );

    // A VMO with some data for the device to read.
    let vmo = call("zx_vmo_create", kernel.vmo_create(8 * page, 0))?;
    call(
        "zx_vmo_write",
        kernel.vmo_write(vmo, b"hello from the VMO", 3 * page),
    )?;
    println!("vmo_create(8 pages) -> handle {vmo:#x}; wrote \"hello from the VMO\" at page 3");

    // Pin it: one device address (IOVA) per page.
    let mut iovas = vec![0u64; 8];
    let pmt = call(
        "zx_bti_pin",
        kernel.bti_pin(
            bti,
            ZX_BTI_PERM_READ | ZX_BTI_PERM_WRITE,
            vmo,
            0,
            8 * page,
            &mut iovas,
        ),
    )?;
    println!("bti_pin(READ|WRITE, 8 pages) -> pmt {pmt:#x}");
    println!("  IOVAs: {}", hex_list(&iovas));
    let mut compressed = vec![0u64; 1];
    let pmt2 = call(
        "zx_bti_pin",
        kernel.bti_pin(
            bti,
            ZX_BTI_PERM_READ | ZX_BTI_COMPRESS,
            vmo,
            0,
            8 * page,
            &mut compressed,
        ),
    )?;
    println!(
        "bti_pin(READ|COMPRESS, 8 pages) -> 1 address per 64 KiB block: {}",
        hex_list(&compressed)
    );

    // The device reads 18 bytes at IOVA(page 3): translate, then read physical memory.
    let dma_at = iovas[3];
    let segments = engine
        .translate(endpoint, dma_at, 18, Perms::READ)
        .map_err(|f| Failure(format!("translate failed: {f}")))?;
    let mem = kernel.physical_memory();
    for s in segments.iter() {
        let mut bytes = vec![0u8; s.len as usize];
        call("read physical memory", mem.read(s.paddr, &mut bytes))?;
        println!(
            "DMA read by endpoint {} at IOVA {:#x}, {} bytes -> physical {:#x}: {:?}",
            endpoint.0,
            s.iova,
            s.len,
            s.paddr,
            String::from_utf8_lossy(&bytes)
        );
    }
    // A write through the READ-only COMPRESS pin's IOVAs is refused.
    match engine.translate(endpoint, compressed[0], 4, Perms::WRITE) {
        Ok(_) => println!("unexpected: write through a READ-only pin translated"),
        Err(f) => println!(
            "DMA write at IOVA {:#x} (READ-only pin) -> fault: {:?}",
            f.iova, f.reason
        ),
    }

    // Quarantine: close the second PMT's handle without unpinning.
    call("zx_handle_close", kernel.handle_close(pmt2))?;
    let info = bti_info(&kernel, bti)?;
    println!(
        "handle_close(pmt {pmt2:#x}) without unpin -> quarantined: pmo_count {}, quarantine_count {}",
        info[2], info[3]
    );
    match engine.translate(endpoint, compressed[0], 4, Perms::READ) {
        Ok(_) => println!("unexpected: quarantined PMT still translates"),
        Err(f) => println!(
            "  its IOVA {:#x} is unmapped at once -> fault: {:?}",
            f.iova, f.reason
        ),
    }
    let mut one = [0u64; 1];
    match kernel.bti_pin(bti, ZX_BTI_PERM_READ, vmo, 0, page, &mut one) {
        Ok(_) => println!("unexpected: pin on a quarantined BTI succeeded"),
        Err(s) => println!("  bti_pin on the quarantined BTI -> {}", status_name(s)),
    }
    match kernel.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, page) {
        Ok(()) => println!("unexpected: decommit of a quarantined page succeeded"),
        Err(s) => println!("  its pages stay pinned: decommit -> {}", status_name(s)),
    }
    call(
        "zx_bti_release_quarantine",
        kernel.bti_release_quarantine(bti),
    )?;
    let info = bti_info(&kernel, bti)?;
    println!(
        "bti_release_quarantine -> pmo_count {}, quarantine_count {}",
        info[2], info[3]
    );

    // Unpin: once pmt_unpin returns, the device's DMA faults.
    call("zx_pmt_unpin", kernel.pmt_unpin(pmt))?;
    match engine.translate(endpoint, dma_at, 18, Perms::READ) {
        Ok(_) => println!("unexpected: translate after unpin succeeded"),
        Err(f) => println!(
            "pmt_unpin -> DMA at IOVA {:#x} now faults: endpoint {}, {} access, {:?}",
            f.iova,
            f.endpoint.0,
            access(f.access),
            f.reason
        ),
    }
    call(
        "zx_vmo_op_range",
        kernel.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 8 * page),
    )?;
    println!(
        "decommit now succeeds; IOVA bytes still allocated for the BTI: {}",
        call("bti_iova_allocated", kernel.bti_iova_allocated(bti))?
    );
    Ok(())
}

/// {minimum_contiguity, aspace_size, pmo_count, quarantine_count} from ZX_INFO_BTI.
fn bti_info(kernel: &Kernel, bti: Handle) -> Res<[u64; 4]> {
    let mut b = [0u8; 32];
    call(
        "zx_object_get_info",
        kernel.object_get_info(bti, ZX_INFO_BTI, &mut b),
    )?;
    let mut out = [0u64; 4];
    for (i, chunk) in b.chunks_exact(8).enumerate() {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(chunk);
        out[i] = u64::from_le_bytes(raw);
    }
    Ok(out)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("demo: {msg}");
            ExitCode::FAILURE
        }
    }
}
