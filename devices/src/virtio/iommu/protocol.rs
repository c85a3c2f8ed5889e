//! virtio-iommu wire formats (virtio 1.2 §5.13, device ID 23): feature bits, the 40-byte
//! configuration space, request and reply layouts, PROBE properties and fault records.
//!
//! All multi-byte fields are little-endian. Requests are decoded from and replies encoded to byte
//! slices with explicit offsets (no `unsafe` casts); offsets are those of the C structures in the
//! specification, which have no padding.

/// `VIRTIO_IOMMU_F_INPUT_RANGE`: `input_range` is valid.
pub const F_INPUT_RANGE: u32 = 0;
/// `VIRTIO_IOMMU_F_DOMAIN_RANGE`: `domain_range` is valid.
pub const F_DOMAIN_RANGE: u32 = 1;
/// `VIRTIO_IOMMU_F_MAP_UNMAP`: MAP and UNMAP requests are available.
pub const F_MAP_UNMAP: u32 = 2;
/// `VIRTIO_IOMMU_F_BYPASS` (legacy; never offered here).
pub const F_BYPASS: u32 = 3;
/// `VIRTIO_IOMMU_F_PROBE`: PROBE requests are available, `probe_size` is valid.
pub const F_PROBE: u32 = 4;
/// `VIRTIO_IOMMU_F_MMIO`: `VIRTIO_IOMMU_MAP_F_MMIO` is available.
pub const F_MMIO: u32 = 5;
/// `VIRTIO_IOMMU_F_BYPASS_CONFIG`: the `bypass` config field and `ATTACH_F_BYPASS`.
pub const F_BYPASS_CONFIG: u32 = 6;

/// Request types.
pub const T_ATTACH: u8 = 1;
/// DETACH request.
pub const T_DETACH: u8 = 2;
/// MAP request.
pub const T_MAP: u8 = 3;
/// UNMAP request.
pub const T_UNMAP: u8 = 4;
/// PROBE request.
pub const T_PROBE: u8 = 5;

/// Status: all good.
pub const S_OK: u8 = 0;
/// Status: virtio communication error.
pub const S_IOERR: u8 = 1;
/// Status: unsupported request.
pub const S_UNSUPP: u8 = 2;
/// Status: internal device error.
pub const S_DEVERR: u8 = 3;
/// Status: invalid parameters.
pub const S_INVAL: u8 = 4;
/// Status: out-of-range parameters.
pub const S_RANGE: u8 = 5;
/// Status: entry not found.
pub const S_NOENT: u8 = 6;
/// Status: bad address.
pub const S_FAULT: u8 = 7;
/// Status: insufficient resources.
pub const S_NOMEM: u8 = 8;
/// Number of defined status codes.
pub const STATUS_COUNT: usize = 9;

