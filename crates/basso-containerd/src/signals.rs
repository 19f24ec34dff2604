//! Whether a container's PID 1 can receive SIGTERM, read from `/proc`. The
//! kernel discards a signal that the init process of a PID namespace
//! neither catches nor blocks, so a stop checks this before it relies on
//! one SIGTERM.

use std::path::Path;

/// SIGTERM's bit in the signal masks of `/proc/PID/status`.
const SIGTERM_MASK: u64 = 1 << (15 - 1);

/// Returns whether process `pid` receives a SIGTERM sent now, or `None`
/// when its status cannot be read.
pub(crate) fn accepts_sigterm(pid: u32) -> Option<bool> {
    process_accepts_sigterm(Path::new(&format!("/proc/{pid}")))
}

/// Returns whether the process or thread whose `/proc` folder is `folder`
/// catches or blocks SIGTERM, or waits for signals in `sigtimedwait`.
/// While it waits, the kernel shows the signals it waits for as unblocked,
/// yet still queues them for it; tini waits this way.
fn process_accepts_sigterm(folder: &Path) -> Option<bool> {
    let status = std::fs::read_to_string(folder.join("status")).ok()?;
    if signal_masks_accept_sigterm(&status)? {
        return Some(true);
    }
    // `wchan` names the kernel function a sleeping process waits in, such
    // as `do_sigtimedwait.isra.0`, and reads `0` for a running process.
    let wchan = std::fs::read_to_string(folder.join("wchan")).unwrap_or_default();
    Some(wchan.starts_with("do_sigtimedwait"))
}

/// Reads the `SigBlk` and `SigCgt` masks of a `/proc/PID/status` text and
/// returns whether either has SIGTERM's bit.
fn signal_masks_accept_sigterm(status: &str) -> Option<bool> {
    let mask = |name: &str| {
        let value = status.lines().find_map(|line| line.strip_prefix(name))?;
        u64::from_str_radix(value.trim(), 16).ok()
    };
    let blocked = mask("SigBlk:")?;
    let caught = mask("SigCgt:")?;
    Some((blocked | caught) & SIGTERM_MASK != 0)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    #[test]
    fn sigterm_caught_or_blocked_is_accepted() {
        let status = |blocked: &str, caught: &str| {
            format!(
                "Name:\tsh\nSigQ:\t0/1\nSigPnd:\t0000000000000000\nSigBlk:\t{blocked}\nSigIgn:\t0000000000000000\nSigCgt:\t{caught}\n"
            )
        };
        let none = "0000000000000000";

        assert_eq!(
            signal_masks_accept_sigterm(&status(none, none)),
            Some(false)
        );
        // tini blocks every signal but SIGKILL and SIGSTOP.
        let tini = "fffffffe7ffbfeff";
        assert_eq!(signal_masks_accept_sigterm(&status(tini, none)), Some(true));
        // `trap ... TERM` in sh catches SIGTERM (bit 14).
        assert_eq!(
            signal_masks_accept_sigterm(&status(none, "0000000000004002")),
            Some(true)
        );
        assert_eq!(
            signal_masks_accept_sigterm(&status(none, "0000000000000002")),
            Some(false)
        );
        assert_eq!(signal_masks_accept_sigterm("Name:\tsh\n"), None);
    }

    /// `sleep` neither catches nor blocks SIGTERM, and a process that is gone
    /// has no status.
    #[test]
    fn sleep_does_not_accept_sigterm() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();

        let accepted = accepts_sigterm(pid);
        child.kill().unwrap();
        child.wait().unwrap();

        assert_eq!(accepted, Some(false));
        assert_eq!(accepts_sigterm(u32::MAX), None);
    }

    /// A thread that blocks SIGTERM and waits for it in `sigtimedwait`, as
    /// tini does, accepts it.
    #[test]
    fn sigtimedwait_accepts_sigterm() {
        use nix::sys::signal::{SigSet, Signal};
        use std::os::unix::thread::JoinHandleExt;

        let (sender, receiver) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut set = SigSet::empty();
            set.add(Signal::SIGTERM);
            set.thread_block().unwrap();
            sender.send(nix::unistd::gettid()).unwrap();
            set.wait().unwrap()
        });
        let tid = receiver.recv().unwrap();
        let folder = PathBuf::from(format!("/proc/self/task/{tid}"));
        let mut waiting = false;
        for _ in 0..200 {
            let wchan = std::fs::read_to_string(folder.join("wchan")).unwrap_or_default();
            if wchan.starts_with("do_sigtimedwait") {
                waiting = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }

        let accepted = process_accepts_sigterm(&folder);
        nix::sys::pthread::pthread_kill(waiter.as_pthread_t(), Signal::SIGTERM).unwrap();
        let received = waiter.join().unwrap();

        assert!(waiting, "the thread never waited in sigtimedwait");
        assert_eq!(accepted, Some(true));
        assert_eq!(received, Signal::SIGTERM);
    }
}
