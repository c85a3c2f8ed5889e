//! The virtio-iommu device: features, configuration space, the request queue, reset.
//!
//! Request handling is split in two:
//! - [`IommuRequestHandler::handle`] takes a request's device-readable bytes and the size of its
//!   device-writable part and returns a [`Response`] — engine calls, status codes and the
//!   strict-completion wait, no guest memory (a fuzz target can drive it with plain bytes);
//! - [`VirtioIommu`] walks the request queue, gathers each chain (any descriptor layout), calls
//!   the handler and writes the reply into the chain's writable part.

use std::fmt;
use std::sync::Arc;

use ::iommu::{DomainId, EndpointId, Engine, IovaRange, Perms};
use log::warn;
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddress, GuestMemoryBackend};

use super::config::{IommuConfig, IommuConfigError};
use super::metrics::{IommuCounters, IommuCountersSnapshot};
use super::protocol::{
    self, ATTACH_F_BYPASS, AttachReq, DetachReq, F_BYPASS_CONFIG, F_DOMAIN_RANGE, F_INPUT_RANGE,
    F_MAP_UNMAP, F_MMIO, F_PROBE, IommuConfigSpace, MAP_F_MMIO, MAP_F_READ, MAP_F_WRITE,
    MAX_READABLE, MapReq, ProbeReq, S_INVAL, S_NOENT, S_OK, S_UNSUPP, TAIL_SIZE, UnmapReq,
};
use super::request::{self, Request, RequestKind, engine_error_status};
use crate::virtio::chain::ChainBuffers;
use crate::virtio::dma::{DmaEndpoint, IommuContext};
use crate::virtio::features::{self, bit};
use crate::virtio::{
    ActivateContext, ActivateError, GuestRam, Interrupt, VirtioDevice, device_type,
    read_config_bytes,
};

/// Index of the request queue.
pub const REQUESTQ_INDEX: u16 = 0;

/// Extra device-writable bytes accepted beyond `probe_size` + tail. A chain with a larger
/// writable part is returned untouched rather than zero-filled (bounds the work one request can
/// cause).
const WRITABLE_SLACK: u64 = 4096;

/// What the device does with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Return the buffers without writing them: used length 0.
    Untouched,
    /// Write the writable part — `properties` (PROBE), zeros, then the tail with `status` in its
    /// last 4 bytes — and report its full size as the used length.
    Reply {
        /// `VIRTIO_IOMMU_S_*`.
        status: u8,
        /// PROBE properties (exactly `probe_size` bytes).
        properties: Option<Vec<u8>>,
    },
}

impl Response {
    fn status(status: u8) -> Self {
        Response::Reply {
            status,
            properties: None,
        }
    }
}

/// Executes requests against the engine (no guest memory involved).
pub struct IommuRequestHandler {
    ctx: Arc<IommuContext>,
    config: IommuConfig,
    counters: Arc<IommuCounters>,
    /// Features the driver accepted.
    acked: u64,
}

impl fmt::Debug for IommuRequestHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IommuRequestHandler")
            .field("config", &self.config)
            .field("acked", &self.acked)
            .finish_non_exhaustive()
    }
}

impl IommuRequestHandler {
    fn negotiated(&self, feature: u32) -> bool {
        self.acked & bit(feature) != 0
    }

    fn engine(&self) -> &Engine {
        self.ctx.engine()
    }

    /// The largest device-writable part handled (larger ones are returned untouched).
    pub fn max_writable_len(&self) -> u64 {
        u64::from(self.config.probe_size) + TAIL_SIZE as u64 + WRITABLE_SLACK
    }

