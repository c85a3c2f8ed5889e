//! What a VM is made of: plain data, validated once when the [`crate::Vmm`] is built.

use std::path::PathBuf;
use std::time::Duration;

/// The guest image to boot.
#[derive(Clone)]
pub enum KernelImage {
    /// An image file on the host.
    Path(PathBuf),
    /// An image already in memory (e.g. one embedded in the binary).
    Bytes(std::borrow::Cow<'static, [u8]>),
}

impl KernelImage {
    /// An image in memory, owned.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self::Bytes(std::borrow::Cow::Owned(bytes))
    }

    /// An image embedded in the binary.
    pub fn from_static(bytes: &'static [u8]) -> Self {
        Self::Bytes(std::borrow::Cow::Borrowed(bytes))
    }
}

impl std::fmt::Debug for KernelImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => f.debug_tuple("Path").field(p).finish(),
            // Not the bytes: an image is megabytes.
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
        }
    }
}

impl Default for KernelImage {
    fn default() -> Self {
        Self::Bytes(std::borrow::Cow::Borrowed(&[]))
    }
}

/// Where COM1's output goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SerialOutput {
    /// The VMM's stdout.
    #[default]
    Stdio,
    /// A file (created or truncated).
    File(PathBuf),
    /// Nowhere.
    None,
    /// A buffer returned in [`crate::RunOutcome::serial`].
    Capture,
}

/// Everything needed to build a VM.
#[derive(Clone, Debug)]
pub struct VmmConfig {
    /// The image to boot: an ELF64 executable (bare-metal program or vmlinux) or a bzImage.
    pub kernel: KernelImage,
    /// An initramfs, passed through `boot_params` (`ramdisk_image`/`ramdisk_size`).
    pub initramfs: Option<PathBuf>,
    /// The command line (`hdr.cmd_line_ptr`).
    pub cmdline: String,
    /// Guest RAM in MiB.
    pub memory_mib: u64,
    /// Number of vCPUs.
    pub cpus: u8,
    /// Where COM1's output goes.
    pub serial: SerialOutput,
    /// Forward the VMM's stdin to COM1 (a terminal is put in non-canonical, no-echo mode while
    /// the VM runs; a pipe is forwarded as is; stdin that cannot be polled is ignored).
    pub interactive: bool,
    /// End the run with [`crate::ExitReason::Timeout`] after this long.
    pub timeout: Option<Duration>,
    /// Print what the VMM does to stderr.
    pub verbose: bool,
}

impl Default for VmmConfig {
    fn default() -> Self {
        Self {
            kernel: KernelImage::default(),
            initramfs: None,
            cmdline: String::new(),
            memory_mib: 256,
            cpus: 1,
            serial: SerialOutput::Stdio,
            interactive: false,
            timeout: None,
            verbose: false,
        }
    }
}

impl SerialOutput {
    /// Parses the CLI form: `stdio`, `none` or `file:PATH`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "stdio" => Ok(Self::Stdio),
            "none" => Ok(Self::None),
            _ => match s.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(Self::File(PathBuf::from(path))),
                _ => Err(format!(
                    "invalid serial output {s:?}: expected stdio, none or file:PATH"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_output_parses_the_cli_forms() {
        assert_eq!(SerialOutput::parse("stdio"), Ok(SerialOutput::Stdio));
        assert_eq!(SerialOutput::parse("none"), Ok(SerialOutput::None));
        assert_eq!(
            SerialOutput::parse("file:/tmp/x"),
            Ok(SerialOutput::File(PathBuf::from("/tmp/x")))
        );
        assert!(SerialOutput::parse("file:").is_err());
        assert!(SerialOutput::parse("tcp:1").is_err());
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let c = VmmConfig::default();
        assert_eq!(
            (c.memory_mib, c.cpus, c.serial),
            (256, 1, SerialOutput::Stdio)
        );
        assert!(c.timeout.is_none() && !c.verbose && !c.interactive);
    }
}
