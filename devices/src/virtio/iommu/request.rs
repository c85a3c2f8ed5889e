//! Parsing a request's device-readable bytes, and mapping engine errors to status codes.
//!
//! Pure functions over byte slices, so a fuzz target can drive them directly.

use ::iommu::Error as EngineError;

use super::protocol::{
    self, AttachReq, DetachReq, MapReq, ProbeReq, S_INVAL, S_NOENT, S_NOMEM, S_RANGE, UnmapReq,
};

/// A decoded request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// ATTACH.
    Attach(AttachReq),
    /// DETACH.
    Detach(DetachReq),
    /// MAP.
    Map(MapReq),
    /// UNMAP.
    Unmap(UnmapReq),
    /// PROBE.
    Probe(ProbeReq),
}

/// Why a request could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer than 4 readable bytes: there is no head, so no type.
    #[error("request has no head")]
    NoHead,
    /// The head names no known request type.
    #[error("unknown request type {0}")]
    UnknownType(u8),
    /// The readable part is shorter than the request type needs.
    #[error("request of type {0} is too short")]
    TooShort(u8),
}

impl ParseError {
    /// Whether the request must be returned with used length 0 and nothing written.
    ///
    /// "If a request type is not recognized, the device SHOULD NOT write the buffer and SHOULD
    /// set the used length to zero." A request without a head has no recognizable type either.
    pub fn leaves_buffers_untouched(&self) -> bool {
        matches!(self, ParseError::NoHead | ParseError::UnknownType(_))
    }
}

/// Decodes the device-readable bytes of a request (only the first
/// [`protocol::MAX_READABLE`] bytes matter; more are ignored).
pub fn parse(readable: &[u8]) -> Result<Request, ParseError> {
    if readable.len() < protocol::HEAD_SIZE {
        return Err(ParseError::NoHead);
    }
    // "The device MUST ignore field reserved of struct virtio_iommu_req_head".
    let req_type = readable[0];
    let short = || ParseError::TooShort(req_type);
    match req_type {
        protocol::T_ATTACH => AttachReq::decode(readable)
            .map(Request::Attach)
            .ok_or_else(short),
        protocol::T_DETACH => DetachReq::decode(readable)
            .map(Request::Detach)
            .ok_or_else(short),
        protocol::T_MAP => MapReq::decode(readable).map(Request::Map).ok_or_else(short),
        protocol::T_UNMAP => UnmapReq::decode(readable)
            .map(Request::Unmap)
            .ok_or_else(short),
        protocol::T_PROBE => ProbeReq::decode(readable)
            .map(Request::Probe)
            .ok_or_else(short),
        other => Err(ParseError::UnknownType(other)),
    }
}

/// The request kinds, for status mapping and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// ATTACH.
    Attach,
    /// DETACH.
    Detach,
    /// MAP.
    Map,
    /// UNMAP.
    Unmap,
    /// PROBE.
    Probe,
}

impl Request {
    /// The kind of this request.
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Attach(_) => RequestKind::Attach,
            Request::Detach(_) => RequestKind::Detach,
            Request::Map(_) => RequestKind::Map,
            Request::Unmap(_) => RequestKind::Unmap,
            Request::Probe(_) => RequestKind::Probe,
        }
    }
}

/// The status a request of `kind` completes with when the engine refuses it.
pub fn engine_error_status(kind: RequestKind, err: EngineError) -> u8 {
    match err {
        // ATTACH/DETACH/PROBE: "If the endpoint identified by endpoint doesn't exist, the device
        // MUST reject the request and set status to VIRTIO_IOMMU_S_NOENT."
        EngineError::NoSuchEndpoint => S_NOENT,
        EngineError::NoSuchDomain => match kind {
            // DETACH: "If the domain identified by domain doesn't exist, or if the endpoint
            // identified by endpoint isn't attached to this domain, then the device MAY set the
            // request status to VIRTIO_IOMMU_S_INVAL."
            RequestKind::Detach => S_INVAL,
            // MAP/UNMAP: "If domain does not exist, the device SHOULD reject the request and set
            // status to VIRTIO_IOMMU_S_NOENT."
            _ => S_NOENT,
        },
        // Parameters outside domain_range / input_range: "Out-of-range parameters".
        EngineError::DomainOutOfRange | EngineError::OutOfInputRange => S_RANGE,
        // MAP: "If virt_start, phys_start or (virt_end + 1) is not aligned on the page
        // granularity, the device SHOULD reject the request and set status to
        // VIRTIO_IOMMU_S_RANGE."
        EngineError::Unaligned => S_RANGE,
        // MAP: "If a mapping already exists in the requested range, the device SHOULD reject the
        // request and set status to VIRTIO_IOMMU_S_INVAL."
        EngineError::Overlap => S_INVAL,
        // UNMAP: "If a mapping affected by the range is not covered in its entirety by the range
        // (the UNMAP request would split the mapping), then the device SHOULD set the request
        // status to VIRTIO_IOMMU_S_RANGE, and SHOULD NOT remove any mapping."
        EngineError::WouldSplit => S_RANGE,
        // Bypass-kind mismatch, MAP/UNMAP on a bypass domain, detaching from another domain.
        EngineError::InvalidArgument => S_INVAL,
        EngineError::NoMemory => S_NOMEM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fewer_than_four_bytes_have_no_head() {
        assert_eq!(parse(&[1, 0, 0]), Err(ParseError::NoHead));
        assert!(ParseError::NoHead.leaves_buffers_untouched());
    }

    #[test]
    fn unknown_type_leaves_buffers_untouched() {
        let err = parse(&[0x42, 0, 0, 0]).unwrap_err();
        assert_eq!(err, ParseError::UnknownType(0x42));
        assert!(err.leaves_buffers_untouched());
        assert_eq!(parse(&[0, 0, 0, 0]), Err(ParseError::UnknownType(0)));
    }

    #[test]
    fn short_known_request_is_too_short() {
        let mut b = [0u8; 35];
        b[0] = protocol::T_MAP;
        let err = parse(&b).unwrap_err();
        assert_eq!(err, ParseError::TooShort(protocol::T_MAP));
        assert!(!err.leaves_buffers_untouched());
    }

    #[test]
    fn head_reserved_bytes_are_ignored() {
        let mut b = DetachReq {
            domain: 1,
            endpoint: 2,
        }
        .encode();
        b[1..4].copy_from_slice(&[0xff, 0xff, 0xff]);
        assert_eq!(
            parse(&b),
            Ok(Request::Detach(DetachReq {
                domain: 1,
                endpoint: 2
            }))
        );
    }

    #[test]
    fn longer_readable_part_is_accepted() {
        let mut b = vec![0u8; 100];
        b[..20].copy_from_slice(
            &AttachReq {
                domain: 1,
                endpoint: 2,
                flags: 0,
                reserved: [0; 4],
            }
            .encode(),
        );
        assert!(matches!(parse(&b), Ok(Request::Attach(_))));
    }

    #[test]
    fn no_such_domain_is_inval_for_detach_and_noent_for_map() {
        assert_eq!(
            engine_error_status(RequestKind::Detach, EngineError::NoSuchDomain),
            S_INVAL
        );
        assert_eq!(
            engine_error_status(RequestKind::Map, EngineError::NoSuchDomain),
            S_NOENT
        );
    }
}