    /// Handles one request: `readable` holds the first bytes of its device-readable part (at
    /// most [`MAX_READABLE`] are looked at), `writable_len` is the size of its device-writable
    /// part.
    pub fn handle(&self, readable: &[u8], writable_len: u64) -> Response {
        // "When the device fails to parse a request, for instance if a request is too small for
        // its type and the device cannot find the tail, then it is unable to set status. In that
        // case, it returns the buffers without writing to them."
        if writable_len < TAIL_SIZE as u64 || writable_len > self.max_writable_len() {
            self.counters.count_untouched();
            return Response::Untouched;
        }
        let req = match request::parse(readable) {
            Ok(req) => req,
            Err(err) if err.leaves_buffers_untouched() => {
                // "If a request type is not recognized, the device SHOULD NOT write the buffer
                // and SHOULD set the used length to zero."
                self.counters.count_untouched();
                return Response::Untouched;
            }
            Err(request::ParseError::TooShort(t)) => {
                if let Some(kind) = kind_of(t) {
                    self.counters.count_request(kind);
                }
                self.counters.count_status(S_INVAL);
                return Response::status(S_INVAL);
            }
            Err(_) => {
                self.counters.count_untouched();
                return Response::Untouched;
            }
        };
        self.counters.count_request(req.kind());
        let payload_len = writable_len - TAIL_SIZE as u64;
        let response = match req {
            Request::Attach(r) => Response::status(self.attach(&r)),
            Request::Detach(r) => Response::status(self.detach(&r)),
            Request::Map(r) => Response::status(self.map(&r)),
            Request::Unmap(r) => Response::status(self.unmap(&r)),
            Request::Probe(r) => self.probe(&r, payload_len),
        };
        if let Response::Reply { status, .. } = &response {
            self.counters.count_status(*status);
        }
        response
    }

    fn attach(&self, r: &AttachReq) -> u8 {
        // "If the reserved field of an ATTACH request is not zero, the device MUST reject the
        // request and set status to VIRTIO_IOMMU_S_INVAL."
        if r.reserved != [0; 4] {
            return S_INVAL;
        }
        // "If the device does not recognize a flags bit, it MUST reject the request and set
        // status to VIRTIO_IOMMU_S_INVAL." ATTACH_F_BYPASS exists only with BYPASS_CONFIG:
        // "When the VIRTIO_IOMMU_F_BYPASS_CONFIG is negotiated, the driver can set the
        // VIRTIO_IOMMU_ATTACH_F_BYPASS flag to create a bypass domain."
        let known = if self.negotiated(F_BYPASS_CONFIG) {
            ATTACH_F_BYPASS
        } else {
            0
        };
        if r.flags & !known != 0 {
            return S_INVAL;
        }
        // The engine: NOENT for an unknown endpoint; "If the domain already exists and the
        // VIRTIO_IOMMU_ATTACH_F_BYPASS flag is not consistent with that domain, the device
        // SHOULD reject the request and set status to VIRTIO_IOMMU_S_INVAL"; "If the endpoint
        // identified by endpoint is already attached to another domain, then the device SHOULD
        // first detach it from that domain and attach it to the one identified by domain";
        // the old domain, left empty, "ceases to exist" with its mappings.
        let bypass = r.flags & ATTACH_F_BYPASS != 0;
        match self
            .engine()
            .attach(EndpointId(r.endpoint), DomainId(r.domain), bypass)
        {
            Ok(()) => {
                // A move detached the endpoint from its old domain: strict completion.
                self.ctx.fence().wait_for_older();
                S_OK
            }
            Err(e) => engine_error_status(RequestKind::Attach, e),
        }
    }

    fn detach(&self, r: &DetachReq) -> u8 {
        // "The device MUST ignore reserved." "If the endpoint identified by endpoint doesn't
        // exist, then the device MUST reject the request and set status to
        // VIRTIO_IOMMU_S_NOENT." Unknown domain or not attached to it: INVAL.
        match self
            .engine()
            .detach(EndpointId(r.endpoint), DomainId(r.domain))
        {
            Ok(()) => {
                // "The device MUST ensure that after being detached from a domain, the endpoint
                // cannot access any mapping from that domain." Complete only once older DMA is
                // over.
                self.ctx.fence().wait_for_older();
                S_OK
            }
            Err(e) => engine_error_status(RequestKind::Detach, e),
        }
    }

