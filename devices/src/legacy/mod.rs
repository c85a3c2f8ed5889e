//! Legacy devices (owned by the vmm engineer).
