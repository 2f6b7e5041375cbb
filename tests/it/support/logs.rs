//! Captures every log line the servers in this test binary write, so tests
//! can assert that no secret ever reaches the log.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(logs) = LOGS.get() {
            logs.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
        }
        if std::env::var_os("PORTCULLIS_TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber at debug level (once per binary).
pub fn init() {
    if LOGS.set(Mutex::new(Vec::new())).is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn,portcullis=debug,actix_web=debug")
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    }
}

/// Everything logged so far.
pub fn captured() -> String {
    LOGS.get()
        .map(|l| String::from_utf8_lossy(&l.lock().unwrap_or_else(|e| e.into_inner())).into_owned())
        .unwrap_or_default()
}