/// `VIRTIO_IOMMU_ATTACH_F_BYPASS`: create (or join) a bypass domain.
pub const ATTACH_F_BYPASS: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_READ`.
pub const MAP_F_READ: u32 = 1 << 0;
/// `VIRTIO_IOMMU_MAP_F_WRITE`.
pub const MAP_F_WRITE: u32 = 1 << 1;
/// `VIRTIO_IOMMU_MAP_F_MMIO` (memory type, needs `F_MMIO`).
pub const MAP_F_MMIO: u32 = 1 << 2;

/// `VIRTIO_IOMMU_PROBE_T_RESV_MEM`.
pub const PROBE_T_RESV_MEM: u16 = 1;
/// `VIRTIO_IOMMU_RESV_MEM_T_RESERVED`: IOVAs the driver must not map.
pub const RESV_MEM_T_RESERVED: u8 = 0;
/// `VIRTIO_IOMMU_RESV_MEM_T_MSI`: an MSI doorbell window.
pub const RESV_MEM_T_MSI: u8 = 1;
/// Size of one RESV_MEM property including its 4-byte header.
pub const RESV_MEM_SIZE: usize = 24;

/// `VIRTIO_IOMMU_FAULT_R_UNKNOWN`.
pub const FAULT_R_UNKNOWN: u8 = 0;
/// `VIRTIO_IOMMU_FAULT_R_DOMAIN`: access by an endpoint not attached to a domain.
pub const FAULT_R_DOMAIN: u8 = 1;
/// `VIRTIO_IOMMU_FAULT_R_MAPPING`: address not mapped or wrong protection.
pub const FAULT_R_MAPPING: u8 = 2;
/// `VIRTIO_IOMMU_FAULT_F_READ`.
pub const FAULT_F_READ: u32 = 1 << 0;
/// `VIRTIO_IOMMU_FAULT_F_WRITE`.
pub const FAULT_F_WRITE: u32 = 1 << 1;
/// `VIRTIO_IOMMU_FAULT_F_ADDRESS`: `address` is valid.
pub const FAULT_F_ADDRESS: u32 = 1 << 8;
/// Size of `struct virtio_iommu_fault`.
pub const FAULT_SIZE: usize = 24;

/// `struct virtio_iommu_req_head` (device-readable).
pub const HEAD_SIZE: usize = 4;
/// `struct virtio_iommu_req_tail` (device-writable).
pub const TAIL_SIZE: usize = 4;
/// Device-readable size of an ATTACH request (head, domain, endpoint, flags, `reserved[4]`).
pub const ATTACH_SIZE: usize = 20;
/// Device-readable size of a DETACH request (head, domain, endpoint, `reserved[8]`).
pub const DETACH_SIZE: usize = 20;
/// Device-readable size of a MAP request (head, domain, virt_start, virt_end, phys_start, flags).
pub const MAP_SIZE: usize = 36;
/// Device-readable size of an UNMAP request (head, domain, virt_start, virt_end, `reserved[4]`).
pub const UNMAP_SIZE: usize = 28;
/// Device-readable size of a PROBE request (head, endpoint, `reserved[64]`).
pub const PROBE_SIZE: usize = 72;
/// The largest device-readable part of any request: the device never reads more.
pub const MAX_READABLE: usize = PROBE_SIZE;

/// Size of `struct virtio_iommu_config`.
pub const CONFIG_SIZE: usize = 40;
/// Offset of `bypass` in the configuration space.
pub const CONFIG_BYPASS_OFFSET: u64 = 0x24;

fn le16(b: &[u8], at: usize) -> u16 {
    let mut v = [0u8; 2];
    v.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(v)
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// `struct virtio_iommu_config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IommuConfigSpace {
    /// Supported page sizes; the lowest set bit is the granule.
    pub page_size_mask: u64,
    /// First IOVA that can be mapped.
    pub input_start: u64,
    /// Last IOVA that can be mapped (inclusive).
    pub input_end: u64,
    /// First valid domain ID.
    pub domain_start: u32,
    /// Last valid domain ID (inclusive).
    pub domain_end: u32,
    /// Bytes of PROBE properties.
    pub probe_size: u32,
    /// Whether unattached endpoints bypass translation (0 or 1).
    pub bypass: u8,
}

impl IommuConfigSpace {
    /// The 40 bytes of the configuration space.
    pub fn to_bytes(&self) -> [u8; CONFIG_SIZE] {
        let mut b = [0u8; CONFIG_SIZE];
        b[0..8].copy_from_slice(&self.page_size_mask.to_le_bytes());
        b[8..16].copy_from_slice(&self.input_start.to_le_bytes());
        b[16..24].copy_from_slice(&self.input_end.to_le_bytes());
        b[24..28].copy_from_slice(&self.domain_start.to_le_bytes());
        b[28..32].copy_from_slice(&self.domain_end.to_le_bytes());
        b[32..36].copy_from_slice(&self.probe_size.to_le_bytes());
        b[36] = self.bypass;
        // b[37..40]: reserved, zero.
        b
    }
}

/// The request head: its type and reserved bytes (which the device ignores).
pub fn request_type(readable: &[u8]) -> Option<u8> {
    readable.first().copied()
}

/// `struct virtio_iommu_req_attach` (device-readable part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachReq {
    /// Domain to attach to (created if it does not exist).
    pub domain: u32,
    /// Endpoint to attach.
    pub endpoint: u32,
    /// `ATTACH_F_*` flags.
    pub flags: u32,
    /// Must be zero.
    pub reserved: [u8; 4],
}

impl AttachReq {
    /// Decodes the first [`ATTACH_SIZE`] bytes; `None` if fewer are given.
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= ATTACH_SIZE).then(|| AttachReq {
            domain: le32(b, 4),
            endpoint: le32(b, 8),
            flags: le32(b, 12),
            reserved: [b[16], b[17], b[18], b[19]],
        })
    }

    /// Encodes the device-readable part (for drivers and tests).
    pub fn encode(&self) -> [u8; ATTACH_SIZE] {
        let mut b = [0u8; ATTACH_SIZE];
        b[0] = T_ATTACH;
        b[4..8].copy_from_slice(&self.domain.to_le_bytes());
        b[8..12].copy_from_slice(&self.endpoint.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..20].copy_from_slice(&self.reserved);
        b
    }
}

/// `struct virtio_iommu_req_detach` (device-readable part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetachReq {
    /// Domain to detach from.
    pub domain: u32,
    /// Endpoint to detach.
    pub endpoint: u32,
}

impl DetachReq {
    /// Decodes the first [`DETACH_SIZE`] bytes (reserved bytes are ignored).
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= DETACH_SIZE).then(|| DetachReq {
            domain: le32(b, 4),
            endpoint: le32(b, 8),
        })
    }

    /// Encodes the device-readable part.
    pub fn encode(&self) -> [u8; DETACH_SIZE] {
        let mut b = [0u8; DETACH_SIZE];
        b[0] = T_DETACH;
        b[4..8].copy_from_slice(&self.domain.to_le_bytes());
        b[8..12].copy_from_slice(&self.endpoint.to_le_bytes());
        b
    }
}

