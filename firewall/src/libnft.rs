//! A small FFI to libnftables, loaded at run time so that building the crate
//! needs no C headers and a host without nftables gets a clear error.

use crate::FirewallError;
use libloading::{Library, Symbol};
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

const NFT_CTX_DEFAULT: c_uint = 0;
const NFT_CTX_OUTPUT_JSON: c_uint = 1 << 4;

type CtxNew = unsafe extern "C" fn(c_uint) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxFlag = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxGetBuf = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type SetFlags = unsafe extern "C" fn(*mut c_void, c_uint);
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// One libnftables context. Not thread-safe: the batcher's thread owns it.
pub(crate) struct Nft {
    ctx: *mut c_void,
    free: CtxFree,
    get_out: CtxGetBuf,
    get_err: CtxGetBuf,
    run: RunCmd,
    // Keeps the function pointers above valid.
    _lib: Library,
}

// The context is only ever used by one thread at a time (moved into the worker).
unsafe impl Send for Nft {}

impl Nft {
    pub(crate) fn open() -> Result<Self, FirewallError> {
        // SAFETY: loading libnftables runs no initialisers with preconditions.
        let lib = unsafe { Library::new("libnftables.so.1") }.map_err(FirewallError::Library)?;
        // SAFETY: the signatures match libnftables' public header (nftables/libnftables.h).
        unsafe {
            let new: Symbol<'_, CtxNew> = lib.get(b"nft_ctx_new\0").map_err(FirewallError::Library)?;
            let free: CtxFree = *lib.get::<CtxFree>(b"nft_ctx_free\0").map_err(FirewallError::Library)?;
            let buf_out: CtxFlag = *lib.get::<CtxFlag>(b"nft_ctx_buffer_output\0").map_err(FirewallError::Library)?;
            let buf_err: CtxFlag = *lib.get::<CtxFlag>(b"nft_ctx_buffer_error\0").map_err(FirewallError::Library)?;
            let get_out: CtxGetBuf =
                *lib.get::<CtxGetBuf>(b"nft_ctx_get_output_buffer\0").map_err(FirewallError::Library)?;
            let get_err: CtxGetBuf =
                *lib.get::<CtxGetBuf>(b"nft_ctx_get_error_buffer\0").map_err(FirewallError::Library)?;
            let set_flags: SetFlags =
                *lib.get::<SetFlags>(b"nft_ctx_output_set_flags\0").map_err(FirewallError::Library)?;
            let run: RunCmd = *lib.get::<RunCmd>(b"nft_run_cmd_from_buffer\0").map_err(FirewallError::Library)?;
            let ctx = new(NFT_CTX_DEFAULT);
            if ctx.is_null() {
                return Err(FirewallError::Context);
            }
            buf_out(ctx);
            buf_err(ctx);
            set_flags(ctx, NFT_CTX_OUTPUT_JSON);
            Ok(Nft { ctx, free, get_out, get_err, run, _lib: lib })
        }
    }

    /// Runs a command buffer (nft syntax or JSON) as one transaction and
    /// returns what it printed (JSON for list commands).
    pub(crate) fn run(&mut self, commands: &str) -> Result<String, FirewallError> {
        let cmd = CString::new(commands)
            .map_err(|_| FirewallError::Rejected { message: "command contains a NUL byte".into() })?;
        // SAFETY: ctx is valid for our lifetime; the buffers returned are owned
        // by the context and valid until the next run, so we copy them at once.
        unsafe {
            let rc = (self.run)(self.ctx, cmd.as_ptr());
            let out = buffer(self.get_out, self.ctx);
            let err = buffer(self.get_err, self.ctx);
            if rc != 0 {
                let message = err.trim().to_string();
                if message.contains("Operation not permitted") {
                    return Err(FirewallError::NotPermitted { message });
                }
                return Err(FirewallError::Rejected { message });
            }
            Ok(out)
        }
    }
}

unsafe fn buffer(get: CtxGetBuf, ctx: *mut c_void) -> String {
    // SAFETY: the caller passes a live context; a null buffer means empty.
    unsafe {
        let p = get(ctx);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

impl Drop for Nft {
    fn drop(&mut self) {
        // SAFETY: ctx came from nft_ctx_new and is freed once.
        unsafe { (self.free)(self.ctx) }
    }
}
