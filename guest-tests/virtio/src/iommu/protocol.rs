//! virtio-iommu wire formats (virtio 1.2 §5.13, device ID 23), encoded by hand from the
//! specification's C structures (reference virtio-iommu.md §1.3–1.11): little-endian, no padding.

/// `VIRTIO_IOMMU_F_INPUT_RANGE` (0).
pub const F_INPUT_RANGE: u64 = 1 << 0;
/// `VIRTIO_IOMMU_F_DOMAIN_RANGE` (1).
pub const F_DOMAIN_RANGE: u64 = 1 << 1;
/// `VIRTIO_IOMMU_F_MAP_UNMAP` (2).
pub const F_MAP_UNMAP: u64 = 1 << 2;
/// `VIRTIO_IOMMU_F_BYPASS` (3, legacy: "New devices SHOULD NOT offer" it).
pub const F_BYPASS: u64 = 1 << 3;
/// `VIRTIO_IOMMU_F_PROBE` (4).
pub const F_PROBE: u64 = 1 << 4;
/// `VIRTIO_IOMMU_F_MMIO` (5).
pub const F_MMIO: u64 = 1 << 5;
/// `VIRTIO_IOMMU_F_BYPASS_CONFIG` (6).
pub const F_BYPASS_CONFIG: u64 = 1 << 6;
/// Every device feature this driver understands (not the legacy BYPASS).
pub const F_ALL: u64 =
    F_INPUT_RANGE | F_DOMAIN_RANGE | F_MAP_UNMAP | F_PROBE | F_MMIO | F_BYPASS_CONFIG;

/// Request type ATTACH.
pub const T_ATTACH: u8 = 1;
/// Request type DETACH.
pub const T_DETACH: u8 = 2;
/// Request type MAP.
pub const T_MAP: u8 = 3;
/// Request type UNMAP.
pub const T_UNMAP: u8 = 4;
/// Request type PROBE.
pub const T_PROBE: u8 = 5;

/// `VIRTIO_IOMMU_S_OK`.
pub const S_OK: u8 = 0;
/// `VIRTIO_IOMMU_S_IOERR`.
pub const S_IOERR: u8 = 1;
/// `VIRTIO_IOMMU_S_UNSUPP`.
pub const S_UNSUPP: u8 = 2;
/// `VIRTIO_IOMMU_S_DEVERR`.
pub const S_DEVERR: u8 = 3;
/// `VIRTIO_IOMMU_S_INVAL`.
pub const S_INVAL: u8 = 4;
/// `VIRTIO_IOMMU_S_RANGE`.
pub const S_RANGE: u8 = 5;
/// `VIRTIO_IOMMU_S_NOENT`.
pub const S_NOENT: u8 = 6;
/// `VIRTIO_IOMMU_S_FAULT`.
pub const S_FAULT: u8 = 7;
/// `VIRTIO_IOMMU_S_NOMEM`.
pub const S_NOMEM: u8 = 8;

/// The name of a status code.
pub fn status_name(status: u8) -> &'static str {
    match status {
        S_OK => "OK",
        S_IOERR => "IOERR",
        S_UNSUPP => "UNSUPP",
        S_DEVERR => "DEVERR",
        S_INVAL => "INVAL",
        S_RANGE => "RANGE",
        S_NOENT => "NOENT",
        S_FAULT => "FAULT",
        S_NOMEM => "NOMEM",
        _ => "?",
    }
}

/// `VIRTIO_IOMMU_ATTACH_F_BYPASS`.
pub const ATTACH_F_BYPASS: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_READ`.
pub const MAP_F_READ: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_WRITE`.
pub const MAP_F_WRITE: u32 = 1 << 1;
/// `VIRTIO_IOMMU_MAP_F_MMIO`.
pub const MAP_F_MMIO: u32 = 1 << 2;
/// READ | WRITE.
pub const MAP_F_RW: u32 = MAP_F_READ | MAP_F_WRITE;

