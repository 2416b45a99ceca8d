//! Readiness probes on a started process: a line, a TCP port, an HTTP status, a Unix
//! socket, a path, a command, or any async check ([`Probe`]). A probe never kills the
//! process; giving up is a typed [`NotReady`](crate::ErrorKind::NotReady) error naming
//! the probe and what it last saw, at once when the process exits first. The same
//! probes are the [`Supervisor`](crate::supervise::Supervisor)'s health checks.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::command::Command;
use crate::error::{Error, Result};
use crate::io::Line;
use crate::process::RunningProcess;

/// How long one check of a [`Probe`] may take before it counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a custom probe returns: `Ok` when healthy, else what it saw.
pub type ProbeFuture = Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send>>;

/// One observation of whether something is up. Each check is bounded by
/// [`PROBE_TIMEOUT`]; a failed check says what it saw.
///
/// ```
/// use corral::readiness::Probe;
/// let http = Probe::http("http://127.0.0.1:8080/health").unwrap();
/// assert_eq!(http.to_string(), "HTTP GET http://127.0.0.1:8080/health");
/// ```
#[derive(Clone)]
pub struct Probe(ProbeKind);

#[derive(Clone)]
enum ProbeKind {
    Tcp(SocketAddr),
    Http { host: String, port: u16, path: String },
    UnixSocket(PathBuf),
    Path(PathBuf),
    Command(Box<Command>),
    Custom(String, Arc<dyn Fn() -> ProbeFuture + Send + Sync>),
}

impl Probe {
    /// A TCP connection to `addr` succeeds.
    pub fn tcp(addr: SocketAddr) -> Probe {
        Probe(ProbeKind::Tcp(addr))
    }

