//! The one `unsafe` of this crate: registering a function that runs when the process
//! exits normally (atexit(3)), where the plugin stops its clients gracefully.
#![allow(unsafe_code)]

/// Runs `hook` when the process exits normally (`main` returned, `std::process::exit`),
/// before the process is gone: the plugin stops its clients gracefully there, because
/// actix returns from `HttpServer::run` while its worker threads, which own the clients,
/// may still be dropping them. Returns whether the hook was registered.
#[cfg(unix)]
pub(crate) fn at_exit(hook: extern "C" fn()) -> bool {
    extern "C" {
        // The C library's atexit(3); std links the C library on every unix target.
        fn atexit(hook: extern "C" fn()) -> std::ffi::c_int;
    }
    // SAFETY: `atexit` only records the function pointer, which stays valid for the whole
    // life of the process; `hook` is an `extern "C"` function without arguments, as
    // atexit(3) requires (a panic in it aborts instead of unwinding into C).
    unsafe { atexit(hook) == 0 }
}

/// Not available on this platform: the clients are stopped by the worker threads alone.
#[cfg(not(unix))]
pub(crate) fn at_exit(_hook: extern "C" fn()) -> bool {
    false
}
