//! Files and time as the rest of the panel needs them: the workspace's one copy (the `fsx` crate) of file stamps,
//! change notifications, private directories, the clock and the host name, under the panel's name. A leaf: it imports nothing from
//! the panel, so every other module may use it without forming a circle.

pub use ::fsx::notice::notifies_every_change;
pub use ::fsx::{
    DirNotices, DirWatcher, FileStamp, create_private_dir, host_name, is_host_name, unix_now, unix_now_ms,
};
