//! The real `portcullis` binary as a child process, for what only a
//! separate process can show: several instances on one database, signals.

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A free port on loopback (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

pub struct Instance {
    pub child: Child,
    pub base: String,
}

impl Instance {
    /// Starts `portcullis serve` with the given database and issuer on a
    /// free port; does not wait for it (see [`Instance::wait_ready`]).
    pub fn spawn(database_url: &str, issuer: &str) -> Self {
        Self::spawn_at(free_port(), database_url, issuer)
    }

    pub fn spawn_at(port: u16, database_url: &str, issuer: &str) -> Self {
        let child = Command::new(BIN)
            .arg("serve")
            .env("PORTCULLIS_DATABASE__URL", database_url)
            .env("PORTCULLIS_ISSUER", issuer)
            .env("PORTCULLIS_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS_SERVER__WORKERS", "1")
            .env("PORTCULLIS_ADMIN_PASSWORD", "bootstrap admin password")
            .env("PORTCULLIS_LOG__FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn portcullis");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Polls /readyz until it answers 200.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = super::http();
        while Instant::now() < deadline {
            let ready = http.get(format!("{}/readyz", self.base)).send();
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("instance at {} never became ready", self.base);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a CLI command of the binary against a database.
pub fn cli(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--database-url")
        .arg(database_url)
        .args(args)
        .env("PORTCULLIS_LOG__FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis");
    if let Some(input) = stdin {
        let _ = child
            .stdin
            .take()
            .map(|mut s| s.write_all(input.as_bytes()));
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("output")
}

/// The value after `label: ` in a command's output.
pub fn field(output: &Output, label: &str) -> String {
    let text = String::from_utf8_lossy(&output.stdout);
    let prefix = format!("{label}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {label} in output: {text}"))
        .to_owned()
}
