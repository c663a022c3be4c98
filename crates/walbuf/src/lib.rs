//! A SQLite VFS that writes a commit's WAL frames to the file in one system call.
//!
//! SQLite appends a commit to the write-ahead log frame by frame, and each frame with two
//! `write` calls: its 24-byte header, then the page. A commit of 17 pages is 34 system calls.
//! On the server's writer thread, which every token grant waits for, the kernel's side of
//! those calls was over a third of its time, and each call costs more while the syncer's
//! `fdatasync` of the same file runs. Gathered into one, the writer spends about a tenth less
//! time per refresh (docs/performance.md, change 22). This VFS sits over SQLite's default one and changes one
//! thing: writes that extend the WAL one after another are gathered in memory and handed to the
//! file in one `write` as soon as the commit's last page has arrived. Everything else, and every
//! other file, goes straight through.
//!
//! # Why it is safe
//!
//! Nothing may read a frame before it is in the file. Who reads the WAL:
//! - the connection itself (a page it spilled, a checkpoint): every call on the WAL file other
//!   than a gathered write (`xRead`, `xSync`, `xTruncate`, `xFileSize`, `xFileControl`,
//!   `xClose`, and a write elsewhere in the file) first writes out what is gathered;
//! - other connections, which find frames through the WAL index in shared memory. SQLite
//!   makes frames visible to them only by updating the index header, and it calls
//!   `xShmBarrier` on the database file before the copy of the header that readers trust.
//!   The database file of a connection opened with this VFS knows its WAL (linked at the
//!   WAL's `xOpen` through `sqlite3_database_file_object`) and writes out what is gathered in
//!   its barrier, a safety net: it finds nothing gathered in the cases the tests drive.
//!
//! Only appends are gathered: a commit's frames are written out when its last frame (whose
//! header carries the database size, non-zero only there) has been gathered, inside the
//! `xWrite` of that frame's page, and writes into frames already written (a page overwritten in
//! place, checksums rewritten at commit) go straight to the file. So every failed write fails
//! the statement or commit that made it, as without this VFS. If the barrier's write ever
//! failed, SQLite could not be told (the barrier returns nothing) and readers would next read
//! frames that are not there: the process aborts instead, and recovery at the next start
//! keeps what reached the file. Durability is unchanged: nothing here syncs or skips a sync.
//!
//! A WAL whose database file was not opened through this VFS is passed through unchanged.

use std::{
    ffi::{c_char, c_int, c_void, CStr},
    ptr,
    sync::{
        atomic::{AtomicU64, Ordering},
        OnceLock,
    },
};

use rusqlite::ffi;

/// The name connections open the VFS by (`Connection::open_with_flags_and_vfs`).
pub const VFS_NAME: &str = "ucoauth-walbuf";
const VFS_NAME_C: &CStr = c"ucoauth-walbuf";

/// At most this much is gathered before it is written; a larger commit is written in pieces
/// of this size. It is the most the default (unix) VFS writes in one call: it masks every
/// write's length with 0x1ffff, so a longer one would be cut short.
const GATHER_LIMIT: usize = 0x1ffff;

/// The sizes of a WAL frame header and of the WAL header (SQLite's file format).
const FRAME_HEADER: usize = 24;
const WAL_HEADER: usize = 32;

/// Registers the VFS with SQLite (once per process) and returns its name.
pub fn register() -> Result<&'static str, RegisterError> {
    static REGISTERED: OnceLock<Result<(), RegisterError>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: registration happens once, with a VFS that lives for the process.
            unsafe { register_over_default() }
        })
        .clone()
        .map(|()| VFS_NAME)
}