/// `struct virtio_iommu_req_map` (device-readable part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapReq {
    /// Domain to map in.
    pub domain: u32,
    /// First IOVA.
    pub virt_start: u64,
    /// Last IOVA (inclusive).
    pub virt_end: u64,
    /// Guest-physical address of `virt_start`.
    pub phys_start: u64,
    /// `MAP_F_*` flags.
    pub flags: u32,
}

impl MapReq {
    /// Decodes the first [`MAP_SIZE`] bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= MAP_SIZE).then(|| MapReq {
            domain: le32(b, 4),
            virt_start: le64(b, 8),
            virt_end: le64(b, 16),
            phys_start: le64(b, 24),
            flags: le32(b, 32),
        })
    }

    /// Encodes the device-readable part.
    pub fn encode(&self) -> [u8; MAP_SIZE] {
        let mut b = [0u8; MAP_SIZE];
        b[0] = T_MAP;
        b[4..8].copy_from_slice(&self.domain.to_le_bytes());
        b[8..16].copy_from_slice(&self.virt_start.to_le_bytes());
        b[16..24].copy_from_slice(&self.virt_end.to_le_bytes());
        b[24..32].copy_from_slice(&self.phys_start.to_le_bytes());
        b[32..36].copy_from_slice(&self.flags.to_le_bytes());
        b
    }
}

/// `struct virtio_iommu_req_unmap` (device-readable part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnmapReq {
    /// Domain to unmap from.
    pub domain: u32,
    /// First IOVA of the range.
    pub virt_start: u64,
    /// Last IOVA of the range (inclusive).
    pub virt_end: u64,
    /// Should be zero.
    pub reserved: [u8; 4],
}

impl UnmapReq {
    /// Decodes the first [`UNMAP_SIZE`] bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= UNMAP_SIZE).then(|| UnmapReq {
            domain: le32(b, 4),
            virt_start: le64(b, 8),
            virt_end: le64(b, 16),
            reserved: [b[24], b[25], b[26], b[27]],
        })
    }

    /// Encodes the device-readable part.
    pub fn encode(&self) -> [u8; UNMAP_SIZE] {
        let mut b = [0u8; UNMAP_SIZE];
        b[0] = T_UNMAP;
        b[4..8].copy_from_slice(&self.domain.to_le_bytes());
        b[8..16].copy_from_slice(&self.virt_start.to_le_bytes());
        b[16..24].copy_from_slice(&self.virt_end.to_le_bytes());
        b[24..28].copy_from_slice(&self.reserved);
        b
    }
}

/// `struct virtio_iommu_req_probe` (device-readable part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeReq {
    /// Endpoint to describe.
    pub endpoint: u32,
}

impl ProbeReq {
    /// Decodes the first [`PROBE_SIZE`] bytes (reserved bytes are ignored).
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= PROBE_SIZE).then(|| ProbeReq {
            endpoint: le32(b, 4),
        })
    }

    /// Encodes the device-readable part.
    pub fn encode(&self) -> [u8; PROBE_SIZE] {
        let mut b = [0u8; PROBE_SIZE];
        b[0] = T_PROBE;
        b[4..8].copy_from_slice(&self.endpoint.to_le_bytes());
        b
    }
}

/// `struct virtio_iommu_req_tail` with `status` and zeroed reserved bytes.
pub fn tail(status: u8) -> [u8; TAIL_SIZE] {
    [status, 0, 0, 0]
}

/// `struct virtio_iommu_probe_resv_mem`: one reserved IOVA region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResvMem {
    /// `RESV_MEM_T_RESERVED` or `RESV_MEM_T_MSI`.
    pub subtype: u8,
    /// First reserved IOVA.
    pub start: u64,
    /// Last reserved IOVA (inclusive).
    pub end: u64,
}

impl ResvMem {
    /// The 24-byte property, header included: type RESV_MEM, length 20 (without the header).
    pub fn to_bytes(&self) -> [u8; RESV_MEM_SIZE] {
        let mut b = [0u8; RESV_MEM_SIZE];
        b[0..2].copy_from_slice(&PROBE_T_RESV_MEM.to_le_bytes());
        b[2..4].copy_from_slice(&((RESV_MEM_SIZE - 4) as u16).to_le_bytes());
        b[4] = self.subtype;
        b[8..16].copy_from_slice(&self.start.to_le_bytes());
        b[16..24].copy_from_slice(&self.end.to_le_bytes());
        b
    }

