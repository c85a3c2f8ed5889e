//! Virtio devices (owned by the devices engineer).