    /// `GET` of an `http://host[:port]/path` URL answers with a 2xx status (HTTP/1.1
    /// over a plain TCP connection; no TLS, no redirects). A URL of another shape is an
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) error.
    pub fn http(url: &str) -> Result<Probe> {
        let bad = |why: &str| Error::InvalidInput(format!("HTTP probe URL {url:?}: {why}"));
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("only http:// URLs are probed"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad("the port is not a number"))?)
            }
            _ => (authority, 80),
        };
        if host.is_empty() || path.chars().any(char::is_whitespace) {
            return Err(bad("no host, or whitespace in the path"));
        }
        Ok(Probe(ProbeKind::Http { host: host.to_owned(), port, path: path.to_owned() }))
    }

    /// A connection to the Unix socket at `path` succeeds (Unix).
    pub fn unix_socket(path: impl Into<PathBuf>) -> Probe {
        Probe(ProbeKind::UnixSocket(path.into()))
    }

    /// Something exists at `path` (a pid file, a socket, a marker).
    pub fn path(path: impl Into<PathBuf>) -> Probe {
        Probe(ProbeKind::Path(path.into()))
    }

    /// `cmd` exits 0 (run as a verb, in its own container; its own timeout, if it has
    /// none, is [`PROBE_TIMEOUT`]).
    pub fn command(cmd: Command) -> Probe {
        Probe(ProbeKind::Command(Box::new(cmd)))
    }

    /// Any async check named `name`: `Ok(())` when up, else `Err` with what it saw.
    pub fn custom<F, Fut>(name: impl Into<String>, check: F) -> Probe
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), String>> + Send + 'static,
    {
        Probe(ProbeKind::Custom(name.into(), Arc::new(move || Box::pin(check()))))
    }

    /// Checks once: `Ok` when up, else what was seen.
    pub async fn check(&self) -> std::result::Result<(), String> {
        match tokio::time::timeout(PROBE_TIMEOUT, self.check_unbounded()).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
        }
    }

    async fn check_unbounded(&self) -> std::result::Result<(), String> {
        match &self.0 {
            ProbeKind::Tcp(addr) => tokio::net::TcpStream::connect(addr).await.map(drop).map_err(|e| e.to_string()),
            ProbeKind::Http { host, port, path } => http_status(host, *port, path).await,
            ProbeKind::UnixSocket(path) => unix_connect(path).await,
            // One metadata call: quick enough not to need a blocking thread.
            ProbeKind::Path(path) => std::fs::symlink_metadata(path).map(drop).map_err(|e| e.to_string()),
            ProbeKind::Command(cmd) => {
                let cmd =
                    if cmd.get_timeout().is_some() { (**cmd).clone() } else { cmd.clone().timeout(PROBE_TIMEOUT) };
                match cmd.output().await {
                    Ok(out) if out.success() => Ok(()),
                    Ok(out) => {
                        let tail = Error::stderr_tail(&out.stderr);
                        Err(format!(
                            "{}{}",
                            out.outcome,
                            if tail.trim().is_empty() { String::new() } else { format!(": {}", tail.trim()) }
                        ))
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            ProbeKind::Custom(_, check) => check().await,
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            ProbeKind::Tcp(addr) => write!(f, "TCP connect to {addr}"),
            ProbeKind::Http { host, port, path } => write!(f, "HTTP GET http://{host}:{port}{path}"),
            ProbeKind::UnixSocket(p) => write!(f, "Unix socket connect to {}", p.display()),
            ProbeKind::Path(p) => write!(f, "path {}", p.display()),
            ProbeKind::Command(c) => write!(f, "command {}", c.display_name()),
            ProbeKind::Custom(name, _) => f.write_str(name),
        }
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Probe({self})")
    }
}

/// The status of `GET path` on `host:port`, by hand over a TCP stream: one request
/// line, one status line read back; a whole HTTP client would be far more than a
/// probe needs.
async fn http_status(host: &str, port: u16, path: &str) -> std::result::Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| format!("connect: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: corral\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("sending the request: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("reading the answer: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    let mut words = line.split_whitespace();
    match (words.next(), words.next().and_then(|c| c.parse::<u16>().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => {
            if (200..300).contains(&code) {
                Ok(())
            } else {
                Err(format!("status {code}"))
            }
        }
        _ => Err(format!("not an HTTP answer: {line:?}")),
    }
}

#[cfg(unix)]
async fn unix_connect(path: &std::path::Path) -> std::result::Result<(), String> {
    tokio::net::UnixStream::connect(path).await.map(drop).map_err(|e| e.to_string())
}

#[cfg(not(unix))]
async fn unix_connect(_path: &std::path::Path) -> std::result::Result<(), String> {
    Err("Unix sockets are not probed on this platform".into())
}

/// How often `wait_for_port` and `wait_for` try again: nothing notifies "a port now
/// accepts connections", so they poll at this interval.
pub const READINESS_INTERVAL: Duration = Duration::from_millis(20);

impl RunningProcess {
    /// Waits for a line (stdout or stderr) that satisfies `predicate`, up to `deadline`.
    /// Needs a command started with [`stream_lines`](crate::Command::stream_lines); the
    /// lines read while waiting are consumed.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// use corral::{Command, Group};
    /// use std::time::Duration;
    /// let group = Group::new()?;
    /// let mut server = group.start(Command::new("my-server").stream_lines())?;
    /// server.wait_for_line(|l| l.contains("listening"), Duration::from_secs(10)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_line(&mut self, mut predicate: impl FnMut(&str) -> bool, deadline: Duration) -> Result<Line> {
        let Some(mut lines) = self.lines() else {
            return Err(Error::InvalidInput("wait_for_line needs a command started with stream_lines()".into()));
        };
        let until = Instant::now() + deadline;
        let result = loop {
            tokio::select! {
                biased;
                line = lines.next_line() => match line {
                    Some(l) if predicate(&l.text) => break Ok(l),
                    Some(_) => {}
                    None => break Err(self.not_ready("its output ended without a matching line".into())),
                },
                outcome = self.wait() => {
                    // Lines it wrote before exiting may still be queued.
                    while let Some(l) = lines.try_next_line() {
                        if predicate(&l.text) {
                            self.put_lines(lines);
                            return Ok(l);
                        }
                    }
                    break Err(self.not_ready(format!("it {} before a matching line", outcome?)));
                }
                _ = tokio::time::sleep_until(until) => {
                    break Err(self.not_ready(format!("no matching line within {deadline:?}")));
                }
            }
        };
        self.put_lines(lines);
        result
    }

    /// Waits until a TCP connection to `addr` succeeds, up to `deadline`.
    pub async fn wait_for_port(&mut self, addr: SocketAddr, deadline: Duration) -> Result<()> {
        self.wait_for(|| async move { tokio::net::TcpStream::connect(addr).await.is_ok() }, deadline).await.map_err(
            |e| match e {
                Error::NotReady { program, reason } => {
                    Error::NotReady { program, reason: format!("{addr} did not accept a connection: {reason}") }
                }
                other => other,
            },
        )
    }

    /// Waits until `probe` succeeds (checked every [`READINESS_INTERVAL`]), up to
    /// `deadline`. Giving up is a [`NotReady`](crate::ErrorKind::NotReady) error
    /// naming the probe and what its last check saw.
    ///
    /// ```no_run
    /// # async fn demo() -> corral::Result<()> {
    /// use corral::readiness::Probe;
    /// use corral::{Command, Group};
    /// use std::time::Duration;
    /// let group = Group::new()?;
    /// let mut api = group.start(Command::new("my-api").args(["--port", "8080"]))?;
    /// api.wait_until(&Probe::http("http://127.0.0.1:8080/health")?, Duration::from_secs(30)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_until(&mut self, probe: &Probe, deadline: Duration) -> Result<()> {
        let until = Instant::now() + deadline;
        let mut last = String::from("not checked yet");
        loop {
            let attempt = async {
                match probe.check().await {
                    Ok(()) => Ok(()),
                    Err(seen) => {
                        tokio::time::sleep(READINESS_INTERVAL).await;
                        Err(seen)
                    }
                }
            };
            let seen = tokio::select! {
                biased;
                r = attempt => match r { Ok(()) => return Ok(()), Err(seen) => seen },
                outcome = self.wait() => return Err(self.not_ready(format!("it {} before {probe} succeeded (last check: {last})", outcome?))),
                _ = tokio::time::sleep_until(until) => {
                    return Err(self.not_ready(format!("{probe} did not succeed within {deadline:?} (last check: {last})")))
                }
            };
            last = seen;
        }
    }

    /// Waits until `check` answers `true` (tried every [`READINESS_INTERVAL`]), up to `deadline`.
    pub async fn wait_for<F, Fut>(&mut self, mut check: F, deadline: Duration) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let until = Instant::now() + deadline;
        loop {
            let attempt = async {
                if check().await {
                    true
                } else {
                    tokio::time::sleep(READINESS_INTERVAL).await;
                    false
                }
            };
            tokio::select! {
                biased;
                ready = attempt => if ready { return Ok(()) },
                outcome = self.wait() => return Err(self.not_ready(format!("it {} first", outcome?))),
                _ = tokio::time::sleep_until(until) => return Err(self.not_ready(format!("not within {deadline:?}"))),
            }
        }
    }
}