    /// Decodes a property at the start of `b` (for drivers and tests): `None` unless it is a
    /// complete RESV_MEM property.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < RESV_MEM_SIZE
            || le16(b, 0) & 0xfff != PROBE_T_RESV_MEM
            || usize::from(le16(b, 2)) != RESV_MEM_SIZE - 4
        {
            return None;
        }
        Some(ResvMem {
            subtype: b[4],
            start: le64(b, 8),
            end: le64(b, 16),
        })
    }
}

/// `struct virtio_iommu_fault`: one event-queue fault report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// `FAULT_R_*`.
    pub reason: u8,
    /// `FAULT_F_*`.
    pub flags: u32,
    /// The endpoint that faulted.
    pub endpoint: u32,
    /// The faulting address (valid with `FAULT_F_ADDRESS`).
    pub address: u64,
}

impl FaultRecord {
    /// The 24 bytes of the report; reserved fields zero.
    pub fn to_bytes(&self) -> [u8; FAULT_SIZE] {
        let mut b = [0u8; FAULT_SIZE];
        b[0] = self.reason;
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.endpoint.to_le_bytes());
        b[16..24].copy_from_slice(&self.address.to_le_bytes());
        b
    }

    /// Decodes a report (for drivers and tests).
    pub fn decode(b: &[u8]) -> Option<Self> {
        (b.len() >= FAULT_SIZE).then(|| FaultRecord {
            reason: b[0],
            flags: le32(b, 4),
            endpoint: le32(b, 8),
            address: le64(b, 16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_space_is_40_bytes_with_fields_at_spec_offsets() {
        let cfg = IommuConfigSpace {
            page_size_mask: 0x1122_3344_5566_7788,
            input_start: 0x1000,
            input_end: u64::MAX,
            domain_start: 1,
            domain_end: 0xffff,
            probe_size: 64,
            bypass: 1,
        };
        let b = cfg.to_bytes();
        assert_eq!(b.len(), 40);
        assert_eq!(le64(&b, 0), 0x1122_3344_5566_7788);
        assert_eq!(le64(&b, 8), 0x1000);
        assert_eq!(le64(&b, 16), u64::MAX);
        assert_eq!(le32(&b, 24), 1);
        assert_eq!(le32(&b, 28), 0xffff);
        assert_eq!(le32(&b, 32), 64);
        assert_eq!(b[36], 1);
        assert_eq!(&b[37..40], &[0, 0, 0]);
    }

    #[test]
    fn requests_round_trip() {
        let a = AttachReq {
            domain: 7,
            endpoint: 9,
            flags: 1,
            reserved: [0, 0, 0, 1],
        };
        assert_eq!(AttachReq::decode(&a.encode()), Some(a));
        let m = MapReq {
            domain: 3,
            virt_start: 0x1000,
            virt_end: 0x1fff,
            phys_start: 0xa000,
            flags: 3,
        };
        assert_eq!(MapReq::decode(&m.encode()), Some(m));
        let u = UnmapReq {
            domain: 3,
            virt_start: 0,
            virt_end: u64::MAX,
            reserved: [0; 4],
        };
        assert_eq!(UnmapReq::decode(&u.encode()), Some(u));
        let d = DetachReq {
            domain: 1,
            endpoint: 2,
        };
        assert_eq!(DetachReq::decode(&d.encode()), Some(d));
        let p = ProbeReq { endpoint: 5 };
        assert_eq!(ProbeReq::decode(&p.encode()), Some(p));
    }

    #[test]
    fn short_requests_do_not_decode() {
        assert_eq!(MapReq::decode(&[T_MAP; MAP_SIZE - 1]), None);
        assert_eq!(ProbeReq::decode(&[T_PROBE; 71]), None);
    }

    #[test]
    fn resv_mem_property_layout() {
        let p = ResvMem {
            subtype: RESV_MEM_T_MSI,
            start: 0xfee0_0000,
            end: 0xfeef_ffff,
        };
        let b = p.to_bytes();
        assert_eq!(le16(&b, 0), 1);
        assert_eq!(le16(&b, 2), 20);
        assert_eq!(b[4], 1);
        assert_eq!(&b[5..8], &[0, 0, 0]);
        assert_eq!(ResvMem::decode(&b), Some(p));
    }

    #[test]
    fn fault_record_layout() {
        let f = FaultRecord {
            reason: FAULT_R_MAPPING,
            flags: FAULT_F_WRITE | FAULT_F_ADDRESS,
            endpoint: 0x10,
            address: 0xdead_b000,
        };
        let b = f.to_bytes();
        assert_eq!(b[0], 2);
        assert_eq!(le32(&b, 4), 0x102);
        assert_eq!(le32(&b, 8), 0x10);
        assert_eq!(le32(&b, 12), 0);
        assert_eq!(le64(&b, 16), 0xdead_b000);
        assert_eq!(FaultRecord::decode(&b), Some(f));
    }
}