    fn map(&self, r: &MapReq) -> u8 {
        // "This request is only available when VIRTIO_IOMMU_F_MAP_UNMAP has been negotiated."
        if !self.negotiated(F_MAP_UNMAP) {
            return S_UNSUPP;
        }
        // "If the device doesn't recognize a flags bit, it MUST reject the request and set
        // status to VIRTIO_IOMMU_S_INVAL." MAP_F_MMIO "is only available when the
        // VIRTIO_IOMMU_F_MMIO feature has been negotiated".
        let mut known = MAP_F_READ | MAP_F_WRITE;
        if self.negotiated(F_MMIO) {
            known |= MAP_F_MMIO;
        }
        if r.flags & !known != 0 {
            return S_INVAL;
        }
        // "virt_end MUST be strictly greater than virt_start" (a one-byte mapping has
        // virt_end == virt_start and is refused by the alignment check with granules >= 4 KiB).
        if r.virt_end < r.virt_start {
            return S_INVAL;
        }
        // "The device SHOULD reject a MAP request that overlaps a RESV_MEM region."
        if self
            .config
            .reserved_regions
            .iter()
            .any(|region| region.overlaps(r.virt_start, r.virt_end))
        {
            return match self.engine().domain_is_bypass(DomainId(r.domain)) {
                None => S_NOENT,
                Some(_) => S_INVAL,
            };
        }
        // MMIO is a memory type, not a permission: "The device MUST NOT allow writes to a range
        // mapped without the VIRTIO_IOMMU_MAP_F_WRITE flag."
        let mut perms = Perms::NONE;
        if r.flags & MAP_F_READ != 0 {
            perms = perms | Perms::READ;
        }
        if r.flags & MAP_F_WRITE != 0 {
            perms = perms | Perms::WRITE;
        }
        // The engine: alignment and input range -> RANGE, overlap -> INVAL, missing domain ->
        // NOENT, bypass domain -> INVAL, limits -> NOMEM. Ranges ending at 2^64-1 are inclusive
        // and never overflow.
        match self.engine().map(
            DomainId(r.domain),
            IovaRange::new(r.virt_start, r.virt_end),
            r.phys_start,
            perms,
        ) {
            Ok(()) => S_OK,
            Err(e) => engine_error_status(RequestKind::Map, e),
        }
    }

    fn unmap(&self, r: &UnmapReq) -> u8 {
        if !self.negotiated(F_MAP_UNMAP) {
            return S_UNSUPP;
        }
        // "If the reserved field of an UNMAP request is not zero, the device MAY set the request
        // status to VIRTIO_IOMMU_S_INVAL, in which case the device MAY perform the UNMAP
        // operation." We reject without unmapping.
        if r.reserved != [0; 4] {
            return S_INVAL;
        }
        if r.virt_end < r.virt_start {
            return S_INVAL;
        }
        // The engine removes every mapping covered by the range, or — if one would be split —
        // nothing, with WouldSplit -> RANGE.
        match self
            .engine()
            .unmap(DomainId(r.domain), IovaRange::new(r.virt_start, r.virt_end))
        {
            Ok(removed) => {
                if removed > 0 {
                    // Strict completion: the used entry is written only once no DMA that could
                    // have translated through the removed mappings is still running.
                    self.ctx.fence().wait_for_older();
                }
                S_OK
            }
            Err(e) => engine_error_status(RequestKind::Unmap, e),
        }
    }