/// Device-readable size of ATTACH.
pub const ATTACH_LEN: usize = 20;
/// Device-readable size of DETACH.
pub const DETACH_LEN: usize = 20;
/// Device-readable size of MAP.
pub const MAP_LEN: usize = 36;
/// Device-readable size of UNMAP.
pub const UNMAP_LEN: usize = 28;
/// Device-readable size of PROBE.
pub const PROBE_LEN: usize = 72;
/// `struct virtio_iommu_req_tail`.
pub const TAIL_LEN: usize = 4;

/// `struct virtio_iommu_req_attach`, readable part.
pub fn attach(domain: u32, endpoint: u32, flags: u32) -> [u8; ATTACH_LEN] {
    let mut b = [0u8; ATTACH_LEN];
    b[0] = T_ATTACH;
    b[4..8].copy_from_slice(&domain.to_le_bytes());
    b[8..12].copy_from_slice(&endpoint.to_le_bytes());
    b[12..16].copy_from_slice(&flags.to_le_bytes());
    b
}

/// `struct virtio_iommu_req_detach`, readable part.
pub fn detach(domain: u32, endpoint: u32) -> [u8; DETACH_LEN] {
    let mut b = [0u8; DETACH_LEN];
    b[0] = T_DETACH;
    b[4..8].copy_from_slice(&domain.to_le_bytes());
    b[8..12].copy_from_slice(&endpoint.to_le_bytes());
    b
}

/// `struct virtio_iommu_req_map`, readable part: `[virt_start, virt_end]` → `phys_start`.
pub fn map(
    domain: u32,
    virt_start: u64,
    virt_end: u64,
    phys_start: u64,
    flags: u32,
) -> [u8; MAP_LEN] {
    let mut b = [0u8; MAP_LEN];
    b[0] = T_MAP;
    b[4..8].copy_from_slice(&domain.to_le_bytes());
    b[8..16].copy_from_slice(&virt_start.to_le_bytes());
    b[16..24].copy_from_slice(&virt_end.to_le_bytes());
    b[24..32].copy_from_slice(&phys_start.to_le_bytes());
    b[32..36].copy_from_slice(&flags.to_le_bytes());
    b
}

/// `struct virtio_iommu_req_unmap`, readable part.
pub fn unmap(domain: u32, virt_start: u64, virt_end: u64) -> [u8; UNMAP_LEN] {
    let mut b = [0u8; UNMAP_LEN];
    b[0] = T_UNMAP;
    b[4..8].copy_from_slice(&domain.to_le_bytes());
    b[8..16].copy_from_slice(&virt_start.to_le_bytes());
    b[16..24].copy_from_slice(&virt_end.to_le_bytes());
    b
}

/// `struct virtio_iommu_req_probe`, readable part.
pub fn probe(endpoint: u32) -> [u8; PROBE_LEN] {
    let mut b = [0u8; PROBE_LEN];
    b[0] = T_PROBE;
    b[4..8].copy_from_slice(&endpoint.to_le_bytes());
    b
}

/// Size of `struct virtio_iommu_config`.
pub const CONFIG_LEN: usize = 40;
/// Offset of `bypass` in the configuration space.
pub const CONFIG_BYPASS: u64 = 0x24;

/// `struct virtio_iommu_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Page sizes; the lowest set bit is the granule.
    pub page_size_mask: u64,
    /// First mappable IOVA.
    pub input_start: u64,
    /// Last mappable IOVA (inclusive).
    pub input_end: u64,
    /// First valid domain ID.
    pub domain_start: u32,
    /// Last valid domain ID (inclusive).
    pub domain_end: u32,
    /// Bytes of PROBE properties.
    pub probe_size: u32,
    /// `bypass`.
    pub bypass: u8,
    /// The three reserved bytes.
    pub reserved: [u8; 3],
}

impl Config {
    /// Decodes the 40 bytes.
    pub fn decode(b: &[u8; CONFIG_LEN]) -> Self {
        let u64_at = |at: usize| {
            u64::from_le_bytes([
                b[at],
                b[at + 1],
                b[at + 2],
                b[at + 3],
                b[at + 4],
                b[at + 5],
                b[at + 6],
                b[at + 7],
            ])
        };
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Config {
            page_size_mask: u64_at(0),
            input_start: u64_at(8),
            input_end: u64_at(16),
            domain_start: u32_at(24),
            domain_end: u32_at(28),
            probe_size: u32_at(32),
            bypass: b[36],
            reserved: [b[37], b[38], b[39]],
        }
    }

