//! Readiness probes on a started process: a line, a TCP port, or any async check.
//! A probe never kills the process; giving up is a typed [`NotReady`](crate::ErrorKind::NotReady)
//! error, at once when the process exits first.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::io::Line;
use crate::process::RunningProcess;

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
