//! What the kernel says about a process (Linux `/proc`): the memory figures
//! the end-to-end tests bound and the benchmarks print beside their peers'.

/// A process's memory from `/proc/<pid>/status`, in KiB: `field` is
/// `VmRSS` (now) or `VmHWM` (its peak so far). `None` when the process is
/// gone or the field is missing.
pub fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&status, field)
}

/// A process's peak resident memory so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    memory_kib(pid, "VmHWM")
}

/// `field`'s value in KiB in the text of a `/proc/<pid>/status`.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_at_least_the_memory_now_in_one_reading() {
        // One reading: the kernel works out both at once (two readings
        // may straddle memory freed before the peak is recorded).
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let now = status_kib(&status, "VmRSS").expect("VmRSS");
        let peak = status_kib(&status, "VmHWM").expect("VmHWM");
        assert!(now > 0 && peak >= now, "now {now} KiB, peak {peak} KiB");
        assert_eq!(status_kib(&status, "NoSuchField"), None);
        assert!(peak_rss_kib(std::process::id()).is_some());
        assert_eq!(memory_kib(u32::MAX, "VmHWM"), None);
    }
}
