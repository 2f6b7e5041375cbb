//! A minimal HTTP/1.1 client for the login scenario: one keep-alive
//! connection per simulated browser, requests written in one call and
//! responses parsed in place. The load generator runs on the same two cores
//! as the server, and the login target is a share of those cores, so what
//! the generator spends counts against the server; a general-purpose client
//! (connection pool, header maps, URL parsing, redirect policy) cost about
//! 120 µs of CPU per request here.
//!
//! It speaks just enough HTTP for this server: `Content-Length` and chunked
//! bodies, keep-alive, and a fresh connection when the server closes one.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a test needs of a response.
pub struct Response {
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// Each `Set-Cookie` header's `name=value` part.
    pub cookies: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One keep-alive connection to `127.0.0.1:port` (what `base` names).
pub struct Http1 {
    addr: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Http1 {
    /// `base` is `http://HOST:PORT`; nothing connects until the first
    /// request.
    pub fn new(base: &str) -> Self {
        Self {
            addr: base.trim_start_matches("http://").to_owned(),
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends a request (`target` is the path and query) with the given
    /// extra header lines; a body is sent as a form.
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        form: Option<&str>,
    ) -> io::Result<Response> {
        let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            if !value.is_empty() {
                request.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        if let Some(body) = form {
            request.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            request.push_str("\r\n");
        }
        // A kept-alive connection the server has closed fails on first use;
        // one new connection is tried before giving up.
        let reused = self.stream.is_some();
        match self.exchange(request.as_bytes()).await {
            Err(_) if reused => {
                self.stream = None;
                self.exchange(request.as_bytes()).await
            }
            result => result,
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> io::Result<Response> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let result = self.round_trip(request).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn round_trip(&mut self, request: &[u8]) -> io::Result<Response> {
        let stream = self.stream.as_mut().ok_or_else(broken)?;
        stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| broken())?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(broken)?;
        let (mut location, mut cookies) = (None, Vec::new());
        let (mut length, mut chunked, mut close) = (None, false, false);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "location" => location = Some(value.to_owned()),
                "set-cookie" => {
                    if let Some((n, v)) = value.split(';').next().and_then(|kv| kv.split_once('='))
                    {
                        cookies.push((n.to_owned(), v.to_owned()));
                    }
                }
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let body = if chunked {
            self.chunked(head_end).await?
        } else {
            let length = length.unwrap_or(0);
            while self.buf.len() < head_end + length {
                self.fill().await?;
            }
            self.buf[head_end..head_end + length].to_vec()
        };
        if close {
            self.stream = None;
        }
        Ok(Response {
            status,
            location,
            cookies,
            body,
        })
    }

    /// Decodes a chunked body starting at `at`.
    async fn chunked(&mut self, mut at: usize) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf[at..], b"\r\n") {
                    break at + i;
                }
                self.fill().await?;
            };
            let size = std::str::from_utf8(&self.buf[at..line_end])
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
                .ok_or_else(broken)?;
            let data = line_end + 2;
            while self.buf.len() < data + size + 2 {
                self.fill().await?;
            }
            if size == 0 {
                return Ok(body);
            }
            body.extend_from_slice(&self.buf[data..data + size]);
            at = data + size + 2;
        }
    }

    async fn fill(&mut self) -> io::Result<()> {
        let stream = self.stream.as_mut().ok_or_else(broken)?;
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn broken() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed response")
}