    fn probe(&self, r: &ProbeReq, properties_len: u64) -> Response {
        // "The device MUST ignore field reserved of a PROBE request." "If the endpoint
        // identified by endpoint doesn't exist, then the device SHOULD reject the request and
        // set status to VIRTIO_IOMMU_S_NOENT."
        if !self.engine().has_endpoint(EndpointId(r.endpoint)) {
            return Response::status(S_NOENT);
        }
        // "If the properties list is smaller than probe_size, the device SHOULD NOT write any
        // property. It SHOULD reject the request and set status to VIRTIO_IOMMU_S_INVAL."
        let probe_size = self.config.probe_size as usize;
        if properties_len < probe_size as u64 {
            return Response::status(S_INVAL);
        }
        // "The device MUST write the size of a property without the struct
        // virtio_iommu_probe_property header, in bytes, into length." "When two properties
        // follow each other, the device MUST put the second property exactly (length + 4) bytes
        // after the beginning of the first one." "If the device doesn't fill all probe_size
        // bytes with properties, it SHOULD fill the remaining bytes of properties with zeroes."
        let mut properties = vec![0u8; probe_size];
        for (i, region) in self.config.reserved_regions.iter().enumerate() {
            let at = i * protocol::RESV_MEM_SIZE;
            if let Some(slot) = properties.get_mut(at..at + protocol::RESV_MEM_SIZE) {
                slot.copy_from_slice(&region.property().to_bytes());
            }
        }
        Response::Reply {
            status: S_OK,
            properties: Some(properties),
        }
    }
}

fn kind_of(req_type: u8) -> Option<RequestKind> {
    match req_type {
        protocol::T_ATTACH => Some(RequestKind::Attach),
        protocol::T_DETACH => Some(RequestKind::Detach),
        protocol::T_MAP => Some(RequestKind::Map),
        protocol::T_UNMAP => Some(RequestKind::Unmap),
        protocol::T_PROBE => Some(RequestKind::Probe),
        _ => None,
    }
}

struct Active {
    mem: GuestRam,
    interrupt: Arc<dyn Interrupt>,
    requestq: Queue,
}

/// The virtio-iommu device (virtio device ID 23).
pub struct VirtioIommu {
    handler: IommuRequestHandler,
    queue_sizes: [u16; 2],
    active: Option<Active>,
    buffers: ChainBuffers,
}

impl fmt::Debug for VirtioIommu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtioIommu")
            .field("handler", &self.handler)
            .field("active", &self.active.is_some())
            .finish_non_exhaustive()
    }
}

impl VirtioIommu {
    /// A virtio-iommu with its own engine built from `config`.
    pub fn new(config: IommuConfig) -> Result<Self, IommuConfigError> {
        config.validate()?;
        let engine = Engine::try_new(config.engine_config())
            .map_err(|_| IommuConfigError::EngineMismatch)?;
        Self::with_engine(config, Arc::new(engine))
    }

    /// A virtio-iommu driving a shared `engine`, which must have been created with
    /// [`IommuConfig::engine_config`] (same granule, input range and domain range). The engine's
    /// bypass is set to `config.bypass`.
    pub fn with_engine(config: IommuConfig, engine: Arc<Engine>) -> Result<Self, IommuConfigError> {
        config.validate()?;
        if !config.matches_engine(engine.config()) {
            return Err(IommuConfigError::EngineMismatch);
        }
        // "If the device offers the VIRTIO_IOMMU_F_BYPASS_CONFIG feature, it MAY initialize the
        // bypass field to 1."
        engine.set_bypass(config.bypass);
        let queue_sizes = [config.queue_size; 2];
        Ok(VirtioIommu {
            handler: IommuRequestHandler {
                ctx: Arc::new(IommuContext::new(engine)),
                config,
                counters: Arc::new(IommuCounters::default()),
                acked: 0,
            },
            queue_sizes,
            active: None,
            buffers: ChainBuffers::new(),
        })
    }

    /// Registers endpoint `id` with the engine and returns the handle a device behind this
    /// IOMMU is built with. Every endpoint the VIOT lists must be registered (Linux PROBEs each).
    pub fn endpoint(&self, id: EndpointId) -> Result<DmaEndpoint, ::iommu::Error> {
        self.handler.engine().add_endpoint(id)?;
        Ok(DmaEndpoint::new(Arc::clone(&self.handler.ctx), id))
    }

