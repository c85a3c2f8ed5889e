//! Where COM1's bytes go, and when the first one arrived.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::SerialOutput;

/// Buffer of captured output.
pub type Capture = Arc<Mutex<Vec<u8>>>;

#[derive(Debug)]
enum Target {
    Stdout,
    File(File),
    Capture(Capture),
    Discard,
}

/// The `Write` behind COM1.
#[derive(Debug)]
pub struct SerialSink {
    target: Target,
    first_byte: Arc<OnceLock<Instant>>,
}

impl SerialSink {
    /// A sink for `output`; also returns the capture buffer when capturing.
    pub fn new(output: &SerialOutput) -> io::Result<(Self, Option<Capture>)> {
        let mut capture = None;
        let target = match output {
            SerialOutput::Stdio => Target::Stdout,
            SerialOutput::File(path) => Target::File(File::create(path)?),
            SerialOutput::None => Target::Discard,
            SerialOutput::Capture => {
                let buf = Capture::default();
                capture = Some(buf.clone());
                Target::Capture(buf)
            }
        };
        Ok((
            Self {
                target,
                first_byte: Arc::default(),
            },
            capture,
        ))
    }

    /// Set when the first byte is written.
    pub fn first_byte(&self) -> Arc<OnceLock<Instant>> {
        self.first_byte.clone()
    }
}

impl Write for SerialSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !buf.is_empty() {
            self.first_byte.get_or_init(Instant::now);
        }
        match &mut self.target {
            Target::Stdout => io::stdout().lock().write(buf),
            Target::File(f) => f.write(buf),
            Target::Capture(c) => {
                c.lock().extend_from_slice(buf);
                Ok(buf.len())
            }
            Target::Discard => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.target {
            Target::Stdout => io::stdout().lock().flush(),
            Target::File(f) => f.flush(),
            Target::Capture(_) | Target::Discard => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_collects_bytes_and_stamps_the_first() {
        let (mut sink, capture) = SerialSink::new(&SerialOutput::Capture).unwrap();
        let first = sink.first_byte();
        assert!(first.get().is_none());

        sink.write_all(b"hi").unwrap();

        assert_eq!(*capture.unwrap().lock(), b"hi".to_vec());
        assert!(first.get().is_some());
    }

    #[test]
    fn file_output_lands_in_the_file() {
        let dir = vmm_sys_util::tempdir::TempDir::new_with_prefix("/tmp/serial").unwrap();
        let path = dir.as_path().join("out");
        let (mut sink, capture) = SerialSink::new(&SerialOutput::File(path.clone())).unwrap();

        sink.write_all(b"ok\n").unwrap();
        sink.flush().unwrap();

        assert!(capture.is_none());
        assert_eq!(std::fs::read(path).unwrap(), b"ok\n");
    }
}
