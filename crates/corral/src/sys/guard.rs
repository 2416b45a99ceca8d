//! The owner-death guard: one helper process per owner that kills every registered
//! container when the owner dies. The warden on Linux (`clone(CLONE_VM)`, a socket),
//! the kqueue watcher on macOS and the BSDs; none elsewhere (then groups report
//! [`ParentDeathScope::None`](crate::group::ParentDeathScope::None)). Each offers
//! `get()` and, on what it returns, `register_pgid` and `forget`.

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        pub(crate) use super::linux::warden::get;
    } else if #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))] {
        #[path = "unix/watcher.rs"]
        mod watcher;

        /// The process's watcher, started on first use.
        pub(crate) fn get() -> Result<&'static watcher::Watcher, super::Lack> {
            watcher::get().map_err(super::Lack::Missing)
        }
    } else {
        pub(crate) struct Guard;

        #[allow(dead_code)]
        impl Guard {
            pub fn register_pgid(&self, _pgid: i32, _grace: std::time::Duration) -> std::io::Result<u64> {
                Err(std::io::ErrorKind::Unsupported.into())
            }

            pub fn forget(&self, _id: u64) -> std::io::Result<()> {
                Ok(())
            }
        }

        pub(crate) fn get() -> Result<&'static Guard, super::Lack> {
            Err(super::Lack::Missing("no owner-death guard on this platform".into()))
        }
    }
}
