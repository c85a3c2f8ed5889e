//! Bus (owned by the vmm engineer).
