//! Files and time as the whole workspace needs them, in one leaf crate that knows nothing of the rest: atomic
//! replacement of a file (with its fault hooks), append-only journals, trusted-file reading, file stamps, change
//! notifications as a rule for trusting what was read, private directories, the clock and the machine's host name.
#![forbid(unsafe_code)]

pub mod atomic;
pub mod clock;
pub mod dir;
pub mod host;
pub mod journal;
pub mod notice;
pub mod read;
pub mod stamp;

pub use atomic::{
    FaultPoint, FsError, HookRef, Owner, WriteHooks, sync_dir, write_atomic, write_atomic_hooked, write_atomic_with,
};
pub use clock::{unix_now, unix_now_ms};
pub use dir::create_private_dir;
pub use host::{host_name, is_host_name};
pub use journal::Journal;
pub use notice::{DirNotices, DirWatcher, Seen};
pub use read::{ReadError, read_regular};
pub use stamp::FileStamp;