    /// The context shared with the devices behind this IOMMU.
    pub fn context(&self) -> &Arc<IommuContext> {
        &self.handler.ctx
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        self.handler.ctx.engine()
    }

    /// The request handler (for fuzzing and tests: requests as plain bytes).
    pub fn handler(&self) -> &IommuRequestHandler {
        &self.handler
    }

    /// The device configuration.
    pub fn config(&self) -> &IommuConfig {
        &self.handler.config
    }

    /// Every counter, with live mappings and domains from the engine.
    pub fn counters_snapshot(&self) -> IommuCountersSnapshot {
        let mut s = IommuCountersSnapshot::default();
        self.handler.counters.snapshot_into(&mut s);
        let faults = self.handler.ctx.faults();
        s.faults_reported = faults.reported();
        s.faults_dropped = faults.dropped();
        let stats = self.engine().stats();
        s.mappings = stats.mappings as u64;
        s.domains = stats.domains as u64;
        s
    }

    fn config_space(&self) -> IommuConfigSpace {
        let c = &self.handler.config;
        IommuConfigSpace {
            page_size_mask: c.page_size_mask,
            input_start: c.input_range.start,
            input_end: c.input_range.last,
            domain_start: c.domain_range.0,
            domain_end: c.domain_range.1,
            probe_size: c.probe_size,
            // "The device MUST NOT present a value different than 0 or 1 in bypass."
            bypass: u8::from(self.engine().bypass()),
        }
    }

    fn process_requestq(&mut self) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let mut used_any = false;
        while let Some(chain) = active.requestq.pop_descriptor_chain(&active.mem) {
            let head = chain.head_index();
            let used_len = match self.buffers.load(chain) {
                Ok(()) => serve(&self.handler, &self.buffers, &active.mem),
                Err(e) => {
                    warn!("virtio-iommu: malformed request chain: {e}");
                    self.handler.counters.count_untouched();
                    0
                }
            };
            if let Err(e) = active.requestq.add_used(&active.mem, head, used_len) {
                warn!("virtio-iommu: cannot write the used ring: {e}");
                break;
            }
            used_any = true;
        }
        if used_any {
            active.interrupt.signal_used_queue(REQUESTQ_INDEX);
        }
    }
}

/// Serves the loaded chain: reads the request, executes it, writes the reply. Returns the used
/// length.
fn serve(handler: &IommuRequestHandler, buffers: &ChainBuffers, mem: &GuestRam) -> u32 {
    let writable_len = buffers.writable_len();
    // Only execute a request whose reply can be written: every writable buffer must be RAM.
    let writable_ok = buffers.writable().iter().all(|b| {
        b.len == 0 || GuestMemoryBackend::check_range(mem, GuestAddress(b.addr), b.len as usize)
    });
    if !writable_ok {
        handler.counters.count_untouched();
        return 0;
    }
    let mut readable = [0u8; MAX_READABLE];
    let want = usize::try_from(buffers.readable_len())
        .unwrap_or(MAX_READABLE)
        .min(MAX_READABLE);
    match buffers.read_at(mem, 0, &mut readable[..want]) {
        Ok(n) if n == want => {}
        _ => {
            handler.counters.count_untouched();
            return 0;
        }
    }
    let (status, properties) = match handler.handle(&readable[..want], writable_len) {
        Response::Untouched => return 0,
        Response::Reply { status, properties } => (status, properties),
    };
    // `handle` only replies when TAIL_SIZE <= writable_len <= max_writable_len (fits u32).
    let payload_len = writable_len - TAIL_SIZE as u64;
    let props_len = properties.as_ref().map_or(0, |p| p.len() as u64);
    let written = properties
        .as_deref()
        .map_or(Ok(()), |p| buffers.write_at(mem, 0, p))
        .and_then(|()| buffers.fill_at(mem, props_len, payload_len - props_len, 0))
        .and_then(|()| buffers.write_at(mem, payload_len, &protocol::tail(status)));
    match (written, u32::try_from(writable_len)) {
        (Ok(()), Ok(len)) => len,
        _ => {
            handler.counters.count_untouched();
            0
        }
    }
}