/// Why the VFS could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// SQLite has no default VFS, or it lacks a method this one forwards to.
    NoUsableDefault,
    /// `sqlite3_vfs_register` failed with this code.
    Sqlite(c_int),
}

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoUsableDefault => f.write_str("SQLite's default VFS cannot be wrapped"),
            Self::Sqlite(code) => write!(f, "sqlite3_vfs_register failed (code {code})"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// Counts since the process started, for tests and diagnostics: writes SQLite made to WAL
/// files of this VFS, the writes that reached the files, and how many of those were made by
/// the barrier (the safety net; none in a normal commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub wal_writes_asked: u64,
    pub wal_writes_made: u64,
    pub wal_writes_at_barrier: u64,
}

static ASKED: AtomicU64 = AtomicU64::new(0);
static MADE: AtomicU64 = AtomicU64::new(0);
static AT_BARRIER: AtomicU64 = AtomicU64::new(0);

pub fn counts() -> Counts {
    Counts {
        wal_writes_asked: ASKED.load(Ordering::Relaxed),
        wal_writes_made: MADE.load(Ordering::Relaxed),
        wal_writes_at_barrier: AT_BARRIER.load(Ordering::Relaxed),
    }
}

/// The writes gathered for one WAL file.
struct Gathered {
    bytes: Vec<u8>,
    /// File offset of `bytes[0]`.
    start: i64,
    /// The last frame of a commit has its header gathered; its page comes next.
    commit_frame: bool,
    /// Where the WAL's next new frame goes: the end of the furthest write so far. Only writes
    /// from there on (appends) are gathered.
    frontier: i64,
}

/// Our file object. SQLite allocates `szOsFile` bytes for it and sees only `base`; the
/// default VFS's own file object follows it in the same allocation.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    /// WAL files whose database file is ours: where their writes are gathered.
    gathered: Option<Box<Gathered>>,
    /// A database file: its WAL while that is open. A WAL file: its database file.
    partner: *mut File,
}

/// Where the default VFS's file object starts inside ours.
const INNER_OFFSET: usize = std::mem::size_of::<File>().next_multiple_of(16);

unsafe fn register_over_default() -> Result<(), RegisterError> {
    // SAFETY: sqlite3_vfs_find with NULL returns the default VFS, which lives for the process.
    let inner = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if inner.is_null() {
        return Err(RegisterError::NoUsableDefault);
    }
    // SAFETY: `inner` is a registered VFS.
    let base = unsafe { &*inner };
    let complete = base.iVersion >= 2
        && base.xOpen.is_some()
        && base.xDelete.is_some()
        && base.xAccess.is_some()
        && base.xFullPathname.is_some()
        && base.xRandomness.is_some()
        && base.xSleep.is_some()
        && base.xCurrentTime.is_some()
        && base.xCurrentTimeInt64.is_some();
    let size = c_int::try_from(INNER_OFFSET)
        .ok()
        .and_then(|o| o.checked_add(base.szOsFile));
    let (true, Some(size)) = (complete, size) else {
        return Err(RegisterError::NoUsableDefault);
    };
    let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
        iVersion: 2,
        szOsFile: size,
        mxPathname: base.mxPathname,
        pNext: ptr::null_mut(),
        zName: VFS_NAME_C.as_ptr(),
        pAppData: inner.cast(),
        xOpen: Some(open),
        xDelete: Some(vfs_delete),
        xAccess: Some(vfs_access),
        xFullPathname: Some(vfs_full_pathname),
        xDlOpen: Some(vfs_dl_open),
        xDlError: Some(vfs_dl_error),
        xDlSym: Some(vfs_dl_sym),
        xDlClose: Some(vfs_dl_close),
        xRandomness: Some(vfs_randomness),
        xSleep: Some(vfs_sleep),
        xCurrentTime: Some(vfs_current_time),
        xGetLastError: Some(vfs_get_last_error),
        xCurrentTimeInt64: Some(vfs_current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    }));
    // SAFETY: `vfs` is leaked, so it outlives every connection; 0: not the default.
    match unsafe { ffi::sqlite3_vfs_register(vfs, 0) } {
        ffi::SQLITE_OK => Ok(()),
        code => Err(RegisterError::Sqlite(code)),
    }
}