    /// The granule: the lowest set bit of `page_size_mask` (0 if the mask is empty).
    pub fn granule(&self) -> u64 {
        if self.page_size_mask == 0 {
            0
        } else {
            1 << self.page_size_mask.trailing_zeros()
        }
    }
}

/// `struct virtio_iommu_fault` (24 bytes).
pub const FAULT_LEN: usize = 24;
/// `VIRTIO_IOMMU_FAULT_R_UNKNOWN`.
pub const FAULT_R_UNKNOWN: u8 = 0;
/// `VIRTIO_IOMMU_FAULT_R_DOMAIN`.
pub const FAULT_R_DOMAIN: u8 = 1;
/// `VIRTIO_IOMMU_FAULT_R_MAPPING`.
pub const FAULT_R_MAPPING: u8 = 2;
/// `VIRTIO_IOMMU_FAULT_F_READ`.
pub const FAULT_F_READ: u32 = 1 << 0;
/// `VIRTIO_IOMMU_FAULT_F_WRITE`.
pub const FAULT_F_WRITE: u32 = 1 << 1;
/// `VIRTIO_IOMMU_FAULT_F_ADDRESS`.
pub const FAULT_F_ADDRESS: u32 = 1 << 8;

/// A fault report from the event queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// `FAULT_R_*`.
    pub reason: u8,
    /// Reserved bytes after `reason` (must be zero).
    pub reserved: [u8; 3],
    /// `FAULT_F_*`.
    pub flags: u32,
    /// The endpoint that made the access.
    pub endpoint: u32,
    /// `reserved1`.
    pub reserved1: u32,
    /// The address (valid with `FAULT_F_ADDRESS`).
    pub address: u64,
    /// The used length the device reported for the event buffer.
    pub used_len: u32,
}

impl Fault {
    /// Decodes a record.
    pub fn decode(b: &[u8; FAULT_LEN], used_len: u32) -> Self {
        Fault {
            reason: b[0],
            reserved: [b[1], b[2], b[3]],
            flags: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            endpoint: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            reserved1: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            address: u64::from_le_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]),
            used_len,
        }
    }

    /// A short name of the reason.
    pub fn reason_name(&self) -> &'static str {
        match self.reason {
            FAULT_R_UNKNOWN => "UNKNOWN",
            FAULT_R_DOMAIN => "DOMAIN",
            FAULT_R_MAPPING => "MAPPING",
            _ => "?",
        }
    }
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "fault reason={} flags={:#x} endpoint={} address={:#x}",
            self.reason_name(),
            self.flags,
            self.endpoint,
            self.address
        )
    }
}

/// `VIRTIO_IOMMU_PROBE_T_RESV_MEM`.
pub const PROBE_T_RESV_MEM: u16 = 1;
/// `VIRTIO_IOMMU_RESV_MEM_T_RESERVED`.
pub const RESV_MEM_T_RESERVED: u8 = 0;
/// `VIRTIO_IOMMU_RESV_MEM_T_MSI`.
pub const RESV_MEM_T_MSI: u8 = 1;

/// One PROBE property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property<'a> {
    /// Bits 0–11 of `type`.
    pub kind: u16,
    /// Bits 12–15 of `type` (reserved).
    pub reserved_bits: u16,
    /// `length` (without the 4-byte header).
    pub length: u16,
    /// Offset of the header in the properties buffer.
    pub offset: usize,
    /// The `length` bytes after the header (shorter if the buffer ends first).
    pub body: &'a [u8],
}