impl VirtioDevice for VirtioIommu {
    fn device_type(&self) -> u32 {
        device_type::IOMMU
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
    }

    fn features(&self) -> u64 {
        // "The device SHOULD offer feature bit VIRTIO_IOMMU_F_MAP_UNMAP." "New devices SHOULD NOT
        // offer VIRTIO_IOMMU_F_BYPASS." "Devices SHOULD NOT offer both VIRTIO_IOMMU_F_BYPASS and
        // VIRTIO_IOMMU_F_BYPASS_CONFIG."
        bit(features::VERSION_1)
            | bit(features::INDIRECT_DESC)
            | bit(F_INPUT_RANGE)
            | bit(F_DOMAIN_RANGE)
            | bit(F_MAP_UNMAP)
            | bit(F_PROBE)
            | bit(F_MMIO)
            | bit(F_BYPASS_CONFIG)
    }

    fn ack_features(&mut self, driver_features: u64) {
        self.handler.acked = driver_features & self.features();
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let space = self.config_space().to_bytes();
        read_config_bytes(&space, offset, data);
    }

    fn write_config(&mut self, offset: u64, data: &[u8]) {
        // "When the VIRTIO_IOMMU_F_BYPASS_CONFIG feature is negotiated, the driver MAY write to
        // bypass. The driver MUST NOT write to any other device configuration field." Other
        // writes are ignored.
        if !self.handler.negotiated(F_BYPASS_CONFIG) {
            return;
        }
        let Some(pos) = protocol::CONFIG_BYPASS_OFFSET.checked_sub(offset) else {
            return;
        };
        let Some(&value) = usize::try_from(pos).ok().and_then(|p| data.get(p)) else {
            return;
        };
        // "The driver SHOULD ignore bits 1-7 of bypass": only bit 0 carries meaning.
        let on = value & 1 != 0;
        let engine = self.engine();
        if engine.bypass() != on {
            engine.set_bypass(on);
            if !on {
                // Unattached endpoints lose their identity access: wait for DMA that used it.
                self.handler.ctx.fence().wait_for_older();
            }
        }
    }

    fn activate(&mut self, ctx: ActivateContext) -> Result<(), ActivateError> {
        if self.active.is_some() {
            return Err(ActivateError::AlreadyActive);
        }
        let ActivateContext {
            mem,
            interrupt,
            queues,
        } = ctx;
        let got = queues.len();
        let [requestq, eventq]: [Queue; 2] = queues
            .try_into()
            .map_err(|_| ActivateError::QueueCount { expected: 2, got })?;
        if !requestq.ready() {
            return Err(ActivateError::QueueNotReady(usize::from(REQUESTQ_INDEX)));
        }
        if eventq.ready() {
            self.handler
                .ctx
                .faults()
                .attach(eventq, mem.clone(), Arc::clone(&interrupt));
        }
        self.active = Some(Active {
            mem,
            interrupt,
            requestq,
        });
        Ok(())
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }

    fn process_queue(&mut self, index: usize) {
        // The event queue needs no processing: its buffers are consumed when faults happen.
        if index == usize::from(REQUESTQ_INDEX) {
            self.process_requestq();
        }
    }

    fn reset(&mut self) {
        // "When the device is reset, endpoints are not attached to any domain." "Field bypass
        // SHOULD NOT change on device reset" (the engine keeps it).
        self.handler.ctx.faults().detach();
        self.engine().reset();
        self.handler.ctx.fence().wait_for_older();
        self.active = None;
        self.handler.acked = 0;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.counters_snapshot().named()
    }
}