/// The default VFS this one wraps.
unsafe fn inner_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: our VFS's pAppData is the wrapped VFS (set at registration).
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite gives `file` szOsFile bytes, so the inner object fits after ours.
    unsafe {
        let inner_vfs = inner_vfs(vfs);
        let inner = file
            .cast::<u8>()
            .add(INNER_OFFSET)
            .cast::<ffi::sqlite3_file>();
        let Some(inner_open) = (*inner_vfs).xOpen else {
            (*file).pMethods = ptr::null();
            return ffi::SQLITE_CANTOPEN;
        };
        let rc = inner_open(inner_vfs, name, inner, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            // With pMethods NULL, SQLite does not call xClose.
            (*file).pMethods = ptr::null();
            return rc;
        }
        let mut partner: *mut File = ptr::null_mut();
        if flags & ffi::SQLITE_OPEN_WAL != 0 && !name.is_null() {
            let db = ffi::sqlite3_database_file_object(name);
            if !db.is_null() && ptr::eq((*db).pMethods, &METHODS) {
                partner = db.cast();
            }
        }
        let ours = file.cast::<File>();
        ptr::write(
            ours,
            File {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                inner,
                gathered: (!partner.is_null()).then(|| {
                    Box::new(Gathered {
                        bytes: Vec::new(),
                        start: 0,
                        commit_frame: false,
                        frontier: 0,
                    })
                }),
                partner,
            },
        );
        if !partner.is_null() {
            (*partner).partner = ours;
        }
        ffi::SQLITE_OK
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// Our object behind a file SQLite opened through this VFS.
unsafe fn ours<'a>(file: *mut ffi::sqlite3_file) -> &'a mut File {
    // SAFETY: every file whose pMethods is METHODS was initialised by `open` as a `File`.
    unsafe { &mut *file.cast::<File>() }
}

/// The wrapped file's methods.
unsafe fn inner_methods<'a>(file: &File) -> &'a ffi::sqlite3_io_methods {
    // SAFETY: the inner file was opened successfully, so its pMethods is set.
    unsafe { &*(*file.inner).pMethods }
}

impl File {
    /// Writes what is gathered, if anything, in one call.
    unsafe fn write_out(&mut self) -> c_int {
        match self.gathered.as_deref_mut() {
            // SAFETY: `inner` is this file's open inner object.
            Some(gathered) => unsafe { gathered.write_out(self.inner) },
            None => ffi::SQLITE_OK,
        }
    }
}

impl Gathered {
    /// Writes what is gathered, if anything, to `inner` in one call.
    unsafe fn write_out(&mut self, inner: *mut ffi::sqlite3_file) -> c_int {
        self.commit_frame = false;
        if self.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        // At most GATHER_LIMIT, so within c_int.
        let len = self.bytes.len() as c_int;
        // SAFETY: `inner` is open; the buffer lives across the call.
        let rc = unsafe { forward_write(inner, self.bytes.as_ptr().cast(), len, self.start) };
        MADE.fetch_add(1, Ordering::Relaxed);
        // Written or failed, it is no longer ours to write: on failure SQLite rolls the
        // transaction back, and the frames it wrote are beyond the WAL's valid end.
        self.bytes.clear();
        rc
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes each file once, after its last other call.
    unsafe {
        let f = ours(file);
        let written = f.write_out();
        if !f.partner.is_null() {
            let partner = &mut *f.partner;
            if f.gathered.is_none() {
                // A database file closing before its WAL (SQLite closes the WAL first): with
                // no barrier left to write the WAL's frames out, it stops gathering.
                let _ = partner.write_out();
                partner.gathered = None;
            }
            partner.partner = ptr::null_mut();
        }
        let closed = match inner_methods(f).xClose {
            Some(close) => close(f.inner),
            None => ffi::SQLITE_OK,
        };
        ptr::drop_in_place(file.cast::<File>());
        if written != ffi::SQLITE_OK {
            written
        } else {
            closed
        }
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: SQLite passes `amount` readable bytes at `data`.
    unsafe {
        let f = ours(file);
        let inner = f.inner;
        let Some(gathered) = f.gathered.as_deref_mut() else {
            return forward_write(inner, data, amount, offset);
        };
        ASKED.fetch_add(1, Ordering::Relaxed);
        let len = usize::try_from(amount).unwrap_or(0);
        let end = gathered.start + gathered.bytes.len() as i64;
        let follows = !gathered.bytes.is_empty() && offset == end;
        if !gathered.bytes.is_empty() && (!follows || gathered.bytes.len() + len > GATHER_LIMIT) {
            let rc = gathered.write_out(inner);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if offset == 0 && len == WAL_HEADER {
            // The WAL starts over from its header (after a checkpoint): appends begin again.
            gathered.frontier = 0;
        }
        // A write into frames already written (a page overwritten in place, checksums
        // rewritten at commit) goes straight to the file, and so does one too large to
        // gather: its error is then the caller's, and nothing waits for the barrier.
        let rewrite = gathered.bytes.is_empty() && offset < gathered.frontier;
        gathered.frontier = gathered.frontier.max(offset + len as i64);
        if rewrite || len > GATHER_LIMIT {
            MADE.fetch_add(1, Ordering::Relaxed);
            return forward_write(inner, data, amount, offset);
        }
        if gathered.bytes.is_empty() {
            gathered.start = offset;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
        gathered.bytes.extend_from_slice(bytes);
        if gathered.commit_frame {
            // The commit's last page: the commit is complete, so it goes to the file now,
            // and a failure fails the commit.
            return gathered.write_out(inner);
        }
        // A frame header whose "database size after commit" field (bytes 4..8) is set marks
        // the last frame of a commit. Only frame headers are 24 bytes long (pages are 512 or
        // more, the WAL header 32).
        if len == FRAME_HEADER && bytes[4..8] != [0; 4] {
            gathered.commit_frame = true;
        }
        ffi::SQLITE_OK
    }
}

/// Writes to the wrapped file.
unsafe fn forward_write(
    inner: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: `inner` is open; forwarded as SQLite gave it.
    unsafe {
        match (*(*inner).pMethods).xWrite {
            Some(write) => write(inner, data, amount, offset),
            None => ffi::SQLITE_IOERR_WRITE,
        }
    }
}

/// Defines a method that writes out what is gathered, then forwards the call.
macro_rules! write_out_then_forward {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: forwarded as SQLite gave it, to the file's own inner object.
            unsafe {
                let f = ours(file);
                let rc = f.write_out();
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                match inner_methods(f).$field {
                    Some(method) => method(f.inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

/// Defines a method that only forwards the call.
macro_rules! forward {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> $ret {
            // SAFETY: forwarded as SQLite gave it, to the file's own inner object.
            unsafe {
                let f = ours(file);
                match inner_methods(f).$field {
                    Some(method) => method(f.inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

write_out_then_forward!(read, xRead, (data: *mut c_void, amount: c_int, offset: ffi::sqlite3_int64), ffi::SQLITE_IOERR_READ);
write_out_then_forward!(truncate, xTruncate, (size: ffi::sqlite3_int64), ffi::SQLITE_IOERR_TRUNCATE);
write_out_then_forward!(sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
write_out_then_forward!(file_size, xFileSize, (size: *mut ffi::sqlite3_int64), ffi::SQLITE_IOERR_FSTAT);
write_out_then_forward!(file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
forward!(lock, xLock, (level: c_int) -> c_int, ffi::SQLITE_OK);
forward!(unlock, xUnlock, (level: c_int) -> c_int, ffi::SQLITE_OK);
forward!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
forward!(sector_size, xSectorSize, () -> c_int, 4096);
forward!(device_characteristics, xDeviceCharacteristics, () -> c_int, 0);
forward!(shm_map, xShmMap, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
forward!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
forward!(shm_unmap, xShmUnmap, (delete: c_int) -> c_int, ffi::SQLITE_OK);

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: `partner` is our WAL file while it is open (cleared by its close).
    unsafe {
        let f = ours(file);
        if !f.partner.is_null() {
            let wal = &mut *f.partner;
            if wal.gathered.as_ref().is_some_and(|g| !g.bytes.is_empty()) {
                AT_BARRIER.fetch_add(1, Ordering::Relaxed);
            }
            let rc = wal.write_out();
            if rc != ffi::SQLITE_OK {
                // Readers are about to be shown frames that are not in the file, and SQLite
                // cannot be told: stop here, and let recovery keep what reached the file.
                eprintln!("ucoauth-walbuf: writing WAL frames failed (code {rc}); aborting");
                std::process::abort();
            }
        }
        if let Some(barrier) = inner_methods(f).xShmBarrier {
            barrier(f.inner);
        }
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // SAFETY: forwarded as SQLite gave it; version 3 methods exist only from version 3 on.
    unsafe {
        let f = ours(file);
        let rc = f.write_out();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let methods = inner_methods(f);
        match methods.xFetch {
            Some(fetch) if methods.iVersion >= 3 => fetch(f.inner, offset, amount, out),
            _ => {
                // "No mapping": SQLite reads the page instead.
                *out = ptr::null_mut();
                ffi::SQLITE_OK
            }
        }
    }
}

unsafe extern "C" fn unfetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    page: *mut c_void,
) -> c_int {
    // SAFETY: forwarded as SQLite gave it.
    unsafe {
        let f = ours(file);
        let methods = inner_methods(f);
        match methods.xUnfetch {
            Some(unfetch) if methods.iVersion >= 3 => unfetch(f.inner, offset, page),
            _ => ffi::SQLITE_OK,
        }
    }
}

/// Defines a VFS method that forwards to the wrapped VFS.
macro_rules! forward_vfs {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs, $($arg: $ty),*) -> $ret {
            // SAFETY: forwarded as SQLite gave it, with the wrapped VFS as its VFS.
            unsafe {
                let inner = inner_vfs(vfs);
                match (*inner).$field {
                    Some(method) => method(inner, $($arg),*),
                    None => $missing,
                }
            }
        }
    };
}

type DlSym = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

forward_vfs!(vfs_delete, xDelete, (name: *const c_char, sync_dir: c_int) -> c_int, ffi::SQLITE_IOERR_DELETE);
forward_vfs!(vfs_access, xAccess, (name: *const c_char, flags: c_int, out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_ACCESS);
forward_vfs!(vfs_full_pathname, xFullPathname, (name: *const c_char, n: c_int, out: *mut c_char) -> c_int, ffi::SQLITE_CANTOPEN);
forward_vfs!(vfs_dl_open, xDlOpen, (name: *const c_char) -> *mut c_void, ptr::null_mut());
forward_vfs!(vfs_dl_error, xDlError, (n: c_int, out: *mut c_char) -> (), ());
forward_vfs!(vfs_dl_sym, xDlSym, (handle: *mut c_void, symbol: *const c_char) -> DlSym, None);
forward_vfs!(vfs_dl_close, xDlClose, (handle: *mut c_void) -> (), ());
forward_vfs!(vfs_randomness, xRandomness, (n: c_int, out: *mut c_char) -> c_int, 0);
forward_vfs!(vfs_sleep, xSleep, (micros: c_int) -> c_int, 0);
forward_vfs!(vfs_current_time, xCurrentTime, (out: *mut f64) -> c_int, ffi::SQLITE_ERROR);
forward_vfs!(vfs_get_last_error, xGetLastError, (n: c_int, out: *mut c_char) -> c_int, 0);
forward_vfs!(vfs_current_time_int64, xCurrentTimeInt64, (out: *mut ffi::sqlite3_int64) -> c_int, ffi::SQLITE_ERROR);
