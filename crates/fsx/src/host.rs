//! The machine's host name as the kernel has it, asked with `uname(2)`: one system call, no file opened, so a request
//! that compares a name with it touches no file system.

/// The host name; `None` when the kernel has none (empty) or it is not text.
pub fn host_name() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_str().ok()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Whether `name` is this machine's host name, in any case, without copying it.
pub fn is_host_name(name: &str) -> bool {
    let uname = rustix::system::uname();
    uname
        .nodename()
        .to_str()
        .is_ok_and(|own| !own.trim().is_empty() && own.trim().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same name the kernel shows under `/proc`.
    #[test]
    fn the_host_name_is_the_kernels() {
        let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned());
        if let Some(proc) = proc.ok().filter(|h| !h.is_empty()) {
            assert_eq!(host_name().as_deref(), Some(proc.as_str()));
            assert!(is_host_name(&proc) && is_host_name(&proc.to_uppercase()));
            assert!(!is_host_name(&format!("{proc}.elsewhere")) && !is_host_name(""));
        }
    }
}
