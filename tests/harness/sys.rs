//! The few OS calls the harness needs (Linux / Unix only).
//!
//! With paho_raw.rs, the only module with `unsafe`; every call here is a plain libc call
//! (the two `setsockopt`s pass a pointer to a local value and its size, the one
//! `ioctl` a pointer to a local integer).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// Whether the current process runs with effective uid 0.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    euid == 0
}

/// Sends SIGTERM to `pid`.
pub(crate) fn terminate(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill has no memory-safety preconditions; `pid` is the id of a
    // child we have not reaped yet, so it cannot have been recycled.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A request to the spawner thread.
struct SpawnRequest {
    command: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// The sending side of the spawner thread's queue (created on first use).
static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();

/// Spawns `command` so that the child is SIGKILLed when this process dies.
///
/// `Drop for Broker` already kills the broker, but `Drop` never runs for a
/// broker kept in a `static`, leaked, or when the test binary itself is
/// killed (e.g. by a CI timeout). To not leave stray brokers behind, the
/// child asks the kernel for `PR_SET_PDEATHSIG(SIGKILL)`. That signal fires
/// when the *thread* that spawned the child exits, so all children are
/// spawned from one helper thread that lives as long as the process.
pub(crate) fn spawn_tied_to_process(mut command: Command) -> io::Result<Child> {
    install_parent_death_signal(&mut command);
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("harness-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop only ends with
                // the process.
                while let Ok(mut req) = rx.recv() {
                    let _ = req.reply.send(req.command.spawn());
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let Some(spawner) = spawner else {
        // No helper thread: the child is then tied to the calling thread,
        // which is still better than nothing for a test.
        return command.spawn();
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = spawner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(SpawnRequest {
            command,
            reply: reply_tx,
        });
    if let Err(mpsc::SendError(req)) = sent {
        let mut command = req.command;
        return command.spawn();
    }
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("harness spawner thread is gone"))?
}

fn install_parent_death_signal(command: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl,
    // which is async-signal-safe, and allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes the child of `command` the leader of a session of its own (`setsid`), with no
/// controlling terminal: opening `/dev/tty` fails there (`ENXIO`), whether or not the
/// tests run in a terminal. OpenSSL's password prompt then reads stdin instead, which the
/// test controls.
pub fn without_terminal(command: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls setsid, which is
    // async-signal-safe, and allocates nothing.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sends SIGKILL to the process group `pgid` (a child started with
/// `process_group(0)`, whose pid is its group id): the child and whatever it started.
pub(crate) fn kill_group(pgid: u32) -> io::Result<()> {
    let pgid = libc::pid_t::try_from(pgid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill has no memory-safety preconditions; a negative pid names the group
    // of a child we have not reaped yet, so the group id cannot have been recycled.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the socket option `name` at `SOL_SOCKET` level to `value`.
fn set_socket_option<T>(fd: RawFd, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too large"))?;
    // SAFETY: `fd` is an open socket borrowed for the call, and `value` points to a
    // live value of exactly `len` bytes, which setsockopt only reads.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            std::ptr::from_ref(value).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for a receive buffer of `bytes` on `listener`'s sockets (`SO_RCVBUF`; the
/// connections it accepts inherit it; the kernel doubles it and applies its minimum):
/// a client writing more than it and its own send buffer hold has to wait.
pub fn set_receive_buffer(listener: &TcpListener, bytes: i32) -> io::Result<()> {
    set_socket_option(listener.as_raw_fd(), libc::SO_RCVBUF, &bytes)
}

/// Closes `stream` with a reset (RST) instead of an orderly shutdown (`SO_LINGER` 0).
pub fn reset_connection(stream: TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_socket_option(stream.as_raw_fd(), libc::SO_LINGER, &linger)?;
    drop(stream);
    Ok(())
}

/// How many bytes wait unread in the receive queue of the socket `fd` (`FIONREAD`).
pub(crate) fn unread_bytes(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: `fd` is an open socket borrowed for the call; FIONREAD writes one `c_int`
    // to the pointer, which points to a live local of that type.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, std::ptr::from_mut(&mut n)) };
    if rc == 0 {
        usize::try_from(n).map_err(|_| io::Error::other("FIONREAD gave a negative count"))
    } else {
        Err(io::Error::last_os_error())
    }
}
