//! A cgroup from systemd, where the owner's own is not writable (a login session's
//! `session-N.scope`, which belongs to root): corral asks the manager (the user's for
//! an ordinary user, the system's for root) over D-Bus for a transient scope with
//! `Delegate=yes` holding the owner, as `systemd-run --user --scope -p Delegate=yes`
//! does, waits for the job to finish, and creates its groups in that scope. The scope
//! is `corral-<pid>.scope`; systemd collects it once the owner and its groups are gone.
//!
//! zbus's blocking API runs here on a thread of its own (it must not block a tokio
//! runtime's thread, and discovery may be called from one); the caller waits for it
//! at most [`ANSWER_WITHIN`].

use std::time::Duration;

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{OwnedObjectPath, Value};

/// How long the caller waits for systemd to start the scope.
const ANSWER_WITHIN: Duration = Duration::from_secs(15);

/// Moves the owner into a new delegated transient scope; returns the unit's name, or
/// why there is none.
pub(crate) fn delegated_scope() -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("corral-systemd".into())
        .spawn(move || {
            let _ = tx.send(start_scope());
        })
        .map_err(|e| format!("cannot start a thread to ask systemd: {e}"))?;
    rx.recv_timeout(ANSWER_WITHIN).unwrap_or_else(|_| {
        Err(format!("systemd did not finish starting the scope within {} s", ANSWER_WITHIN.as_secs()))
    })
}

fn start_scope() -> Result<String, String> {
    let (conn, manager) = if rustix::process::getuid().is_root() {
        (Connection::system(), "the system's systemd")
    } else {
        (Connection::session(), "the user's systemd")
    };
    let fail = |what: &str, e: zbus::Error| format!("{what} {manager}: {e}");
    let conn = conn.map_err(|e| fail("no D-Bus connection to", e))?;
    let proxy =
        Proxy::new(&conn, "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")
            .map_err(|e| fail("cannot address", e))?;
    // Listen before starting: the job may end before StartTransientUnit's reply.
    let removed = proxy.receive_signal("JobRemoved").map_err(|e| fail("cannot listen to", e))?;
    proxy.call_method("Subscribe", &()).map_err(|e| fail("cannot subscribe to", e))?;
    let pid = std::process::id();
    let unit = format!("corral-{pid}.scope");
    let properties: Vec<(&str, Value<'_>)> = vec![
        ("Description", Value::from(format!("corral: the process groups of pid {pid}"))),
        ("PIDs", Value::from(vec![pid])),
        ("Delegate", Value::from(true)),
        ("CollectMode", Value::from("inactive-or-failed")),
    ];
    let auxiliary: Vec<(&str, Vec<(&str, Value<'_>)>)> = Vec::new();
    let job: OwnedObjectPath = match proxy.call("StartTransientUnit", &(unit.as_str(), "fail", properties, auxiliary)) {
        Ok(job) => job,
        // Ours already (an earlier discovery of this process that was not kept).
        Err(_) if in_unit(&unit) => return Ok(unit),
        Err(e) => return Err(fail(&format!("{unit} was refused by"), e)),
    };
    for message in removed {
        let Ok((_id, path, _unit, result)) = message.body().deserialize::<(u32, OwnedObjectPath, String, String)>()
        else {
            continue;
        };
        if path == job {
            return match result.as_str() {
                "done" => Ok(unit),
                other => Err(format!("{manager}'s job starting {unit} ended \"{other}\"")),
            };
        }
    }
    Err(format!("the D-Bus connection to {manager} closed before its job ended"))
}

/// Whether this process is in `unit`'s cgroup now.
fn in_unit(unit: &str) -> bool {
    crate::sys::linux::read_kernel_text("/proc/self/cgroup")
        .is_ok_and(|c| c.lines().any(|l| l.starts_with("0::") && l.trim_end().ends_with(&format!("/{unit}"))))
}