/// Walks a PROBE properties buffer: "the list ends at a property with type 0 (NONE) or at the
/// end of properties"; each next property starts `length + 4` bytes after the current one.
pub fn properties(buf: &[u8]) -> impl Iterator<Item = Property<'_>> {
    let mut at = 0usize;
    core::iter::from_fn(move || {
        let head = buf.get(at..at + 4)?;
        let ty = u16::from_le_bytes([head[0], head[1]]);
        let length = u16::from_le_bytes([head[2], head[3]]);
        if ty & 0xfff == 0 {
            return None;
        }
        let body_end = (at + 4 + usize::from(length)).min(buf.len());
        let p = Property {
            kind: ty & 0xfff,
            reserved_bits: ty >> 12,
            length,
            offset: at,
            body: &buf[at + 4..body_end],
        };
        at += 4 + usize::from(length);
        Some(p)
    })
}

/// `struct virtio_iommu_probe_resv_mem` after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResvMem {
    /// `RESV_MEM_T_*`.
    pub subtype: u8,
    /// The reserved bytes after `subtype`.
    pub reserved: [u8; 3],
    /// First address.
    pub start: u64,
    /// Last address (inclusive).
    pub end: u64,
}

impl ResvMem {
    /// Decodes a RESV_MEM property body (20 bytes).
    pub fn decode(body: &[u8]) -> Option<Self> {
        let b: &[u8; 20] = body.get(..20)?.try_into().ok()?;
        Some(ResvMem {
            subtype: b[0],
            reserved: [b[1], b[2], b[3]],
            start: u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]),
            end: u64::from_le_bytes([b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_spec_layout() {
        let m = map(7, 0x1000, 0x1fff, 0x5000, MAP_F_RW);
        assert_eq!(m[0], T_MAP);
        assert_eq!(&m[4..8], &7u32.to_le_bytes());
        assert_eq!(&m[16..24], &0x1fffu64.to_le_bytes());
        assert_eq!(&m[32..36], &3u32.to_le_bytes());
        let a = attach(1, 2, ATTACH_F_BYPASS);
        assert_eq!((a[0], a[8], a[12]), (T_ATTACH, 2, 1));
        assert_eq!(unmap(1, 0, u64::MAX)[16..24], [0xff; 8]);
        assert_eq!(probe(9)[4], 9);
    }

    #[test]
    fn properties_walk_by_length_and_stop_at_none() {
        let mut buf = [0u8; 64];
        buf[0..2].copy_from_slice(&PROBE_T_RESV_MEM.to_le_bytes());
        buf[2..4].copy_from_slice(&20u16.to_le_bytes());
        buf[4] = RESV_MEM_T_MSI;
        buf[8..16].copy_from_slice(&0xfee0_0000u64.to_le_bytes());
        buf[16..24].copy_from_slice(&0xfeef_ffffu64.to_le_bytes());
        buf[24..26].copy_from_slice(&0x7123u16.to_le_bytes());
        buf[26..28].copy_from_slice(&2u16.to_le_bytes());
        let props: Vec<_> = properties(&buf).collect();
        assert_eq!(props.len(), 2);
        let r = ResvMem::decode(props[0].body).unwrap();
        assert_eq!(
            (r.subtype, r.start, r.end),
            (RESV_MEM_T_MSI, 0xfee0_0000, 0xfeef_ffff)
        );
        assert_eq!(
            (props[1].kind, props[1].reserved_bits, props[1].offset),
            (0x123, 7, 24)
        );
    }

    #[test]
    fn config_and_fault_decode() {
        let mut c = [0u8; CONFIG_LEN];
        c[0..8].copy_from_slice(&(!0xfffu64).to_le_bytes());
        c[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        c[32..36].copy_from_slice(&64u32.to_le_bytes());
        c[36] = 1;
        let cfg = Config::decode(&c);
        assert_eq!(
            (cfg.granule(), cfg.input_end, cfg.probe_size, cfg.bypass),
            (4096, u64::MAX, 64, 1)
        );
        let mut f = [0u8; FAULT_LEN];
        f[0] = FAULT_R_MAPPING;
        f[4] = 2;
        f[5] = 1;
        f[8] = 5;
        f[16..24].copy_from_slice(&0x4000_2000u64.to_le_bytes());
        let fault = Fault::decode(&f, 24);
        assert_eq!(fault.flags, FAULT_F_WRITE | FAULT_F_ADDRESS);
        assert_eq!((fault.endpoint, fault.address), (5, 0x4000_2000));
    }
}
